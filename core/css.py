"""An inline style as a browser reads it, as far as whether it hides its element, lets no link in it be
followed or lets it draw past its box (and the sizes an SVG <foreignObject> or an image takes from it,
and whether it lays its element out as a block): tokenized as CSS Syntax 3 says and Chromium does.
Its blanks are CSS's five (a no-break space, U+3000 or U+2028 is none), its digits ASCII's, its case
ASCII's, and an escape is part of the word it is in (`inline\\20` and `inline\\a0` are no `inline`,
`\\31` is a word, no number)."""

import re
import string
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import NamedTuple

#: Values valid for all properties: a declaration of one of them is valid, and so taken.
_CSS_WIDE = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})
#: The `display` keywords that stand alone (Chromium's: it takes no `run-in` nor `ruby-base`).
_DISPLAY_ALONE = frozenset(
    {
        "none", "contents", "inline-block", "inline-table", "inline-flex", "inline-grid",
        "table-row-group", "table-header-group", "table-footer-group", "table-row", "table-cell",
        "table-column-group", "table-column", "table-caption", "ruby-text", "-webkit-box",
        "-webkit-inline-box", "-webkit-flex", "-webkit-inline-flex",
    }
)  # fmt: skip
#: `display`'s outside and inside keywords, one of each at most, in any order (`inline flex`), with
#: `list-item` beside an inside of `flow` or `flow-root` only (CSS Display 3, as Chromium takes it).
_DISPLAY_OUTSIDE = frozenset({"block", "inline"})
_DISPLAY_INSIDE = frozenset({"flow", "flow-root", "table", "flex", "grid", "ruby", "math"})
_VISIBILITY_VALUES = frozenset({"visible", "hidden", "collapse"})
#: `display` values that draw nothing of the element nor of what it holds: a table's columns and
#: column groups are laid out as the table's grid, never as boxes of their own.
_DISPLAY_HIDING = frozenset({"none", "table-column", "table-column-group"})
#: The single `display` keywords that lay an element out inline, among others (CSS Display 3: an
#: inside keyword alone is a block's, but `ruby` and `math`, which are inline).
_DISPLAY_INLINE = frozenset(
    {"inline", "contents", "ruby", "math", "ruby-text", "-webkit-inline-box", "-webkit-inline-flex"}
)
#: `-webkit-user-modify`'s values (Chromium's, which its `contenteditable` sets), each telling whether
#: the element's content is editable.
_USER_MODIFY = {"read-only": False, "read-write": True, "read-write-plaintext-only": True}
_CONTENT_VISIBILITY_VALUES = frozenset({"visible", "auto", "hidden"})
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
    """Tell whether an inline style hides its element and all it holds (`display: none`, or a table
    column's, which is never drawn, or `content-visibility: hidden`, which shows nothing of what the
    element holds)."""
    declared = _declared(style)
    return declared.get("display") in _DISPLAY_HIDING or declared.get("content-visibility") == "hidden"


def style_display(style: str) -> str:
    """Return the `display` an inline style sets, as a browser reads it, or "" when it sets none:
    only ever keywords (lower-case letters, hyphens and spaces), whatever the style holds."""
    return _declared(style).get("display", "")


def display_block(display: str) -> bool:
    """Tell whether a `display` value (as style_display gives it) lays its element out as a block,
    on lines of its own: `block`, `flex`, `grid`, `table`, `list-item`, a table's rows and cells…,
    never an inline one (`inline-block`, `inline flex`, `ruby`) nor a CSS-wide keyword."""
    keywords = display.split()
    if len(keywords) != 1:
        return "inline" not in keywords
    keyword = keywords[0]
    return not (keyword in _DISPLAY_INLINE or keyword in _CSS_WIDE or keyword.startswith("inline-"))


def style_visibility(style: str) -> str:
    """Return the `visibility` an inline style sets ("visible", "hidden", "collapse"), or "" when it
    sets none or leaves it to the parent's (`inherit`, `unset`, `revert`): unlike `display`, a
    child's own `visible` shows it inside a hidden parent, and so does `initial`, which is `visible`."""
    value = _declared(style).get("visibility", "")
    if value == "initial":
        return "visible"
    return value if value in _VISIBILITY_VALUES else ""


