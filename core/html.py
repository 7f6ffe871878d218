"""An email's HTML as a browser reads it (html_read, html_end_point, html_write: lexbor, an HTML5
parser), shared by link tracking and the template checks, and whether the open pixel is one a
browser loads (html_pixel_hindrance). What it shows a reader (html_link_shown, kept importable here)
is core.html_shown; HTML read as text, in one pass, is core.html_text."""

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape as html_escape
from typing import cast

from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode

from core.html_shown import html_link_shown as html_link_shown  # Read here by the template checks.
from core.html_text import HTML_BLANK, HTML_TOKENS

# What may come before a document's first tag: blanks (a byte order mark and zero-width characters
# among them), comments, a DOCTYPE or an XML declaration, however long they are.
_PROLOGUE = re.compile(
    # A comment ends at its first "-->" ([^-]|-(?!->) never crosses one): any other reading lets
    # a run of comments split in exponentially many ways.
    # "<!-->" and "<!--->" close at once and "--!>" closes a comment, as browsers read them, so no
    # link hides behind one.
    # A bogus comment ("<?xml …>", "<!x>", "</ x>") ends at its first ">", as browsers read it.
    r"(?:[\s\ufeff\u200b-\u200d\u2060]|<!---?>|<!--(?!-?>)(?:[^-]|-(?!-!?>))*--!?>|<!doctype[^>]*>"
    r"|<\?[^>]*>|<!(?!--)[^>]*>|</(?![a-z])[^>]*>)*",
    re.IGNORECASE,
)
# A whole document has an <html>, <head> or <body> tag, wherever it is (after a <meta>, say: all
# three start tags are optional), or a DOCTYPE: read as a fragment, it would lose its head, its
# body's attributes and its DOCTYPE (and with it, standards mode). One named in a comment or an
# attribute's value makes a whole document of a fragment, which a reader's client reads the same.
_DOCUMENT_TAG = re.compile(r"<(?:html|head|body)[\s/>]", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!doctype[^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class HtmlDocument:
    """An email's HTML as a reader's client reads it: a document, read by an HTML5 parser (lexbor),
    to change and write back. Its prologue (blanks, comments, a DOCTYPE) is kept as written, and a
    fragment (no <html>, <head> or <body> tag, no DOCTYPE) is written back as a fragment."""

    prologue: str
    parser: LexborHTMLParser
    whole: bool

    def elements(self, *tags: str) -> Iterator[LexborNode]:
        """Yield the elements of these names, SVG's and MathML's too, in document order (a
        <template>'s content is no part of the document, as in a browser)."""
        root = cast(LexborNode, self.parser.root)  # Every document has its <html>.
        yield from (node for node in root.traverse() if node.tag in tags)


def html_read(html: str) -> HtmlDocument:
    """Read an email's HTML as a reader's client does: as a document, in the mode its DOCTYPE sets
    (none: quirks mode, where a <table> does not close a <p>), a fragment too.

    Raise ValueError when nothing follows the prologue, when nothing of it is part of a page (a
    frameset), or when it holds a <plaintext>, after which nothing can be added: all after one's
    start shows as text, and no writer writes back what follows it (what a table held before it).
    """
    prologue = cast(re.Match, _PROLOGUE.match(html)).group(0)  # It matches the empty string at least.
    if not html[len(prologue) :].strip():
        raise ValueError("nothing follows its prologue")
    # Only the DOCTYPE of the prologue is read, for the mode it sets; the rest goes out as
    # written, and no blank of it (a zero-width space) is read twice as text. WO_EVENTS: no
    # element is copied into another (an <option> into <selectedcontent>), so what is written
    # back is what was read.
    doctype = _mode_doctype(prologue)
    read = _images_named_img(doctype + html[len(prologue) :])
    parser = LexborHTMLParser(read, options=LexborDocumentOptions.WO_EVENTS)
    whole = bool(doctype or _DOCUMENT_TAG.search(html, len(prologue)))
    document = HtmlDocument(prologue, parser, whole=whole)
    if parser.body is None:
        raise ValueError("nothing in it is part of a page")
    if next(document.elements("plaintext"), None) is not None:
        raise ValueError("it holds a <plaintext>, which nothing closes")
    if any(_SHADOW_ROOT & set(node.attributes) for node in document.elements("template")):
        # A browser shows that template's content in place of its parent's: the body's own
        # content, the pixel among it, would not be what the reader sees.
        raise ValueError("it holds a declarative shadow root, shown in place of what holds it")
    return document


#: A <template>'s attributes that make it a declarative shadow root (the second, Chrome's first).
_SHADOW_ROOT = frozenset({"shadowrootmode", "shadowroot"})


# An <image> start tag: outside SVG and MathML a browser reads it as <img>, and lexbor does too,
# except in a table outside its cells, where it drops it (selectolax 1.0), and a browser shows
# it before the table.
_IMAGE = re.compile(r"<image(?=[\s/>])", re.IGNORECASE)


def _images_named_img(html: str) -> str:
    """Return the HTML with each <image> start tag lexbor would drop written <img>, as a browser
    reads it: found by reading it once with each such tag marked, which is only done when it
    holds one. A tag in a comment or in an element's raw text (a <textarea>'s) is left as it is."""
    if not _IMAGE.search(html):
        return html  # Nearly every email: no token pass.
    starts = [token.start() for token in HTML_TOKENS.finditer(html) if _IMAGE.match(html, token.start())]
    if not starts:
        return html
    mark = f"data-image-{secrets.token_hex(8)}"  # A name no author's attribute has.

    def spliced(opener: Callable[[int], str]) -> str:
        """Return the HTML with each such tag's "<image" written as opener(its number) says."""
        parts, end = [], 0
        for number, start in enumerate(starts):
            parts += [html[end:start], opener(number)]
            end = start + len("<image")
        return "".join(parts) + html[end:]

    # Unquoted, so a mark the token pass put inside an attribute's value leaves its quotes alone.
    marked = spliced(lambda number: f"<image {mark}={number}")
    root = cast(LexborNode, LexborHTMLParser(marked, options=LexborDocumentOptions.WO_EVENTS).root)
    # Kept wherever it is written back: as an element (SVG's), as raw text (a <script>'s), as an
    # attribute's value or a comment's text (a tag the token pass took for one and lexbor did not).
    # Only a dropped tag leaves its mark nowhere.
    kept = set(re.findall(rf'{mark}="?(\d+)', root.html or ""))
    return spliced(lambda number: "<image" if str(number) in kept else "<img")


# What a browser passes over before a DOCTYPE: HTML's blanks and comments (a bogus one too), after
# a byte order mark that opens the text. Anything else (a no-break or zero-width space) is text,
# which starts the body: the DOCTYPE after it is ignored, and the page is read in quirks mode.
_BEFORE_DOCTYPE = re.compile(
    rf"\ufeff?(?:[{HTML_BLANK}]|<!---?>|<!--(?!-?>)(?:[^-]|-(?!-!?>))*--!?>"
    r"|<\?[^>]*>|<!(?!--|doctype)[^>]*>|</(?![a-z])[^>]*>)*",
    re.IGNORECASE,
)


def _mode_doctype(prologue: str) -> str:
    """Return the DOCTYPE of a prologue that a browser reads, setting the page's mode, or "": the
    first token after what it passes over (one inside a comment is no DOCTYPE)."""
    doctype = _DOCTYPE.match(prologue, cast(re.Match, _BEFORE_DOCTYPE.match(prologue)).end())
    return doctype.group(0) if doctype else ""


def html_end_point(document: HtmlDocument) -> Callable[[str], LexborNode]:
    """Return a function that adds an element where an email's added parts go (the open pixel, the
    hidden trap link): at the end of its body, as a child of it, so no element holds them."""
    parser = document.parser

    def added(tag: str) -> LexborNode:
        element = parser.create_node(tag)
        cast(LexborNode, parser.body).insert_child(element, move=True)  # html_read saw a body.
        return element

    return added


class PixelHidden(ValueError):
    """The image html_write was to see shown is none a reader's client shows."""


def html_write(document: HtmlDocument, *, shown: str | None = None) -> str:
    """Write back what html_read read: the prologue as it was, then the document, or a fragment's
    head and body (a <style> before any text goes into the head) without the tags it never had.
    With `shown`, raise PixelHidden unless an image of that address shows in what was written."""
    shape = _shape(document.parser)  # What the reader's client is to read again.
    # A parser drops a line feed right after <pre>, <textarea> or <listing>, and lexbor's writer
    # does not put one back: a second line feed written there keeps the author's first.
    for element in list(document.elements("pre", "textarea", "listing")):
        first = element.first_child
        if first is not None and first.is_text_node and (first.text_content or "").startswith("\n"):
            first.insert_before("\n")
    known: dict[int, str] = {}
    for element in list(document.elements(*_RAW_WRITTEN)):
        if _foreign(element, known):
            # lexbor writes these elements' text unescaped whatever their namespace, but in SVG
            # or MathML their text was read with its references decoded: escaped again here, or
            # "&lt;/style&gt;" a contact's data brings would be read back as markup.
            for text in [child for child in element.iter(include_text=True) if child.is_text_node]:
                text.replace_with(html_escape(text.text_content or "", quote=False))
    parser = document.parser
    root = cast(LexborNode, parser.root)
    nodes: list[LexborNode] = []
    for node in [root] if document.whole else root.iter(include_text=True):
        # A fragment's head and body are written without the tags it never had; a comment
        # between them, or after the body, is written where it was.
        nodes += node.iter(include_text=True) if node.tag in ("head", "body") else [node]
    # Comments the document holds before <html> (after a stray end tag, which ends its prologue)
    # and after </html>; its DOCTYPE is the prologue's, written as it was.
    before, after = _outside(root)
    nodes = [*before, *nodes, *after]
    body = "".join(node.html or "" for node in nodes)
    # A carriage return in the tree came from a reference (`&#13;`, as Word writes in `alt`): a
    # parser reads a written one as a line feed, so it goes back as the reference it was; so does
    # a byte order mark opening the text, which a reader's client would drop.
    body = body.replace("\r", "&#13;")
    if body.startswith("\ufeff") and not document.prologue:
        body = "&#xFEFF;" + body[1:]
    written = document.prologue + body
    # A tree can be one no writing reads back (a block a table's foster parenting put inside a
    # quirks-mode <p>, SVG's text under a MathML name): such HTML cannot go out changed.
    again = html_read(written).parser
    if _shape(again) != shape:
        raise ValueError("written back, it would read otherwise (an element where none may be)")
    other_reading = _other_reading(again)
    if other_reading:
        raise ValueError(other_reading)
    if shown is not None:
        if any(_policy_set(meta) for meta in again.css("meta")):
            raise PixelHidden("its Content-Security-Policy may keep its open pixel from loading")
        if not _image_shown(again, shown):
            # A guard, not a path: the pixel is the body's last child and the tree read again is
            # the tree written, so it shows; this keeps that so should either ever change.
            raise PixelHidden("its open pixel would not load in it")
    return written


def _other_reading(parser: LexborHTMLParser) -> str:
    """Say how some reader's client would read this tree otherwise than lexbor does, or ""."""
    if any(not node.child for node in parser.css("noscript")):
        # Read with scripts off, a <noscript> in the head or inside a <p> ends at the first tag
        # that may not be there, and what it held is read after it, shown to every reader:
        # written back, it would no longer be the <noscript>'s.
        return "a reader running scripts would read it otherwise (a <noscript> emptied by its place)"
    if any((node.html or "").lower().count("</noscript") > 1 for node in parser.css("noscript")):
        # lexbor reads as a client without scripts does; one with scripts on reads a <noscript>
        # as text up to its first "</noscript", even one in a comment or a <style> inside it:
        # what follows would then be read where the author never put it.
        return "a reader running scripts would read it otherwise (a <noscript> ended early)"
    if parser.css_first("search") is not None:
        # lexbor reads a <search> as the standard does, a block a misnested formatting end tag
        # leaves open ("<b><search>x</b> y": y goes into it); Chromium closes it there, so what
        # lexbor wrote back would hide, in a hidden <search>, what the author showed.
        return "a browser would read its <search> otherwise (a misnested tag around it)"
    if any(_INERT_HOLDING.search(node.html or "", 1) for node in parser.css("template")):
        # A <template>'s content is no part of the tree the checks here walk: one holding what a
        # reader may read otherwise (a <noscript>, a <select>, a <search>, a <template>) is not
        # tracked.
        return "its <template> holds a <noscript>, <search>, <select> or <template>, read otherwise"
    if any(node.tag not in _SELECT_HELD_BEFORE for node in _held_by_selects(parser)):
        # lexbor reads a <select> as browsers do since 2025, holding any element; a reader that
        # parses it as before drops the others, and a <textarea> or <input> in it closes it there
        # and takes in what follows (the pixel among it).
        return "an older reader would read its <select> otherwise (it holds more than options)"
    return ""


#: Elements a <template>'s content may not hold (its written HTML is searched; the tags lexbor
#: writes are lower case, and a "<" in text or an attribute is written escaped).
_INERT_HOLDING = re.compile(r"<(?:noscript|search|select|template)[\s/>]")
#: What a <select> held for every parser before 2025: other elements in it read otherwise.
_SELECT_HELD_BEFORE = frozenset({"option", "optgroup", "hr", "script", "template"})


def _held_by_selects(parser: LexborHTMLParser) -> Iterator[LexborNode]:
    """Yield the elements the document's <select>s hold, at any depth."""
    for select in parser.css("select"):
        yield from list(select.traverse())[1:]  # The first is the <select> itself.


def _policy_set(meta: LexborNode) -> bool:
    """Tell whether a <meta> sets a Content-Security-Policy, which may forbid the pixel's host."""
    return (meta.attrs.get("http-equiv") or "").strip(HTML_BLANK).lower() == "content-security-policy"


def _outside(root: LexborNode) -> tuple[list[LexborNode], list[LexborNode]]:
    """Return the document's nodes before and after its <html>, its DOCTYPE left out."""
    before: list[LexborNode] = []
    node = root.prev
    while node is not None:
        if node.tag != "-doctype":
            before.insert(0, node)
        node = node.prev
    after: list[LexborNode] = []
    node = root.next
    while node is not None:
        after.append(node)
        node = node.next
    return before, after


def _shape(parser: LexborHTMLParser) -> list[tuple[int, str, object]]:
    """Return a document's tree as a list: each node's depth, name and attributes (or text, or a
    comment), adjacent texts as one, as a reader compares two trees."""
    root = cast(LexborNode, parser.root)
    # Comments before <html> show nothing and move nothing: written, they are read as a prologue.
    _before, after = _outside(root)
    depths: dict[int, int] = {}
    shape: list[tuple[int, str, object]] = []
    for node in [*root.traverse(include_text=True), *after]:
        parent = node.parent
        depth = depths[node.mem_id] = depths.get(parent.mem_id, -1) + 1 if parent is not None else 0
        if node.is_text_node:
            text = node.text_content or ""
            if shape and shape[-1][:2] == (depth, "#text"):
                shape[-1] = (depth, "#text", cast(str, shape[-1][2]) + text)
            elif text:
                shape.append((depth, "#text", text))
        elif node.is_element_node:
            shape.append((depth, node.tag or "", tuple((k, v or "") for k, v in node.attributes.items())))
        else:
            # A comment by its place among the rest, not its depth: a fragment's comment after its
            # body is written after the body's last child, and read again inside the body.
            shape.append((-1, node.tag or "", node.html))
    return shape


#: Elements whose text lexbor writes as it is, unescaped: right for HTML's raw-text elements,
#: wrong for SVG's or MathML's elements of the same names (html_write escapes theirs).
_RAW_WRITTEN = ("style", "script", "xmp", "iframe", "noembed", "noframes", "plaintext")
#: Where SVG lets HTML in again, and where MathML does (annotation-xml too, when its encoding is
#: HTML): each only as an element of its own namespace (a <title> in MathML is MathML's). Lower
#: case: lexbor names SVG's foreignObject so, lxml foreignobject.
_SVG_INTEGRATION_POINTS = frozenset({"foreignobject", "desc", "title"})
_MATH_INTEGRATION_POINTS = frozenset({"mi", "mo", "mn", "ms", "mtext"})
#: What stays MathML's even there (the HTML standard's tree builder keeps these two).
_MATH_KEPT = frozenset({"mglyph", "malignmark"})


def _foreign(node: LexborNode, known: dict[int, str]) -> bool:
    """Tell whether an element is SVG's or MathML's, as the nearest of its ancestors says."""
    return html_namespace(node, known) != "html"


def html_namespace(node: LexborNode, known: dict[int, str] | None = None) -> str:
    """Return an element's namespace, "html", "svg" or "math", as its ancestors say. `known`
    (element's mem_id to namespace) keeps what was found for one document's elements, so asking
    for each of many deep ones walks each ancestor once, not once per element below it."""
    chain: list[LexborNode] = []
    element: LexborNode | None = node
    while element is not None and element.is_element_node and (known is None or element.mem_id not in known):
        chain.append(element)
        element = element.parent
    namespace, parent = "html", None
    if known is not None and element is not None and element.is_element_node:
        namespace = known[element.mem_id]
        parent = (element.tag or "", element.attrs.get("encoding") or "", namespace)
    for element in reversed(chain):
        namespace = html_namespace_in(element.tag or "", parent=parent)
        parent = (element.tag or "", element.attrs.get("encoding") or "", namespace)
        if known is not None:
            known[element.mem_id] = namespace
    return namespace


def html_namespace_in(tag: str, *, parent: tuple[str, str, str] | None) -> str:
    """Return the namespace, "html", "svg" or "math", of an element of that name whose parent is
    (name, encoding attribute, namespace), as any parser names them, or None at the top: an <svg>
    or <math> is its own; an integration point of theirs lets HTML in again; else the parent's."""
    if tag.lower() in ("svg", "math"):
        return tag.lower()
    if parent is None:
        return "html"
    parent_tag, encoding, namespace = parent[0].lower(), parent[1].lower(), parent[2]
    if namespace == "svg" and parent_tag in _SVG_INTEGRATION_POINTS:
        return "html"
    if namespace == "math" and parent_tag in _MATH_INTEGRATION_POINTS and tag.lower() not in _MATH_KEPT:
        return "html"
    if namespace == "math" and parent_tag == "annotation-xml" and encoding in _HTML_ENCODINGS:
        return "html"
    return namespace


#: An annotation-xml's encodings that make its content HTML.
_HTML_ENCODINGS = frozenset({"text/html", "application/xhtml+xml"})


def html_attribute_decoded(value: str) -> str:
    """Return an attribute's value as written (its quotes left out) decoded as a browser decodes
    it: "&copy" alone is "©", where "&copy=" and "&copyx" stay as they are."""
    if "&" not in value:
        return value
    quote = "'" if '"' in value else '"'  # One value never holds both: its own quote ends it.
    read = LexborHTMLParser(f"<a href={quote}{value}{quote}>", is_fragment=True).root
    return (read.attrs.get("href") if read is not None else None) or ""


#: Elements whose content a reader's client does not show as part of the page, or shows other
#: than as an image of its own (a <picture>'s <source>, a video's fallback); a <template>'s is no
#: part of the document at all, which the parser already keeps apart.
_NOT_SHOWN_AROUND = frozenset({"template", "select", "head", "picture", "video", "audio", "object", "canvas"})

#: Obsolete elements whose content a browser shows as raw text (a <plaintext> is refused by
#: html_read itself).
_RAW_SHOWN = ("plaintext", "xmp")


def html_pixel_hindrance(html: str) -> str:
    """Say what keeps an email's HTML from carrying the open pixel as it was written: "policy" when
    it sets a Content-Security-Policy, which may forbid the pixel's host; "not_loaded"
    when an image added where link tracking adds the pixel is none a browser loads, "raw_shown"
    when it holds an element whose content a browser shows as raw text; "" when nothing does.
    Raise ValueError as html_read."""
    document = html_read(html)
    if any(_policy_set(meta) for meta in document.elements("meta")):
        return "policy"
    raw_shown = next(document.elements(*_RAW_SHOWN), None) is not None
    # A new address each time, which no author's own image can hold: no request ever goes to it.
    mark = f"about:campanile-pixel-{secrets.token_hex(16)}"
    html_end_point(document)("img").attrs["src"] = mark
    try:
        html_write(document, shown=mark)
    except PixelHidden:
        return "not_loaded"
    return "raw_shown" if raw_shown else ""


def _image_shown(document: LexborHTMLParser, src: str) -> bool:
    return any(_shown(image) for image in document.css("img") if image.attrs.get("src") == src)


def _shown(node: LexborNode) -> bool:
    """Tell whether no element around a node keeps it from showing as part of the page."""
    parent = node.parent
    while parent is not None:
        if parent.tag in _NOT_SHOWN_AROUND:
            return False
        parent = parent.parent
    return True
