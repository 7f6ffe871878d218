"""An inline style as a browser reads it, as far as whether it hides its element (and the sizes an
SVG <foreignObject> or an image takes from it)."""

import re
from collections.abc import Iterator

_IMPORTANT = re.compile(r"!\s*important\s*\Z")
#: Values valid for all properties: a declaration of one of them is valid, and so taken.
_CSS_WIDE = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})
#: The keywords `display` takes (CSS Display 3, alone or combined: `block flow`, `inline flex`).
_DISPLAY_WORDS = frozenset(
    {
        "none", "contents", "block", "inline", "run-in", "flow", "flow-root", "table", "flex", "grid",
        "ruby", "list-item", "inline-block", "inline-table", "inline-flex", "inline-grid",
        "table-row-group", "table-header-group", "table-footer-group", "table-row", "table-cell",
        "table-column-group", "table-column", "table-caption", "ruby-base", "ruby-text",
        "ruby-base-container", "ruby-text-container", "-webkit-box", "-webkit-inline-box",
    }
)  # fmt: skip
_VISIBILITY_VALUES = frozenset({"visible", "hidden", "collapse"})
#: A number, a percentage or a dimension (CSS Syntax 3's numeric tokens), unit apart.
_NUMERIC = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(%|[a-z]+)?")
#: CSS's length units (CSS Values 4): a dimension of any other unit is no length.
_LENGTH_UNITS = frozenset(
    {
        "px", "cm", "mm", "q", "in", "pt", "pc", "em", "rem", "ex", "rex", "cap", "rcap", "ch", "rch",
        "ic", "ric", "lh", "rlh", "vw", "vh", "vi", "vb", "vmin", "vmax", "svw", "svh", "svi", "svb",
        "svmin", "svmax", "lvw", "lvh", "lvi", "lvb", "lvmin", "lvmax", "dvw", "dvh", "dvi", "dvb",
        "dvmin", "dvmax", "cqw", "cqh", "cqi", "cqb", "cqmin", "cqmax",
    }
)  # fmt: skip


def style_hides(style: str) -> bool:
    """Tell whether an inline style hides its element and all it holds (`display: none`)."""
    return _declared(style).get("display") == "none"


def style_display(style: str) -> str:
    """Return the `display` an inline style sets, as a browser reads it, or "" when it sets none."""
    return _declared(style).get("display", "")


def style_visibility(style: str) -> str:
    """Return the `visibility` an inline style sets ("visible", "hidden", "collapse"), or "" when it
    sets none: unlike `display`, a child's own `visible` shows it inside a hidden parent."""
    value = _declared(style).get("visibility", "")
    return value if value in _VISIBILITY_VALUES else ""


def css_presentation(name: str, value: str) -> str:
    """Return the `display` or `visibility` an SVG presentation attribute of that name sets, as a
    browser reads it (trimmed, in any case, escapes decoded), or "": its value is a value alone,
    so one with `!important` or a `;` is none a browser takes."""
    if "!" in value or ";" in value:
        return ""
    return _declared(f"{name}:{value}").get(name, "")


def style_transparent(style: str) -> bool:
    """Tell whether an inline style makes its element and all it holds transparent (`opacity: 0`):
    a descendant's own opacity cannot show it again (opacities multiply)."""
    opacity = css_length(_declared(style).get("opacity", ""))
    return opacity is not None and opacity <= 0


def style_extent(style: str, name: str) -> str:
    """Return the `width` or `height` an inline style sets, as a browser reads it, or "" when it
    sets none (a value it does not take is none)."""
    return _declared(style).get(name, "")


def css_length(value: str) -> float | None:
    """Return the number of a CSS length, percentage or plain number (SVG's attributes take one
    without a unit), read trimmed and in any case, or None for anything else (`auto`, a word)."""
    numeric = _NUMERIC.fullmatch(value.strip(_CSS_BLANKS).lower())
    if numeric is None or numeric.group(2) not in (None, "%", *_LENGTH_UNITS):
        return None
    return float(numeric.group(1))