def style_editable(style: str) -> bool | None:
    """Tell whether an inline style makes what its element holds editable (`-webkit-user-modify`,
    which Chromium reads as it reads `contenteditable`: a click there edits, and follows no link),
    or None when it leaves that to the element's attribute and its parent (sets none, or `inherit`,
    `unset`, `revert`: taken as the attribute's, which errs towards editable)."""
    value = _declared(style).get("-webkit-user-modify", "")
    return False if value == "initial" else _USER_MODIFY.get(value)


def css_presentation(name: str, value: str) -> str:
    """Return the `display` or `visibility` an SVG presentation attribute of that name sets, as a
    browser reads it (trimmed, in any case, escapes decoded), or "": its value is a value alone,
    so one with `!important` or a `;` is none a browser takes."""
    if "!" in value or ";" in value:
        return ""
    return _declared(f"{name}:{value}").get(name, "")


def style_displayed(style: str) -> bool:
    """Tell whether an inline style may show an element the user agent's stylesheet hides (a
    `hidden` one, a closed <dialog>, a popover): it sets a `display` other than `none`, or a
    `content-visibility` (`hidden="until-found"` hides with it), whatever the value."""
    declared = _declared(style)
    return declared.get("display", "none") != "none" or "content-visibility" in declared


def style_overflow_shown(style: str) -> bool:
    """Tell whether an inline style may let its element draw outside its box: it declares an
    `overflow` (or one of its longhands) that is not `hidden`, `scroll` or `clip` alone, or any
    `overflow-clip-margin`, which draws that far past the clip. Every declaration counts, a later
    one, an `!important` or one a browser refuses too: a value unread errs towards shown."""
    for name, value, _important in _declarations(style):
        if name.startswith("overflow-clip-margin"):
            return True
        if name in _OVERFLOWS and not (
            value
            and all(
                token.kind == "ws" or (token.kind == "ident" and _lower(token.text) in _CLIPPING)
                for token in value
            )
        ):
            return True
    return False


def css_overflow_clips(value: str) -> bool:
    """Tell whether an SVG `overflow` attribute clips its element to its box (`hidden`, `scroll`,
    `clip`, in any case, trimmed): any other value, one a browser refuses too, may not."""
    return _lower(value).strip(_BLANKS + "\r\f") in _CLIPPING


#: `overflow` and its longhands, physical and logical.
_OVERFLOWS = frozenset({"overflow", "overflow-x", "overflow-y", "overflow-inline", "overflow-block"})
#: The `overflow` values that clip what an element draws to its box (`auto` may not, on an <svg>).
_CLIPPING = frozenset({"hidden", "scroll", "clip"})


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
    tokens = _trimmed(list(_tokens(value)))
    return float(tokens[0].text) if len(tokens) == 1 and _length(tokens[0]) else None


def _length(token: "_Token") -> bool:
    """Tell whether a token is a length, a percentage or a plain number (an escaped `%` is a unit
    none of them has)."""
    return token.kind in ("number", "percentage") or (
        token.kind == "dimension" and token.unit in _LENGTH_UNITS
    )


#: The properties read: what hides an element or its content, or keeps its links from being followed,
#: and the sizes that may leave none.
_READ = frozenset(
    {"display", "visibility", "content-visibility", "opacity", "width", "height", "-webkit-user-modify"}
)
#: Properties whose value is a number: one a function computes (`calc()`) only the browser knows.
_SIZES = frozenset({"opacity", "width", "height"})
#: The value that hides (or keeps a link from being followed), for what a browser alone knows (a
#: custom property's, a function's).
_HIDING = {
    "display": "none",
    "visibility": "hidden",
    "content-visibility": "hidden",
    "-webkit-user-modify": "read-write",
}
#: Functions whose value the browser substitutes (a custom property's, an attribute's, a condition's,
#: a custom function's `--name()`): the declaration is valid whatever they stand for.
_SUBSTITUTING = frozenset({"var", "env", "attr", "if"})


def _declared(style: str) -> Mapping[str, str]:
    """Return what an inline style declares (see _declarations_read), read once for the several
    properties asked of it: most styles are short, and an email's elements repeat a few of them."""
    return _declared_short(style) if len(style) <= 1000 else _declarations_read(style)


