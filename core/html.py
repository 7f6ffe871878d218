"""Small repairs to HTML before a parser reads it, so that what a browser shows is what is kept;
the reading and writing itself (html_tree, html_end_point, html_serialize), shared by link
tracking and the template checks; and whether an image added as the open pixel is one a browser
loads (html_pixel_hindrance)."""

import re
import secrets
from collections.abc import Callable

import lxml.html
from selectolax.lexbor import LexborHTMLParser, LexborNode

# </body> and </html> closing tags: a browser keeps whatever follows them in the body, while
# libxml2 (lxml, inscriptis) drops it; without them every parser closes the document at its end.
# Read token by token, in one pass, so that the same text inside a comment or an attribute's value
# (`href="…?q=</body>"`) is kept: "<!-->" and "<!--->" close at once, "--!>" closes a comment, and
# a tag's quoted values are skipped whole, as a browser reads them.
_TOKENS = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"  # An unclosed comment runs to the end, as in a browser.
    r"|(?P<end></(?:body|html)\s*>)"
    r"""|<[a-z][^\s/>]*(?:"[^"]*"|'[^']*'|[^"'>])*>?""",
    re.IGNORECASE | re.DOTALL,
)


def html_end_tags_drop(html: str) -> str:
    """Return the HTML without its </body> and </html> tags, so no parser drops what comes after them."""
    return _TOKENS.sub(lambda token: "" if token.group("end") else token.group(0), html)


# An XML declaration opening a document: lxml refuses a text string that declares its encoding,
# and the declaration says nothing to a reader.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def html_xml_declaration_drop(html: str) -> str:
    """Return the HTML without the XML declaration that may open it."""
    return _XML_DECLARATION.sub("", html, count=1)