def _declared(style: str) -> dict[str, str]:
    """Return the `display`, `visibility`, `opacity`, `width` and `height` an inline style sets, as
    a browser reads declarations: names in any case and escapes decoded, comments ignored, a value
    it does not know skipped, the last valid one winning unless an earlier one is `!important`. A
    value a custom property gives (`var(--x)`) or a function computes (`calc()`) is known only to
    the browser: it counts as hiding (an opacity or a size of 0), and `content-visibility: hidden`
    (the element's content unshown) as `display: none`."""
    taken: dict[str, tuple[str, bool]] = {}
    for declaration in _declarations(style):
        name, colon, value = declaration.partition(":")
        name = _unescaped(name).strip(_CSS_BLANKS).lower()
        if not colon or name not in _READ:
            continue
        value = _unescaped(value).strip(_CSS_BLANKS).lower()
        important = bool(_IMPORTANT.search(value))
        value = _IMPORTANT.sub("", value).strip(_CSS_BLANKS)
        if "var(" in value or (name in _SIZES and "(" in value):
            value = _HIDING.get(name, "0")
        elif name == "content-visibility":
            name, value = ("display", "none") if value == "hidden" else (name, "")
        if not value or not _valid(name, value) or (name in taken and taken[name][1] and not important):
            continue
        taken[name] = (value, important)
    return {name: value for name, (value, _important) in taken.items()}


#: The properties read: what hides an element or its content, and the sizes that may leave none.
_READ = frozenset({"display", "visibility", "content-visibility", "opacity", "width", "height"})
#: Properties whose value is a number: one a function computes (`calc()`) only the browser knows.
_SIZES = frozenset({"opacity", "width", "height"})
#: The value that hides, for what a browser alone knows (a custom property's, a function's).
_HIDING = {"display": "none", "visibility": "hidden"}
#: CSS's own blanks: a no-break space is none, so `display:\u00a0none` is no value a browser takes.
_CSS_BLANKS = " \t\n\r\f"
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)


def _unescaped(text: str) -> str:
    """Decode CSS escapes: `\\6e` and `\\n` are both an n."""

    def one(match: re.Match) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return match.group(2)

    return _ESCAPE.sub(one, text)


def _declarations(style: str) -> Iterator[str]:
    """Yield a declaration list's declarations, split as CSS splits them: a `;` in a string, in
    brackets or escaped splits nothing, and comments outside strings are dropped."""
    current: list[str] = []
    depth, quote, at = 0, "", 0
    while at < len(style):
        char = style[at]
        if char == "\\" and at + 1 < len(style):
            current.append(style[at : at + 2])
            at += 2
            continue
        if quote:
            current.append(char)
            quote = "" if char in (quote, "\n") else quote
        elif style.startswith("/*", at):
            end = style.find("*/", at + 2)
            at = len(style) if end < 0 else end + 2
            continue
        elif char == ";" and depth == 0:
            yield "".join(current)
            current = []
        else:
            current.append(char)
            if char in "\"'":
                quote = char
            elif char in "([{":
                depth += 1
            elif char in ")]}":
                depth = max(depth - 1, 0)
        at += 1
    yield "".join(current)


def _valid(name: str, value: str) -> bool:
    if value in _CSS_WIDE:
        return True
    if name == "visibility":
        return value in _VISIBILITY_VALUES
    if name == "opacity":  # A number or a percentage, however far out of 0 to 1.
        numeric = _NUMERIC.fullmatch(value)
        return numeric is not None and numeric.group(2) in (None, "%")
    if name in _SIZES:  # A length or a percentage none of which is negative.
        number = css_length(value)
        return value == "auto" or (number is not None and number >= 0)
    words = value.split()
    return (
        bool(words)
        and all(word in _DISPLAY_WORDS for word in words)
        and ("none" not in words or len(words) == 1)
    )
