"""An inline style as a browser reads it, as far as whether it hides its element, lets no link in it be
followed or lets it draw past its box (and the sizes an SVG <foreignObject> or an image takes from it,
and whether it lays its element out as a block): tokenized as CSS Syntax 3 says and Chromium does.
Its blanks are CSS's five (a no-break space, U+3000 or U+2028 is none), its digits ASCII's, its case
ASCII's, and an escape is part of the word it is in (`inline\\20` and `inline\\a0` are no `inline`,
`\\31` is a word, no number)."""

from collections.abc import Mapping
from functools import lru_cache

from core.css_tokens import CSS_BLANKS, CssToken, css_declarations, css_lower, css_tokens, css_trimmed

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
    for name, value, _important in css_declarations(style):
        if name.startswith("overflow-clip-margin"):
            return True
        if name in _OVERFLOWS and not (
            value
            and all(
                token.kind == "ws" or (token.kind == "ident" and css_lower(token.text) in _CLIPPING)
                for token in value
            )
        ):
            return True
    return False


def css_overflow_clips(value: str) -> bool:
    """Tell whether an SVG `overflow` attribute clips its element to its box (`hidden`, `scroll`,
    `clip`, in any case, trimmed): any other value, one a browser refuses too, may not."""
    return css_lower(value).strip(CSS_BLANKS + "\r\f") in _CLIPPING


#: `overflow` and its longhands, physical and logical.
_OVERFLOWS = frozenset({"overflow", "overflow-x", "overflow-y", "overflow-inline", "overflow-block"})
#: The `overflow` values that clip what an element draws to its box (`auto` may not, on an <svg>).
_CLIPPING = frozenset({"hidden", "scroll", "clip"})


def style_transparent(style: str) -> bool:
    """Tell whether an inline style makes its element and all it holds transparent (`opacity: 0`, or a
    `filter` holding `opacity(0)`): a descendant's own opacity cannot show it again (opacities multiply)."""
    declared = _declared(style)
    opacity = css_length(declared.get("opacity", ""))
    return (opacity is not None and opacity <= 0) or declared.get("filter") == "transparent"


def style_unjudged(style: str) -> bool:
    """Tell whether an inline style may move, clip or paint away its element and all it holds in ways the
    unsubscribe check does not judge: a `transform`, `translate`, `scale` or `rotate` other than none or
    the identity, a mask, an SVG filter (`filter: url()`) or one that blurs, brightens, contrasts or
    inverts, size containment (`contain: size`,
    `strict`, `inline-size`, or a container of that type: 0×0 with no size given), a line clamp, a
    `content` other than `normal` (drawn instead of the element's own content), an
    `interactivity` other than `auto` (`inert`) or the `all` shorthand, whatever its value.
    Every declaration counts, a later one, an `!important` or one a browser refuses too: a value
    unread errs towards unjudged."""
    for name, value, _important in css_declarations(style):
        if name == "all":
            # It resets every property at once, `visibility` and `display` among them: `unset` or
            # `inherit` takes a hiding ancestor's value again, and the check reads none of that.
            return True
        words = [token for token in value if token.kind != "ws"]
        keywords = {css_lower(word.text) for word in words if word.kind == "ident"}
        if not words or (len(words) == 1 and keywords & (_CSS_WIDE | {"none"})):
            continue  # None, or what the parent sets: the parent is judged itself.
        if name in _TRANSFORMING:
            if not _identity(name, words):
                return True
        elif name in _CONTAINING:
            if keywords & _SIZE_CONTAINING:
                return True
        elif name in _FILTERS:
            if any(token.kind in ("url", "bad-url") or _function(token, "url") for token in value):
                return True
            if _filter_fades(value):
                return True
        elif name in _REPLACING:
            if keywords != {_REPLACING[name]} or len(words) > 1:
                return True
        elif name in _MASKING or name in _CLAMPING:
            return True
    return False


