"""An HTML email's text part, as its reader would read the HTML: what it shows, in its order,
each link as "[text](address)" (lxml reads the HTML, inscriptis lays the text out)."""

import re
from html import unescape as html_unescape

import lxml.html
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement

from campaigns.text_part_layout import (
    LIST_HANDLERS,
    layout_items_blockified,
    links_worded_by_images,
    list_items_numbered,
)
from core.css import (
    css_length,
    css_presentation,
    display_block,
    style_display,
    style_extent,
    style_hides,
    style_transparent,
    style_visibility,
)
from core.html import html_namespace_in
from core.html_shown import html_details_open, html_editable
from core.html_table import TABLE_ROWS, html_integer, table_cells_collapsed
from core.html_text import (
    HTML_BLANK,
    html_end_tags_drop,
    html_unshown_drop,
    html_xml_declaration_drop,
    url_strip,
)
from core.text import text_draws


def text_part_from_html(html: str) -> str:
    """Return the text part of an HTML email, each link as "[text](address)".

    inscriptis decodes entities once more after lxml has (html.unescape on every text it writes):
    `&amp;copy=2` would become "©=2" and a link's `&region=` "®ion=". Every "&" lxml leaves is
    escaped again, so inscriptis's pass gives back exactly what lxml read.
    """
    html = html_xml_declaration_drop(html_end_tags_drop(html)).strip()
    if not html:
        return ""
    # huge_tree: libxml2 otherwise stops at 256 levels of nesting and drops the rest unsaid.
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except lxml.etree.ParserError:  # Nothing lxml takes for HTML: read as preformatted text.
        root = lxml.html.document_fromstring(f"<pre>{html}</pre>", parser=parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        # Past libxml2's 2,048 levels it drops the rest of the document unsaid: words, not a cut.
        return _text_of_markup(html)
    if root.get("hidden") is not None or root.get("popover") is not None or _style_hidden(root):
        return ""  # A document that hides itself shows nothing.
    # Which <details> an exclusive accordion keeps open, and what each <select> and <option> shows,
    # before anything is dropped: the first open <details> of a name counts, shown or not.
    _accordions_close(root)
    _options_labelled(root)
    # What a collapsed table row or column hides, while the tables are still tables.
    _collapsed_drop(root)
    # Tables become blocks, a cell per line: inscriptis would lay them out as a grid, padding every
    # line to its column's widest (an email's layout table and one long cell make a text part
    # rows × widths long, of blanks), and email tables lay out a page, not data.
    for element in root.iter(*_TABLE_TAGS):
        element.tag = "div"
    # What SVG, MathML or a closed <details> leaves out, first: which child is a <details>' first
    # <summary>, or a <switch>'s first child, is so whatever hides it.
    _unlaid_out_drop(root)
    # What the HTML never shows, the text part does not either (inscriptis would write it out): a
    # popover is shown only when a script opens it, a ruby's <rp> only where ruby is not laid out,
    # a <progress> or <meter> draws a bar, never what it holds, a <canvas>, <video> or <audio>
    # holds fallback content for browsers that draw none of them (none a reader has), and Chromium
    # draws a permission button for a <geolocation>, <usermedia>, <camera> or <microphone>, an
    # empty frame for a <fencedframe>, instead of what they hold.
    for element in root.xpath(
        "//body//template | //noembed | //noframes | //body//*[@hidden] | //body[@hidden]"
        " | //body//*[@popover] | //body[@popover] | //datalist | //iframe | //dialog[not(@open)]"
        " | //rp | //progress | //meter | //canvas | //video | //audio | //geolocation | //usermedia"
        " | //camera | //microphone | //fencedframe"
    ):
        element.drop_tree()
    # Nor what an inline style hides, read as a browser reads it (`!important`, comments, case).
    styled = root.xpath("//*[@style]")
    # The root has no parent to be dropped from: one that hides itself was answered above.
    for element in [element for element in styled if element is not root and _style_hidden(element)]:
        element.drop_tree()
    for element in [element for element in styled if _visibility_of(element) in _INVISIBLE]:
        _invisible_text_drop(element)
    # What inscriptis lays out otherwise, once all the HTML hides is gone (a hidden item takes no number).
    list_items_numbered(root)
    items = layout_items_blockified(root)
    links_worded_by_images(root)
    drawn = _drawing(root)
    namespaces: dict = {}  # Each element's, found from its parent's in one pass down the tree.
    inert: dict = {}  # Likewise: whether it is inert, or inside an inert element.
    editable: dict = {}  # Likewise: whether what it holds is editable.
    for element in root.iter():
        namespace = namespaces[element] = _namespace(element, namespaces)
        parent = element.getparent()
        inert[element] = element.get("inert") is not None or inert.get(parent, False)
        style = element.get("style") or ""
        editable[element] = isinstance(element.tag, str) and html_editable(
            element.get("contenteditable"), style, inside=editable.get(parent, False)
        )
        if "display" in style.lower():
            # inscriptis reads the first `display` it finds, and knows `block` alone: it is given
            # whether the one a browser takes lays the element out as a block.
            element.set("style", _display_laid_out(style))
        if element in items:
            element.set("style", "display: block")  # A grid's or a flex container's, blockified.
        links = [name for name in ("href", "xlink:href") if element.get(name) is not None]
        if links and (inert[element] or editable[element] or not drawn[element]):
            # No one can click a link inside an inert element (its text shows), nor an editable one
            # (a click edits it), nor one that shows nothing (no character that draws, no image):
            # its address is no link to offer.
            for name in links:
                del element.attrib[name]
        if namespace == "math" and element.get("href") is not None:
            # No browser follows a MathML element's href, nor does the HTML's tracking: no link.
            del element.attrib["href"]
        if element.get("href") is None and element.get("xlink:href") is not None and namespace == "svg":
            # SVG 1.1's link (a browser follows it where there is no href): inscriptis reads href.
            element.set("href", _NOT_XML.sub("", element.get("xlink:href") or ""))
        if (href := element.get("href")) is not None:
            # The address a browser follows, as it is tracked: a wrapped href is one address.
            # lxml takes no control character given (it read one): a browser drops them from a link.
            element.set("href", _NOT_XML.sub("", url_strip(href)))
        if element.text and "&" in element.text:
            element.text = _escaped(element.text)
        if element.tail and "&" in element.tail:
            element.tail = _escaped(element.tail)
        for name, value in element.attrib.items():
            if "&" in value:
                # A control character in an address is no part of it (a browser drops it too).
                element.set(name, _escaped(value, blank=""))
    try:
        text = Inscriptis(root, _TEXT_CONFIG).get_text()
        return "\n".join(line.rstrip() for line in text.splitlines()).strip()
    except RecursionError:  # inscriptis recurses a level a tag: past Python's stack, its words.
        return _text_of_markup(html)


_TABLE_TAGS = ("table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th")
#: `display` values that give an element the layout its name does (inscriptis's profile): one set
#: back to a browser's own, or the parent's, taken as that.
_DISPLAY_OWN = ("revert", "revert-layer", "inherit")


def _display_laid_out(style: str) -> str:
    """Return the inline style inscriptis is given for one that sets a `display`: a block's, an
    inline element's, or none (its name's), as the `display` a browser takes lays it out."""
    shown = style_display(style)
    if not shown or shown in _DISPLAY_OWN:
        return ""
    return "display: block" if display_block(shown) else "display: inline"


def _options_labelled(root) -> None:
    """Give each <select>, <option> and <optgroup> the words Chromium shows for it, and no link: a
    one-line select shows the label of its option selected last, else of its first not disabled;
    a list box (`multiple`, or a `size` over 1) shows all its options, each group's label before
    its own; an option or a group outside a select shows its label too. An option's label is its
    `label`, else its text, blanks collapsed (Chromium draws it, never the elements it holds)."""
    for select in list(root.iter("select")):
        if select.get("multiple") is not None or html_integer(select.get("size"), low=1, high=2) > 1:
            continue
        options = list(select.iter("option"))
        selected = [option for option in options if option.get("selected") is not None]
        shown = (
            selected[-1] if selected else next((one for one in options if not _option_disabled(one)), None)
        )
        for child in list(select):
            select.remove(child)
        select.text = _option_label(shown) if shown is not None else None
    for option in list(root.iter("option")):
        label = _option_label(option)
        for child in list(option):
            option.remove(child)
        option.text = label
    for group in list(root.iter("optgroup")):
        heading = lxml.html.Element("div")
        heading.text, heading.tail, group.text = group.get("label") or "", group.text, None
        group.insert(0, heading)


def _option_disabled(option) -> bool:
    """Tell whether an <option> is disabled: its own `disabled`, or its group's."""
    group = option.getparent()
    return option.get("disabled") is not None or (
        group is not None and group.tag == "optgroup" and group.get("disabled") is not None
    )


def _option_label(option) -> str:
    """Return an <option>'s label: its `label` if not empty, else its text (a script's none), its
    blanks collapsed."""
    if label := option.get("label"):
        return label
    for script in option.iter("script"):
        script.text = None
    return re.sub(f"{_BLANKS}+", " ", "".join(option.itertext())).strip(HTML_BLANK)


def _accordions_close(root) -> None:
    """Close each <details> an exclusive accordion closes (see html_details_open): a <template>'s
    are none of the document's."""
    accordions: set[str] = set()
    for details in root.xpath("//details[@open][not(ancestor::template)]"):
        if not html_details_open(details.get("name"), accordions):
            del details.attrib["open"]


def _unlaid_out_drop(root) -> None:
    """Drop what a browser never lays out of what the HTML holds, found in one pass down the tree:
    a closed <details>' children but its first <summary>, what SVG and MathML do not render (see
    _unrendered and _children_kept), and SVG's character data outside the elements that lay text
    out (its <text> and what that holds, a <foreignObject>'s HTML)."""
    dropped = []
    waiting = [(root, "html", False)]  # A stack, not recursion: nesting may run thousands deep.
    while waiting:
        element, namespace, in_text = waiting.pop()
        if _unrendered(element, namespace):
            dropped.append(element)
            continue
        kept = _children_kept(element, namespace)
        lays_text_out = kept is None and (
            namespace != "svg"
            or element.tag in _SVG_LAYS_TEXT_OUT
            or (in_text and element.tag in _SVG_TEXT_INSIDE)
        )
        if not lays_text_out:
            element.text = None
        parent = (str(element.tag), element.get("encoding") or "", namespace)
        for child in element:
            if not lays_text_out:
                child.tail = None
            if not isinstance(child.tag, str):  # A comment or a processing instruction.
                continue
            if kept is not None and not any(child is one for one in kept):
                dropped.append(child)
                continue
            child_in_text = namespace == "svg" and lays_text_out and element.tag != "foreignobject"
            waiting.append((child, html_namespace_in(str(child.tag), parent=parent), child_in_text))
    for element in dropped:
        element.drop_tree()


#: Where SVG lays character data out (lxml's names are lower case): its <text> and what a
#: <foreignObject> holds (HTML). Elsewhere in SVG it shows nothing.
_SVG_LAYS_TEXT_OUT = frozenset({"text", "foreignobject"})
#: SVG's elements that lay text out inside a <text>, and only there.
_SVG_TEXT_INSIDE = frozenset({"tspan", "textpath", "a"})
#: SVG's elements that render nothing themselves: text never laid out (a <desc>, a <title>), and
#: containers of what only a reference draws (a gradient, a mask, a <symbol> a <use> would show:
#: left out, as a reader without it sees nothing).
_SVG_UNRENDERED = frozenset(
    {
        "desc", "title", "metadata", "defs", "symbol", "mask", "clippath", "pattern", "marker",
        "lineargradient", "radialgradient", "filter",
    }
)  # fmt: skip
#: MathML's elements that show nothing: a phantom takes room, invisible; annotations are not laid out.
_MATH_UNRENDERED = frozenset({"mphantom", "annotation", "annotation-xml"})
#: SVG's conditional attributes: a reader's client may find them false (a language, an extension)
#: and render nothing, so the text part leaves out what carries one.
_SVG_CONDITIONS = ("requiredextensions", "systemlanguage")


def _unrendered(element, namespace: str) -> bool:
    """Tell whether an SVG or MathML element renders nothing of what it holds, whatever its
    children: by its name, SVG's own `display` or `visibility` attribute, a condition, a
    <foreignObject>'s size of 0 (none given: its width and height are 0), or an <svg>'s size or
    viewBox of no width or height."""
    if namespace == "math":
        return element.tag in _MATH_UNRENDERED
    if namespace != "svg":
        return False
    return (
        element.tag in _SVG_UNRENDERED
        or css_presentation("display", element.get("display") or "") == "none"
        or css_presentation("visibility", element.get("visibility") or "") in _INVISIBLE
        or any(element.get(name) is not None for name in _SVG_CONDITIONS)
        or (element.tag == "foreignobject" and not _sized(element))
        or (element.tag == "svg" and (_sized_zero(element) or _view_box_empty(element.get("viewbox") or "")))
    )


#: A viewBox as Chromium reads it: four numbers (SVG's: ASCII digits, none ending in a point),
#: apart by blanks, a comma or both; anything else is no viewBox, and the <svg> renders as usual.
_SVG_NUMBER = r"([+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_BLANKS = f"[{HTML_BLANK}]"  # SVG 2's white space is HTML's five blanks.
_VIEW_BOX = re.compile(
    f"{_BLANKS}*" + f"(?:{_BLANKS}+,?{_BLANKS}*|,{_BLANKS}*)".join([_SVG_NUMBER] * 4) + f"{_BLANKS}*"
)


def _view_box_empty(view_box: str) -> bool:
    """Tell whether a viewBox has a width or a height of 0, which disables rendering (SVG 2): a
    negative one is an error, and leaves the viewBox out, as Chromium does."""
    numbers = _VIEW_BOX.fullmatch(view_box)
    if numbers is None:
        return False
    return min(float(numbers.group(3)), float(numbers.group(4))) == 0


def _sized_zero(element) -> bool:
    """Tell whether an element's inline style or attributes give it a width or a height of 0 (an
    <svg> given none is 300 by 150 pixels)."""
    style = element.get("style") or ""
    sizes = [css_length(style_extent(style, name) or element.get(name) or "") for name in ("width", "height")]
    return any(size is not None and size <= 0 for size in sizes)


def _sized(element) -> bool:
    """Tell whether an SVG element has a width and a height above 0, as its inline style or else
    its attributes set them."""
    style = element.get("style") or ""
    for name in ("width", "height"):
        size = css_length(style_extent(style, name) or element.get(name) or "")
        if size is None or size <= 0:
            return False
    return True


def _children_kept(element, namespace: str) -> list | None:
    """Return the only child elements an element shows, or None when it shows all it holds (its
    text too): a closed <details> its first <summary>; an SVG <switch> its first child (none when a
    condition it carries is false: see _SVG_CONDITIONS); MathML's <semantics> its first; an
    <maction> its first when its `selection` names that one (Chromium shows the first whatever it
    says, others the one it names), else none."""
    if (namespace, element.tag) == ("html", "details") and element.get("open") is None:
        return [next((child for child in element if child.tag == "summary"), None)]
    if (namespace, element.tag) in (("svg", "switch"), ("math", "semantics")):
        return [next((child for child in element if isinstance(child.tag, str)), None)]
    if (namespace, element.tag) == ("math", "maction"):
        first = next((child for child in element if isinstance(child.tag, str)), None)
        return [first if (element.get("selection") or "1").strip() == "1" else None]
    return None


def _drawing(root) -> dict:
    """Return, for each element, whether it holds something that draws: a character that does, or
    an image with an address. Found from its children's, in one pass up the tree."""
    drawn: dict = {}
    for element in reversed(list(root.iter())):
        drawn[element] = isinstance(element.tag, str) and (  # A comment's text draws nothing.
            (element.tag == "img" and bool((element.get("src") or "").strip()))
            or element.tag == "image"
            or text_draws(element.text or "")
            or any(drawn.get(child) or text_draws(child.tail or "") for child in element)
        )
    return drawn


# For HTML nested past what a parser reads whole: any tag (what shows no words is dropped first,
# by core.html), in time in line with the HTML's length.
_ANY_TAG = re.compile(r"<[^<>]*>")


def _text_of_markup(html: str) -> str:
    """Return the words of HTML no parser reads whole, and no link's address: read as text, what
    the HTML hides (an attribute, a style) cannot be told apart, so no hidden link is offered."""
    text = html_unshown_drop(html)
    return " ".join(html_unescape(_ANY_TAG.sub(" ", text)).split())


_INVISIBLE = ("hidden", "collapse")


def _visibility_of(element) -> str:
    return style_visibility(element.get("style") or "")


def _collapsed_drop(root) -> None:
    """Drop the table rows and row groups whose `visibility` is `collapse` (their own or inherited):
    they take no room, so a cell inside shows nothing, even one `visible` of its own; and the
    cells a collapsed column hides (see table_cells_collapsed). Found in one pass down the tree."""
    collapsed: dict = {}  # By element: whether its visibility is `collapse`, from its parent's.
    dropped = []
    for element in root.iter():
        if not isinstance(element.tag, str):  # A comment or a processing instruction.
            continue
        own = _visibility_of(element) if element.get("style") is not None else ""
        collapsed[element] = own == "collapse" if own else collapsed.get(element.getparent(), False)
        if collapsed[element] and element.tag in TABLE_ROWS:
            dropped.append(element)
        elif element.tag == "table":
            dropped += table_cells_collapsed(element, children=_children, tag=_tag, attribute=_attribute)
    for element in dropped:
        element.drop_tree()


def _children(element) -> list:
    return [child for child in element if isinstance(child.tag, str)]


def _tag(element) -> str:
    return str(element.tag)


def _attribute(element, name: str) -> str | None:
    return element.get(name)


def _style_hidden(element) -> bool:
    """Tell whether an element's inline style hides it and all it holds (see style_hides), or a
    hidden `visibility` none of its descendants shows again."""
    if style_hides(element.get("style") or "") or style_transparent(element.get("style") or ""):
        return True  # Nothing below a transparent element shows again, whatever its own opacity.
    if _visibility_of(element) not in _INVISIBLE:
        return False
    return not any(_visibility_of(inner) == "visible" for inner in element.iterdescendants())


def _invisible_text_drop(element) -> None:
    """Drop the text an invisible element holds, keeping what a descendant shows again."""
    waiting = [(element, True)]  # A stack, not recursion: nesting may run thousands deep.
    while waiting:
        current, hidden = waiting.pop()
        own = _visibility_of(current)
        hidden = own in _INVISIBLE if own else hidden
        if hidden:
            current.text = None
        for child in current:
            if hidden:
                child.tail = None
            waiting.append((child, hidden))


def _namespace(element, namespaces: dict) -> str:
    """Return the namespace of an element lxml read, as a browser reads it (lxml keeps none), from
    its parent's, found before it."""
    parent = element.getparent()
    if parent is None or parent not in namespaces:
        return html_namespace_in(str(element.tag), parent=None)
    return html_namespace_in(
        str(element.tag), parent=(str(parent.tag), parent.get("encoding") or "", namespaces[parent])
    )


# Control characters lxml reads in HTML but refuses to be given (a vertical tab pasted from Word):
# in text they are blanks, as inscriptis writes them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escaped(value: str, *, blank: str = " ") -> str:
    return _NOT_XML.sub(blank, value).replace("&", "&amp;")


#: The elements Chromium lays out as blocks that inscriptis's strict profile does not know (it would
#: run their words into their neighbours'): an <hr> is a line of its own, an <option> or an
#: <optgroup> (a list box's, or outside a <select>) one line each.
_BLOCKS = (
    "center", "hr", "section", "dl", "dt", "dd", "form", "fieldset", "legend", "details", "summary",
    "dialog", "search", "menu", "dir", "optgroup", "option",
)  # fmt: skip
#: A <select> is a control in the line, apart from the words around it.
_SELECT = HtmlElement(prefix=" ", suffix=" ", limit_whitespace_affixes=True)
# A text part made from HTML keeps each link's address, as "[text](address)": a reader of the text
# part must be able to follow it. Blocks as a browser lays them out (inscriptis's strict profile):
# its relaxed one indents every nested <div> by two more spaces, and emails nest many.
_TEXT_CONFIG = ParserConfig(
    css={
        **CSS_PROFILES["strict"],
        **{tag: HtmlElement(display=Display.block) for tag in _BLOCKS},
        "select": _SELECT,
    },
    display_links=True,
    custom_html_tag_handler_mapping=LIST_HANDLERS,
)