def _declarations_read(style: str) -> Mapping[str, str]:
    """Return the properties of _READ an inline style sets, as a browser reads declarations: names in
    any (ASCII) case and escapes decoded, comments ignored, a value it does not take skipped, the
    last valid one winning unless an earlier one is `!important`. A value a custom property gives
    (`var(--x)`) or a function computes (`calc()`) is known only to the browser: it counts as hiding
    (an opacity or a size of 0, an editable element). Each value is given in keywords and numbers
    alone, lower case, escapes decoded."""
    taken: dict[str, tuple[str, bool]] = {}
    for name, value, important in _declarations(style):
        if name not in _READ:
            continue
        functions = [_lower(token.text) for token in value if token.kind == "function"]
        if any(function in _SUBSTITUTING or function.startswith("--") for function in functions):
            read = _HIDING.get(name, "0")
        elif name in _SIZES and functions:
            read = "0"
        else:
            read = _valid(name, value)
        if not read or (name in taken and taken[name][1] and not important):
            continue
        taken[name] = (read, important)
    return {name: value for name, (value, _important) in taken.items()}


_declared_short = lru_cache(maxsize=512)(_declarations_read)  # Its answers are shared: read, never changed.


def _valid(name: str, value: list["_Token"]) -> str:
    """Return a declaration's value as keywords and numbers, or "" when the property takes no such
    value (a word or a number CSS does not know, a string, a bracket)."""
    words = [token for token in value if token.kind != "ws"]
    if not words:
        return ""
    if len(words) == 1 and words[0].kind == "ident" and _lower(words[0].text) in _CSS_WIDE:
        return _lower(words[0].text)
    if name == "display":
        keywords = [_lower(word.text) for word in words if word.kind == "ident"]
        return " ".join(keywords) if len(keywords) == len(words) and _display_valid(keywords) else ""
    if len(words) != 1:
        return ""
    word = words[0]
    if word.kind == "ident":
        keyword = _lower(word.text)
        allowed = {
            "visibility": _VISIBILITY_VALUES,
            "content-visibility": _CONTENT_VISIBILITY_VALUES,
            "-webkit-user-modify": _USER_MODIFY,
        }
        return keyword if keyword in allowed.get(name, ()) or (keyword == "auto" and name in _SIZES) else ""
    if name == "opacity":  # A number or a percentage, however far out of 0 to 1.
        return word.text + word.unit if word.kind in ("number", "percentage") else ""
    # A length or a percentage none of which is negative (a plain number, as quirks mode takes it).
    return word.text + word.unit if name in _SIZES and _length(word) and float(word.text) >= 0 else ""


def _display_valid(keywords: list[str]) -> bool:
    """Tell whether keywords make a `display` value Chromium takes."""
    if len(keywords) == 1 and keywords[0] in _DISPLAY_ALONE:
        return True
    outside = [keyword for keyword in keywords if keyword in _DISPLAY_OUTSIDE]
    inside = [keyword for keyword in keywords if keyword in _DISPLAY_INSIDE]
    items = keywords.count("list-item")
    return (
        len(outside) + len(inside) + items == len(keywords)
        and len(outside) <= 1
        and len(inside) <= 1
        and items <= 1
        and (not items or all(keyword in ("flow", "flow-root") for keyword in inside))
    )


class _Token(NamedTuple):
    """A token of CSS Syntax 3: its kind (a bracket, `;`, `:` or `,` is its own character), a
    name's or a delim's text (escapes decoded) or a number's (ASCII), and a dimension's unit (lower
    case; "%" for a percentage)."""

    kind: str
    text: str = ""
    unit: str = ""


#: The token that closes the block each opens: a function's arguments end at `)`.
_CLOSER = {"(": ")", "[": "]", "{": "}", "function": ")"}


def _declarations(style: str) -> Iterator[tuple[str, list[_Token], bool]]:
    """Yield a declaration list's declarations (its name in lower case, its value's tokens trimmed
    and whether it is `!important`), split as CSS splits them: a `;` in a string, a URL, a bracket
    or a function splits nothing, an at-rule ends at its block, and what starts with no name is
    no declaration."""
    chunk: list[_Token] = []
    closers: list[str] = []
    for token in _tokens(style):
        if token.kind == ";" and not closers:
            yield from _declaration(chunk, balanced=True)
            chunk = []
            continue
        if token.kind == "ws" and not chunk:
            continue
        chunk.append(token)
        if closers and token.kind == closers[-1]:
            closers.pop()
            if not closers and token.kind == "}" and chunk[0].kind == "at-keyword":
                chunk = []  # An at-rule ends with its block: what follows is a declaration again.
        elif token.kind in _CLOSER:
            closers.append(_CLOSER[token.kind])
    yield from _declaration(chunk, balanced=not closers)