#: The properties that transform an element (CSS Transforms 1 and 2): they may turn it edge-on, away
#: or out of sight, and take the clicks with it.
_TRANSFORMING = frozenset({"transform", "-webkit-transform", "translate", "scale", "rotate"})
#: The filter functions that can blur, bleach or grey a link away, each with the one amount that
#: leaves it as it is (any other, or none written, counts as fading it).
_FILTER_IDENTITY = {"blur": 0.0, "brightness": 1.0, "contrast": 1.0, "invert": 0.0}
#: The properties that may contain an element's size (as if empty: 0×0 with no size given) and the
#: keywords that do (`strict` is `size layout paint style`; a `size` container contains its size).
_CONTAINING = frozenset({"contain", "container-type", "container"})
_SIZE_CONTAINING = frozenset({"size", "strict", "inline-size"})
#: `filter` and Chromium's alias of it.
_FILTERS = frozenset({"filter", "-webkit-filter"})
#: The properties that mask an element (an image whose transparent parts hide it), Chromium's own too.
_MASKING = frozenset(
    {
        "mask", "mask-image", "mask-border", "mask-border-source", "-webkit-mask", "-webkit-mask-image",
        "-webkit-mask-box-image", "-webkit-mask-box-image-source",
    }
)  # fmt: skip
#: The properties whose value other than the one given makes what an element holds unseen or
#: unclickable: `content` on an element (not a pseudo-element) draws an image or gradient instead of
#: all it holds; `interactivity: inert` makes all below take no click.
_REPLACING = {"content": "normal", "interactivity": "auto"}
#: The properties that cut a block's content after some lines (with `overflow: hidden`, or in a
#: `-webkit-box`): what lies below is never drawn.
_CLAMPING = frozenset({"line-clamp", "-webkit-line-clamp"})
#: The units of an angle, and the axes `rotate` names.
_ANGLE_UNITS = frozenset({"deg", "grad", "rad", "turn"})
_AXES = frozenset({"x", "y", "z"})


def _identity(name: str, words: list["CssToken"]) -> bool:
    """Tell whether a transforming property's value (not `none`) surely leaves its element as it is:
    a `scale` of ones (`1`, `100%`), a `rotate` of no angle (about any axis), a `translate` of zeros;
    any `transform` but `none` counts as moving it, whatever its functions."""
    if name == "scale":
        return all(
            word.kind in ("number", "percentage") and _number(word) == (100 if word.unit else 1)
            for word in words
        )
    if name == "translate":
        return all(
            _number(word) == 0 and (word.kind != "dimension" or word.unit in _LENGTH_UNITS) for word in words
        )
    if name == "rotate":
        *axis, angle = words
        return (
            all(
                word.kind == "number" or (word.kind == "ident" and css_lower(word.text) in _AXES)
                for word in axis
            )
            and _number(angle) == 0
            and (angle.kind == "number" or angle.unit in _ANGLE_UNITS)
        )
    return False


def _filter_fades(value: list["CssToken"]) -> bool:
    """Tell whether a filter list holds a blur, brightness, contrast or invert of an amount other
    than the identity: one that may make a link unreadable (`blur(40px)`, `brightness(2)`)."""
    for index, token in enumerate(value):
        if token.kind != "function" or (name := css_lower(token.text)) not in _FILTER_IDENTITY:
            continue
        argument = next((each for each in value[index + 1 :] if each.kind != "ws"), None)
        amount = _number(argument) if argument is not None else None
        if argument is None or amount is None:
            return True
        scaled = amount / 100 if argument.kind == "percentage" else amount
        if scaled != _FILTER_IDENTITY[name]:
            return True
    return False


def _number(token: "CssToken") -> float | None:
    """Return a number's, percentage's or dimension's number, or None for any other token."""
    return float(token.text) if token.kind in ("number", "percentage", "dimension") else None


def style_extent(style: str, name: str) -> str:
    """Return the `width` or `height` an inline style sets, as a browser reads it, or "" when it
    sets none (a value it does not take is none)."""
    return _declared(style).get(name, "")


def css_length(value: str) -> float | None:
    """Return the number of a CSS length, percentage or plain number (SVG's attributes take one
    without a unit), read trimmed and in any case, or None for anything else (`auto`, a word)."""
    tokens = css_trimmed(list(css_tokens(value)))
    return float(tokens[0].text) if len(tokens) == 1 and _length(tokens[0]) else None


def _length(token: "CssToken") -> bool:
    """Tell whether a token is a length, a percentage or a plain number (an escaped `%` is a unit
    none of them has)."""
    return token.kind in ("number", "percentage") or (
        token.kind == "dimension" and token.unit in _LENGTH_UNITS
    )


