"""What the text part lays out as Chromium does where inscriptis would not (campaigns.text_part): an
ordered list's numbers (its `start`, `reversed`, `type`, an item's `value`), a grid's or a flex
container's items on lines of their own, and an image's `alt` as the words of a link that has none.
Each works on lxml's tree once what the HTML hides is dropped, before inscriptis reads it."""

import re

import lxml.html
from inscriptis.model.html_document_state import HtmlDocumentState
from inscriptis.model.tag import CustomHtmlTagHandlerMapping
from inscriptis.model.tag.list_tag import li_start_handler

from core.css import style_display
from core.html_text import HTML_BLANK
from core.text import text_draws

#: The attribute an item of an ordered list is given its marker in ("3. "), read by _item_start:
#: any the HTML gave is dropped first.
_MARKER = "data-campanile-marker"
#: The elements that own the list items inside them (each resets the `list-item` counter).
_LISTS = frozenset({"ol", "ul", "menu", "dir"})
#: Chromium's counters are 32-bit: one past either end stays there.
_COUNTER_LOW, _COUNTER_HIGH = -(2**31), 2**31 - 1
#: HTML's rules for parsing integers: leading blanks (HTML's five), a sign, ASCII digits; what
#: follows is ignored (`start="4.7"` is 4).
_INTEGER = re.compile(rf"[{HTML_BLANK}]*([+-]?[0-9]+)")
_BLANKS = re.compile(f"[{HTML_BLANK}]+")
#: Roman numerals' values, largest first, each with its letters (CSS's additive `upper-roman`).
_ROMAN = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)  # fmt: skip
#: The `display` keywords that make an element a grid container (its items in one column, unless a
#: style says otherwise) or a flex one (in one row, unless…), whose children Chromium blockifies.
_GRIDS = ("grid",)
_FLEXES = ("flex", "-webkit-box", "-webkit-inline-box")


def list_items_numbered(root) -> None:
    """Give each item of an ordered list the marker Chromium draws for it: counted from the list's
    `start` (HTML's integer; else 1, or its number of items when `reversed`), down when `reversed`,
    an item's own `value` setting the count from it on, in the list's or the item's `type` ("1",
    "a", "A", "i", "I", in that case; a letter or a numeral for 0 or less, or a numeral past 3999,
    is a number)."""
    owners: dict = {}  # The list nearest around each element, found from its parent's in one pass.
    owned: dict = {}  # Each ordered list's items, in order: those of a list inside belong to that one.
    for element in root.iter():
        owner = owners.get(element.getparent())
        owners[element] = element if element.tag in _LISTS else owner
        if element.tag != "li":
            continue
        element.attrib.pop(_MARKER, None)
        if owner is not None and owner.tag == "ol":
            owned.setdefault(owner, []).append(element)
    for ordered, items in owned.items():
        reversed_ = ordered.get("reversed") is not None
        start = _integer(ordered.get("start"))
        count = (len(items) if reversed_ else 1) if start is None else start
        for item in items:
            if (value := _integer(item.get("value"))) is not None:
                count = value
            style = item.get("type") if item.get("type") in ("1", "a", "A", "i", "I") else ordered.get("type")
            item.set(_MARKER, f"{_counted(count, style or '1')}. ")
            count = min(max(count + (-1 if reversed_ else 1), _COUNTER_LOW), _COUNTER_HIGH)


def _integer(value: str | None) -> int | None:
    """Return an attribute's integer (HTML's rules), or None when it holds none Chromium takes (one
    past 32 bits is none)."""
    match = _INTEGER.match(value or "")
    if match is None:
        return None
    number = int(match.group(1))
    return number if _COUNTER_LOW <= number <= _COUNTER_HIGH else None


def _counted(count: int, style: str) -> str:
    """Return a count as a list's `type` writes it (CSS's counter styles)."""
    if style in ("a", "A") and count > 0:
        letters = ""
        while count > 0:
            count, letter = divmod(count - 1, 26)
            letters = chr(ord(style) + letter) + letters
        return letters
    if style in ("i", "I") and 0 < count < 4000:
        numeral = ""
        for value, letters in _ROMAN:
            times, count = divmod(count, value)
            numeral += letters * times
        return numeral if style == "I" else numeral.lower()
    return str(count)


def _item_start(state: HtmlDocumentState, attributes: dict) -> None:
    """Start a list item with the marker list_items_numbered gave it, else as inscriptis does."""
    marker = attributes.get(_MARKER)
    if marker is None:
        li_start_handler(state, attributes)
        return
    state.tags[-1].list_bullet = marker
    state.tags[-1].write("")


#: inscriptis's handlers, an ordered list's items given their markers.
LIST_HANDLERS = CustomHtmlTagHandlerMapping(start_tag_mapping={"li": _item_start}, end_tag_mapping={})


def layout_items_blockified(root) -> set:
    """Return the items of each grid container (inline ones too), which Chromium lays out as blocks
    in one column: its child elements, and each run of its own words, wrapped in a block here. A
    flex container's items, side by side, are kept apart by a blank: never one's words run into the
    next's (Chromium draws them touching, one word to the eye)."""
    items: set = set()
    for container in root.xpath("//*[@style]"):
        keywords = style_display(container.get("style") or "").split()
        if any(keyword.endswith(_FLEXES) for keyword in keywords):
            _flex_items_spaced(container)
            continue
        if not any(keyword.endswith(_GRIDS) for keyword in keywords):
            continue
        children = [child for child in container if isinstance(child.tag, str)]
        if text_draws(container.text or ""):
            container.insert(0, _block_of(container.text or ""))
            container.text = None
        for child in children:
            if text_draws(child.tail or ""):
                child.addnext(_block_of(child.tail or ""))
                child.tail = None
        items.update(child for child in container if isinstance(child.tag, str))
    return items


def _flex_items_spaced(container) -> None:
    """Put a blank between each of a flex container's items and the next, words or elements."""
    children = [child for child in container if isinstance(child.tag, str)]
    for index, child in enumerate(children):
        if index:
            children[index - 1].tail = f"{children[index - 1].tail or ''} "
        elif text_draws(container.text or ""):
            container.text = f"{container.text} "
        if text_draws(child.tail or ""):
            child.tail = f" {child.tail}"


def _block_of(words: str):
    block = lxml.html.Element("div")
    block.text = words
    return block


def links_worded_by_images(root) -> None:
    """Give a link that holds no words of its own its images' `alt` as words, where Chromium shows
    the images: "[Big sale](address)", not "[](address)". One whose images have none keeps none."""
    links: dict = {}  # The link nearest around each element, found from its parent's in one pass.
    worded: set = set()  # The links that hold words of their own.
    images = []
    for element in root.iter():
        parent = element.getparent()
        link = links[element] = (
            element if element.tag == "a" and element.get("href") is not None else links.get(parent)
        )
        if link is not None and isinstance(element.tag, str) and text_draws(element.text or ""):
            worded.add(link)
        if parent is not None and links.get(parent) is not None and text_draws(element.tail or ""):
            worded.add(links[parent])
        if link is not None and element.tag == "img":
            images.append((link, element))
    alts: set = set()  # The links given an image's alt so far: the next is set apart by a blank.
    for link, image in images:
        if link not in worded and (alt := _BLANKS.sub(" ", image.get("alt") or "").strip(" ")):
            image.tail = f"{' ' if link in alts else ''}{alt}{image.tail or ''}"
            alts.add(link)