def _declaration(chunk: list[_Token], *, balanced: bool) -> Iterator[tuple[str, list[_Token], bool]]:
    """Yield the declaration a chunk of tokens makes, if it makes one: a name, a colon, a value.
    An `!important` inside a block the style leaves open at its end marks nothing."""
    colon = 1
    while colon < len(chunk) and chunk[colon].kind == "ws":
        colon += 1
    if not chunk or chunk[0].kind != "ident" or colon >= len(chunk) or chunk[colon].kind != ":":
        return
    value = _trimmed(chunk[colon + 1 :])
    important = False
    if balanced and value and value[-1].kind == "ident" and _lower(value[-1].text) == "important":
        bang = len(value) - 2
        while bang >= 0 and value[bang].kind == "ws":
            bang -= 1
        if bang >= 0 and value[bang] == ("delim", "!", ""):
            important, value = True, _trimmed(value[:bang])
    yield _lower(chunk[0].text), value, important


def _trimmed(tokens: list[_Token]) -> list[_Token]:
    """Return tokens without the blanks at their ends."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].kind == "ws":
        start += 1
    while end > start and tokens[end - 1].kind == "ws":
        end -= 1
    return tokens[start:end]


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _lower(text: str) -> str:
    """Lower an ASCII case: CSS's names are ASCII case-insensitive (a Kelvin sign is no k)."""
    return text.translate(_ASCII_LOWER)


#: CSS's input, preprocessed: CR and FF are line feeds, a NUL is U+FFFD (CR LF is replaced first).
_PREPROCESSED = str.maketrans({"\r": "\n", "\f": "\n", "\0": "\ufffd"})
#: CSS's blanks, once preprocessed (CR and FF are line feeds by then): never Unicode's others.
_BLANKS = " \t\n"
_BLANK_RUN = re.compile(r"[ \t\n]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: A run of a name's code points: ASCII letters, digits, `_`, `-` and any code point past ASCII.
_NAME_RUN = re.compile(r"[A-Za-z0-9_\-\x80-\U0010ffff]+")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]{1,6}")
#: What a string holds up to its next quote, escape or line break.
_STRING_RUN = {'"': re.compile(r'[^"\\\n]+'), "'": re.compile(r"[^'\\\n]+")}
#: What an unquoted URL may not hold (CSS Syntax 3's non-printable code points, quotes, `(`).
_NOT_IN_URL = frozenset("\"'(\x7f" + "".join(map(chr, [*range(0, 9), 11, *range(14, 32)])))


def _tokens(text: str) -> Iterator[_Token]:
    """Yield CSS's tokens of a text (CSS Syntax 3's tokenizer; comments make none)."""
    css = text.replace("\r\n", "\n").translate(_PREPROCESSED)
    at, end = 0, len(css)
    while at < end:
        char = css[at]
        if css.startswith("/*", at):
            close = css.find("*/", at + 2)
            at = end if close < 0 else close + 2
        elif char in _BLANKS:
            blanks = _BLANK_RUN.match(css, at)
            at = blanks.end() if blanks else at + 1
            yield _Token("ws")
        elif char in "\"'":
            token, at = _string(css, at + 1, char)
            yield token
        elif number := _NUMBER.match(css, at):
            at = number.end()
            if _starts_name(css, at):
                unit, at = _name(css, at)
                yield _Token("dimension", number.group(), _lower(unit))
            elif css.startswith("%", at):
                at += 1
                yield _Token("percentage", number.group(), "%")
            else:
                yield _Token("number", number.group())
        elif css.startswith("-->", at) or css.startswith("<!--", at):
            at += 3 if char == "-" else 4
            yield _Token("cdo-cdc")
        elif _starts_name(css, at):
            token, at = _ident_like(css, at)
            yield token
        elif char in "@#" and (_starts_name(css, at + 1) or (char == "#" and _NAME_RUN.match(css, at + 1))):
            name, at = _name(css, at + 1)
            yield _Token("at-keyword" if char == "@" else "hash", name)
        elif char in "()[]{};:,":
            at += 1
            yield _Token(char)
        else:
            at += 1
            yield _Token("delim", char)