# What no reader sees as words or links: an HTML comment ("<!-->" and "--!>" close one, as
# browsers read them), a bogus comment ("<?…>", "<![CDATA[…>"), elements a browser reads as raw
# text, and everything after <plaintext>, which nothing closes. Each opener with what closes it.
_RAW_TEXT = ("style", "script", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
# A <template>'s content is parsed but never shown.
_INERT = ("template",)
_UNSHOWN: dict[str, tuple[str, ...]] = {
    "<!--": ("-->", "--!>"),
    "<?": (">",),
    "<![": (">",),
    **{f"<{name}": (f"</{name}",) for name in (*_RAW_TEXT, *_INERT)},
    "<plaintext": (),
}
# HTML's blanks (tab, line feed, form feed, return, space), not Unicode's.
HTML_BLANK = "\t\n\f\r "


class _Finder:
    """The next place of each of a few strings in a text, each looked for again only once passed:
    however many times it is asked, the text is read once per string."""

    def __init__(self, lowered: str):
        self.lowered = lowered
        self.at: dict[str, int] = {}

    def find(self, needle: str, start: int) -> int:
        at = self.at.get(needle)
        if at is None or (at != -1 and at < start):
            at = self.at[needle] = self.lowered.find(needle, start)
        return at


def _opener_at(finder: _Finder, opener: str, start: int) -> int:
    """Return where the opener next starts a comment, style or script ("<scripts>" does not)."""
    while (at := finder.find(opener, start)) != -1:
        after = finder.lowered[at + len(opener) : at + len(opener) + 1]
        if not opener[1].isalpha() or after in ("", ">", "/") or after in HTML_BLANK:
            return at
        start = at + 1
    return -1


def html_unshown_drop(shown: str) -> str:
    """Return the HTML without what no reader sees (comments, styles, scripts, templates…; see
    _UNSHOWN), in one pass, whatever it holds."""
    finder = _Finder(shown.lower())
    pieces, position = [], 0
    while live := [(at, o) for o in _UNSHOWN if (at := _opener_at(finder, o, position)) != -1]:
        start, opener = min(live)
        pieces.append(shown[position:start])
        ends = [
            (at + len(closer), closer)
            for closer in _UNSHOWN[opener]
            if (at := finder.find(closer, start + 2)) != -1
        ]
        if not ends:
            return "".join(pieces)  # Unclosed: the rest is the comment's (or the style's).
        position, closer = min(ends)
        if not closer.endswith(">"):  # "</style" ends at its ">".
            position = shown.find(">", position) + 1 or len(shown)
    pieces.append(shown[position:])
    return "".join(pieces)


# What may come before a document's first tag: blanks (a byte order mark and zero-width characters
# among them), comments, a DOCTYPE or an XML declaration, however long they are.
_PROLOGUE = re.compile(
    # A comment ends at its first "-->" ([^-]|-(?!->) never crosses one): any other reading lets
    # a run of comments split in exponentially many ways.
    # "<!-->" and "<!--->" close at once and "--!>" closes a comment, as browsers read them, so no
    # link hides behind one.
    r"(?:[\s\ufeff\u200b-\u200d\u2060]|<!---?>|<!--(?!-?>)(?:[^-]|-(?!-!?>))*--!?>|<!doctype[^>]*>|<\?[^>]*\?>)*",
    re.IGNORECASE,
)
# A whole document opens with <html>, or, the <html> start tag being optional, with <head> or
# <body>, or has a DOCTYPE: read as a fragment, it would lose its head, its body's attributes and
# its DOCTYPE (and with it, standards mode).
_DOCUMENT_TAG = re.compile(r"<(?:html|head|body)[\s/>]", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!doctype", re.IGNORECASE)


def html_document_prologue(html: str) -> str | None:
    """Return what comes before a whole document's first tag, or None when the HTML is a fragment."""
    prologue = _PROLOGUE.match(html)
    text = prologue.group(0) if prologue else ""  # It matches the empty string at least.
    if _DOCUMENT_TAG.match(html, len(text)) or _DOCTYPE.search(text):
        return text
    return None


def html_tree(html: str) -> tuple[str, lxml.html.HtmlElement, bool]:
    """Return an email's HTML read by lxml: its prologue (kept as written), its root (a fragment's
    is a made-up <div>) and whether it is a whole document.

    Raise lxml.etree.ParserError when nothing follows the prologue, and ValueError when it nests
    past libxml2's limit: such HTML cannot be read whole, so no pixel or tracked link goes in.
    """
    start = html_document_prologue(html)
    whole_document = start is not None
    # What comes before <html> holds no link and goes out as written: lxml would drop its comments
    # and refuse an XML declaration naming an encoding.
    prologue = start or ""
    html = html_end_tags_drop(html[len(prologue) :])
    # huge_tree: libxml2 otherwise stops at 256 levels of nesting and, recovering, drops the rest
    # of the email without an error. Past its own limit (2,048), the HTML is refused instead.
    parser = lxml.html.HTMLParser(huge_tree=True)
    if whole_document:
        root = lxml.html.document_fromstring(html, parser=parser)
    else:
        # As lxml's fragment_fromstring, less its closing </body></html>: libxml2 reads those as
        # text of an element the fragment leaves open (a <textarea>), and the reader would see them.
        body = lxml.html.document_fromstring(f"<html><body>{html}", parser=parser).find("body")
        root = lxml.html.Element("div")
        if body is not None:
            root.text = body.text
            root.extend(list(body))
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise ValueError("the HTML nests too deeply to be read whole")
    return prologue, root, whole_document


def html_end_point(
    root: lxml.html.HtmlElement, whole_document: bool
) -> Callable[[str], lxml.html.HtmlElement]:
    """Return a function that adds an element where an email's added parts go (the open pixel, the
    hidden trap link): at the end of its body, or before a <plaintext>, which no browser closes
    (all after its start shows as text), and before any <template> or <select> around that."""
    body = root.find("body") if whole_document else root
    container = body if body is not None else root
    plaintext = next(root.iter("plaintext"), None)
    if plaintext is not None:
        for ancestor in plaintext.iterancestors("template", "select"):
            plaintext = ancestor

    def added(tag: str) -> lxml.html.HtmlElement:
        element = lxml.html.Element(tag)
        if plaintext is None:
            container.append(element)
        else:
            plaintext.addprevious(element)
        return element

    return added


def html_serialize(prologue: str, root: lxml.html.HtmlElement, whole_document: bool) -> str:
    """Write back what html_tree read: the prologue as it was, then the document or the fragment."""
    if whole_document:
        return prologue + lxml.html.tostring(root, encoding="unicode", method="html")
    # The fragment's made-up parent is dropped again: its text, then each child with its tail.
    return (root.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode", method="html", with_tail=True) for child in root
    )


#: Elements whose content a reader's client does not show as part of the page (a <template>'s is
#: no part of the document at all, which the parser already keeps apart).
_NOT_SHOWN_AROUND = frozenset({"template", "select", "head"})


#: Obsolete elements whose content a browser shows as raw text: no serializer writes it back as it
#: was read (lxml escapes its "<" and "&", and a closing </plaintext> shows, as nothing closes one).
_RAW_SHOWN = ("plaintext", "xmp")


def html_pixel_hindrance(html: str) -> str:
    """Say what keeps an email's HTML from carrying the open pixel as it was written: "not_loaded"
    when an image added where link tracking adds the pixel is none a browser loads, "raw_shown"
    when it holds an element whose content a browser shows as raw text; "" when nothing does.

    libxml2 (lxml) reads some HTML otherwise than the HTML standard: a <style> inside <svg> whose
    text opens a <p> and then a <plaintext>, a frameset's document. So what link tracking would
    send is read again by lexbor (selectolax), an HTML5 parser that reads as browsers do; an image
    swallowed as text or a comment, dropped or inside a template is not there. Raise as html_tree.
    """
    prologue, root, whole_document = html_tree(html)
    raw_shown = next(root.iter(*_RAW_SHOWN), None) is not None
    # A new address each time, which no author's own image can hold: no request ever goes to it.
    mark = f"about:campanile-pixel-{secrets.token_hex(16)}"
    html_end_point(root, whole_document)("img").set("src", mark)
    document = LexborHTMLParser(html_serialize(prologue, root, whole_document))
    if not any(_shown(image) for image in document.css(f'img[src="{mark}"]')):
        return "not_loaded"
    return "raw_shown" if raw_shown else ""


def _shown(node: LexborNode) -> bool:
    """Tell whether no element around a node keeps it from showing as part of the page."""
    parent = node.parent
    while parent is not None:
        if parent.tag in _NOT_SHOWN_AROUND:
            return False
        parent = parent.parent
    return True
