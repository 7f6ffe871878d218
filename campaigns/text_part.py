"""An HTML email's text part, as its reader would read the HTML: what it shows, in its order,
each link as "[text](address)" (lxml reads the HTML, inscriptis lays the text out)."""

import re
from html import unescape as html_unescape

import lxml.html
from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from core.css import style_display, style_hides, style_visibility
from core.html import html_namespace_in
from core.html_text import html_end_tags_drop, html_unshown_drop, html_xml_declaration_drop, url_strip


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
    if root.get("hidden") is not None or _style_hidden(root):
        return ""  # A document that hides itself shows nothing.
    # Tables become blocks, a cell per line: inscriptis would lay them out as a grid, padding every
    # line to its column's widest (an email's layout table and one long cell make a text part
    # rows × widths long, of blanks), and email tables lay out a page, not data.
    for element in root.iter(*_TABLE_TAGS):
        element.tag = "div"
    # What the HTML never shows, the text part does not either (inscriptis would write it out).
    for element in root.xpath(
        "//body//template | //noembed | //noframes | //body//*[@hidden] | //body[@hidden]"
        " | //datalist | //iframe | //dialog[not(@open)] | //details[not(@open)]/*[not(self::summary)]"
        # SVG's and MathML's text a browser never lays out, and what SVG's own attributes hide.
        " | //svg//desc | //svg//title | //svg//metadata | //math//annotation | //math//annotation-xml"
        " | //svg[@display='none'] | //svg//*[@display='none'] | //svg//*[@visibility='hidden']"
    ):
        element.drop_tree()
    # A closed <details> shows its summary alone: text between its children goes too.
    for element in root.xpath("//details[not(@open)]"):
        element.text = None
        for child in element:
            child.tail = None
    # Nor what an inline style hides, read as a browser reads it (`!important`, comments, case).
    styled = root.xpath("//*[@style]")
    # The root has no parent to be dropped from: one that hides itself was answered above.
    for element in [element for element in styled if element is not root and _style_hidden(element)]:
        element.drop_tree()
    for element in [element for element in styled if _visibility_of(element) in _INVISIBLE]:
        _invisible_text_drop(element)
    for element in styled:
        if "display" in (style := element.get("style") or "").lower():
            # inscriptis reads the first `display` it finds: it is given the one a browser takes.
            element.set("style", f"display: {shown}" if (shown := style_display(style)) else "")
    namespaces: dict = {}  # Each element's, found from its parent's in one pass down the tree.
    for element in root.iter():
        namespace = namespaces[element] = _namespace(element, namespaces)
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


def _style_hidden(element) -> bool:
    """Tell whether an element's inline style hides it and all it holds: `display: none`, or a
    hidden `visibility` none of its descendants shows again."""
    if style_hides(element.get("style") or ""):
        return True
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


# A text part made from HTML keeps each link's address, as "[text](address)": a reader of the text
# part must be able to follow it. Blocks as a browser lays them out (inscriptis's strict profile):
# its relaxed one indents every nested <div> by two more spaces, and emails nest many.
_TEXT_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