#: The properties read: what hides an element or its content, or keeps its links from being followed,
#: and the sizes that may leave none.
_READ = frozenset(
    {
        "display", "visibility", "content-visibility", "opacity", "width", "height", "-webkit-user-modify",
        "filter",
    }
)  # fmt: skip
#: Properties read under another name, which Chromium takes as that one's (the last one declared wins).
_ALIASES = {"-webkit-filter": "filter"}
#: Properties whose value is a number: one a function computes (`calc()`) only the browser knows.
_SIZES = frozenset({"opacity", "width", "height"})
#: The value that hides (or keeps a link from being followed), for what a browser alone knows (a
#: custom property's, a function's).
_HIDING = {
    "display": "none",
    "visibility": "hidden",
    "content-visibility": "hidden",
    "-webkit-user-modify": "read-write",
    "filter": "transparent",
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
    for declared, value, important in css_declarations(style):
        name = _ALIASES.get(declared, declared)
        if name not in _READ:
            continue
        functions = [css_lower(token.text) for token in value if token.kind == "function"]
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


def _valid(name: str, value: list["CssToken"]) -> str:
    """Return a declaration's value as keywords and numbers, or "" when the property takes no such
    value (a word or a number CSS does not know, a string, a bracket)."""
    words = [token for token in value if token.kind != "ws"]
    if not words:
        return ""
    if len(words) == 1 and words[0].kind == "ident" and css_lower(words[0].text) in _CSS_WIDE:
        return css_lower(words[0].text)
    if name == "display":
        keywords = [css_lower(word.text) for word in words if word.kind == "ident"]
        return " ".join(keywords) if len(keywords) == len(words) and _display_valid(keywords) else ""
    if name == "filter":
        return _filter_valid(value)
    if len(words) != 1:
        return ""
    word = words[0]
    if word.kind == "ident":
        keyword = css_lower(word.text)
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


#: Filter functions (Filter Effects 1) taking an amount (`[<number> | <percentage>]?`, none negative).
_FILTER_AMOUNTS = frozenset({"opacity", "brightness", "contrast", "grayscale", "invert", "saturate", "sepia"})


def _filter_valid(value: list[CssToken]) -> str:
    """Return what a `filter` declaration does: "none", "transparent" when one of its functions is
    `opacity()` of 0 (or of a value a function computes, which only the browser knows), "drawn" for
    any other list of filter functions and SVG filters (`url()`), or "" when Chromium takes no such
    value (an unknown function, a negative amount, a blur in `%`, a hue turned by a plain number).
    A `drop-shadow()`'s arguments are taken as given."""
    words = [token for token in value if token.kind != "ws"]
    if len(words) == 1 and words[0].kind == "ident" and css_lower(words[0].text) == "none":
        return "none"
    read = "drawn"
    at = 0
    while at < len(value):
        token = value[at]
        at += 1
        if token.kind in ("ws", "url"):
            continue
        if token.kind != "function":
            return ""
        arguments, at = _arguments(value, at)
        function = css_lower(token.text)
        if function == "url":
            continue
        if function == "drop-shadow":
            if not arguments:
                return ""
            continue
        if not _filter_amount_valid(function, None):
            return ""  # No filter function.
        if any(argument.kind == "function" for argument in arguments):
            # A value computed (`calc()`): only the browser knows it, and takes it for this function.
            read = "transparent" if function == "opacity" else read
            continue
        amount = arguments[0] if arguments else None
        if len(arguments) > 1 or not _filter_amount_valid(function, amount):
            return ""
        if function == "opacity" and amount and float(amount.text) == 0:
            read = "transparent"
    return read


def _filter_amount_valid(function: str, amount: CssToken | None) -> bool:
    """Tell whether Chromium takes a filter function of that name with that argument (or none): a
    number or percentage not negative for an amount, a length not negative for a blur (no `%`, a
    plain 0), an angle for a hue (a plain 0)."""
    if function not in _FILTER_AMOUNTS and function not in ("blur", "hue-rotate"):
        return False
    if amount is None:
        return True
    if amount.kind == "number" and float(amount.text) == 0:
        return True
    if function in _FILTER_AMOUNTS:
        return amount.kind in ("number", "percentage") and float(amount.text) >= 0
    if function == "blur":
        return amount.kind == "dimension" and amount.unit in _LENGTH_UNITS and float(amount.text) >= 0
    return amount.kind == "dimension" and amount.unit in _ANGLE_UNITS


def _arguments(value: list[CssToken], at: int) -> tuple[list[CssToken], int]:
    """Return a function's arguments (blanks left out), its `(` before `at`, and where it ends: at its
    `)`, or at the value's end, where CSS closes what is left open."""
    arguments: list[CssToken] = []
    depth = 1
    while at < len(value):
        token = value[at]
        at += 1
        if token.kind in ("function", "("):
            depth += 1
        elif token.kind == ")":
            depth -= 1
            if not depth:
                break
        if token.kind != "ws":
            arguments.append(token)
    return arguments, at


def _function(token: CssToken, name: str) -> bool:
    """Tell whether a token opens the function of that name."""
    return token.kind == "function" and css_lower(token.text) == name


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
