"""An inline style as a browser reads it, as far as whether it hides its element."""

import re

#: CSS comments, one left open at the end too (a browser ignores it to the end).
_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
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


def _declared(style: str) -> dict[str, str]:
    """Return the `display` and `visibility` an inline style sets, as a browser reads declarations:
    names in any case, comments ignored, a value it does not know skipped, the last valid one
    winning unless an earlier one is `!important`."""
    taken: dict[str, tuple[str, bool]] = {}
    for declaration in _COMMENT.sub("", style).split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if not colon or name not in ("display", "visibility"):
            continue
        value = value.strip().lower()
        important = bool(_IMPORTANT.search(value))
        value = _IMPORTANT.sub("", value).strip()
        if not _valid(name, value) or (name in taken and taken[name][1] and not important):
            continue
        taken[name] = (value, important)
    return {name: value for name, (value, _important) in taken.items()}


def _valid(name: str, value: str) -> bool:
    if value in _CSS_WIDE:
        return True
    if name == "visibility":
        return value in _VISIBILITY_VALUES
    words = value.split()
    return (
        bool(words)
        and all(word in _DISPLAY_WORDS for word in words)
        and ("none" not in words or len(words) == 1)
    )