def _name_start(char: str) -> bool:
    """Tell whether a code point may start a name: an ASCII letter, `_`, or any past ASCII."""
    return char == "_" or "a" <= char <= "z" or "A" <= char <= "Z" or char >= "\x80"


def _escapes(css: str, at: int) -> bool:
    """Tell whether a valid escape starts here: a backslash before anything but a line break."""
    return css.startswith("\\", at) and css[at + 1 : at + 2] != "\n"


def _starts_name(css: str, at: int) -> bool:
    """Tell whether an identifier starts here (CSS Syntax 3's check of three code points)."""
    first = css[at : at + 1]
    if first == "-":
        second = css[at + 1 : at + 2]
        return second == "-" or (second != "" and _name_start(second)) or _escapes(css, at + 1)
    return (first != "" and _name_start(first)) or _escapes(css, at)


def _name(css: str, at: int) -> tuple[str, int]:
    """Return the name that starts here, escapes decoded, and where it ends."""
    parts = []
    while True:
        if run := _NAME_RUN.match(css, at):
            parts.append(run.group())
            at = run.end()
        elif _escapes(css, at):
            decoded, at = _escaped(css, at + 1)
            parts.append(decoded)
        else:
            return "".join(parts), at


def _escaped(css: str, at: int) -> tuple[str, int]:
    """Return the code point an escape (its backslash before `at`) stands for, and where it ends:
    `\\6e ` and `\\n` are both an n; a NUL, a surrogate, a code point past Unicode's or the text's
    end is U+FFFD."""
    if at >= len(css):
        return "\ufffd", at
    if digits := _HEX_DIGITS.match(css, at):
        at = digits.end()
        if css[at : at + 1] in ("\n", "\t", " ") and at < len(css):
            at += 1  # One blank ends the escape and is part of it.
        code = int(digits.group(), 16)
        return (chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"), at
    return css[at], at + 1


def _string(css: str, at: int, quote: str) -> tuple[_Token, int]:
    """Return the string token that opened before `at`, and where it ends: a line break ends it as a
    bad string (what follows is read again), a backslash before one continues it."""
    while at < len(css):
        if run := _STRING_RUN[quote].match(css, at):
            at = run.end()
            continue
        char = css[at]
        if char == quote:
            return _Token("string"), at + 1
        if char == "\n":
            return _Token("bad-string"), at
        at = at + 2 if css[at + 1 : at + 2] == "\n" else _escaped(css, at + 1)[1]
    return _Token("string"), at


def _ident_like(css: str, at: int) -> tuple[_Token, int]:
    """Return the identifier, function or URL token that starts here, and where it ends."""
    name, at = _name(css, at)
    if not css.startswith("(", at):
        return _Token("ident", name), at
    at += 1
    if _lower(name) == "url":
        inside = at
        while inside < len(css) and css[inside] in _BLANKS:
            inside += 1
        if css[inside : inside + 1] not in ('"', "'"):
            return _url(css, inside)
    return _Token("function", name), at


def _url(css: str, at: int) -> tuple[_Token, int]:
    """Return an unquoted URL's token, its `url(` and blanks before `at`, and where it ends: one
    holding a quote, a `(`, a blank inside or a control is bad, and reaches to the next `)`."""
    while at < len(css):
        char = css[at]
        if char == ")":
            return _Token("url"), at + 1
        if char in _BLANKS:
            while at < len(css) and css[at] in _BLANKS:
                at += 1
            if at >= len(css) or css[at] == ")":
                return _Token("url"), at + 1
        elif char not in _NOT_IN_URL and (char != "\\" or _escapes(css, at)):
            at = _escaped(css, at + 1)[1] if char == "\\" else at + 1
            continue
        while at < len(css) and css[at] != ")":  # A bad URL's remnants: an escaped `)` ends none.
            at = _escaped(css, at + 1)[1] if _escapes(css, at) else at + 1
        return _Token("bad-url"), at + 1
    return _Token("url"), at
