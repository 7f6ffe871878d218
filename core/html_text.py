"""HTML read as text, in one pass whatever it holds: its tokens, a tag's attributes, and what no
reader sees (comments, styles, scripts, templates), for the readers that take HTML as text (the
written links, the words of a text part made from HTML) and the repairs made before libxml2
(lxml, inscriptis) reads it."""

import re
import string
from urllib.parse import quote

# </body> and </html> closing tags: a browser keeps whatever follows them in the body, while
# libxml2 (lxml, inscriptis) drops it; without them every parser closes the document at its end.
# Read token by token, in one pass, so that the same text inside a comment or an attribute's value
# (`href="…?q=</body>"`) is kept: "<!-->" and "<!--->" close at once, "--!>" closes a comment, and
# a tag's quoted values are skipped whole, as a browser reads them.
HTML_TOKENS = re.compile(
    r"<!--(?:-?>|.*?(?:--!?>|\Z))"  # An unclosed comment runs to the end, as in a browser.
    r"|(?P<end></(?:body|html)\s*>)"
    r"""|<[a-z][^\s/>]*(?:"[^"]*"|'[^']*'|[^"'>])*>?""",
    # ASCII: a browser's tag names start with an ASCII letter, which "İ", "ſ" or the Kelvin sign
    # would match in Unicode's case folding.
    re.IGNORECASE | re.DOTALL | re.ASCII,
)


def html_end_tags_drop(html: str) -> str:
    """Return the HTML without its </body> and </html> tags, so no parser drops what comes after them."""
    return HTML_TOKENS.sub(lambda token: "" if token.group("end") else token.group(0), html)


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
    "<!": (">",),  # "<![CDATA[…>", "<!x>": not "<!--" (_opener_at).
    "</": (">",),  # "</ x>", "</>": not an end tag (_opener_at).
    **{f"<{name}": (f"</{name}",) for name in (*_RAW_TEXT, *_INERT)},
    "<plaintext": (),
}
# HTML's blanks (tab, line feed, form feed, return, space), not Unicode's.
HTML_BLANK = "\t\n\f\r "

# HTML compares its names in ASCII lower case. str.lower() changes other letters too, and "İ"
# (U+0130) into two characters: every position found in such a copy would cut the text it was
# taken from that many characters further on (a comment left open, a link cut off).
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def html_lower(text: str) -> str:
    """Return the text with its ASCII letters in lower case and nothing else changed, as HTML
    compares names: each position in it is the same character's in the text."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


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


def _name_ends(lowered: str, at: int) -> bool:
    """Tell whether a tag's name ends at `at`: a blank, "/", ">" or the text's end comes there."""
    after = lowered[at : at + 1]
    return after in ("", ">", "/") or after in HTML_BLANK


_ASCII_LETTERS = frozenset(string.ascii_lowercase)


def _opener_at(finder: _Finder, opener: str, start: int) -> int:
    """Return where the opener next starts a comment, style or script ("<scripts>" does not)."""
    while (at := finder.find(opener, start)) != -1:
        after = at + len(opener)
        if opener == "<!":
            if not finder.lowered.startswith("--", after):  # "<!--" opens a comment of its own.
                return at
        elif opener == "</":
            # "</p" is an end tag; "</é" a bogus comment, as only an ASCII letter names a tag.
            if finder.lowered[after : after + 1] not in _ASCII_LETTERS:
                return at
        elif not opener[1].isalpha() or _name_ends(finder.lowered, after):
            return at
        start = at + 1
    return -1


_BLANKS = re.compile(rf"[{HTML_BLANK}/]*")
# One attribute of a tag, as a browser reads it: a name may start with "=" and hold quotes
# (`<a =href=…>` and `<a "href=…>` have no href), a quote opens a value only after "=" (one never
# closed runs to the end), and an unquoted value runs to a blank or ">", quotes and all
# (`title=O'Brien`).
_ATTRIBUTE_SHAPE = (
    rf"""([^{HTML_BLANK}/>][^{HTML_BLANK}/>=]*+)"""
    rf"""(?:[{HTML_BLANK}]*+=[{HTML_BLANK}]*+(?:"([^"]*+)"?|'([^']*+)'?|([^{HTML_BLANK}>"'][^{HTML_BLANK}>]*+))?)?"""
)
_ATTRIBUTE = re.compile(_ATTRIBUTE_SHAPE)
# A whole start or end tag, its attributes read as above, each step possessive: a tag costs its
# length, and one the text ends inside runs to the end.
_WHOLE_TAG = re.compile(
    rf"</?[a-z][^{HTML_BLANK}/>]*+(?:[{HTML_BLANK}/]*+{_ATTRIBUTE_SHAPE})*+[{HTML_BLANK}/]*+>?"
)


#: Where a tag names its link, first found first: SVG 1.1 wrote `xlink:href`, which a browser
#: still follows where a link has no `href` (SVG 2), so both are tracked and counted as written.
LINK_ATTRIBUTES = ("href", "xlink:href")


def html_tag_read(html: str, position: int) -> tuple[str | None, int]:
    """Read a tag's attributes from `position` to its ">": return its link and where it ends.

    Its link is its first `href`, else its first `xlink:href` (LINK_ATTRIBUTES); a tag the text
    ends inside has none. Every step moves on, so a tag costs its length, whatever it holds.
    """
    found: dict[str, str] = {}
    while position < len(html):
        position = _BLANKS.match(html, position).end()  # type: ignore[union-attr]
        if html.startswith(">", position):
            return next((found[name] for name in LINK_ATTRIBUTES if name in found), None), position + 1
        attribute = _ATTRIBUTE.match(html, position)
        if attribute is None or attribute.end() == position:
            position += 1  # Nothing a name starts with: never the case, but every step moves on.
            continue
        name = html_lower(attribute.group(1))
        if name in LINK_ATTRIBUTES and name not in found:
            found[name] = next((value for value in attribute.groups()[1:] if value is not None), "")
        position = attribute.end()
    return None, position  # A tag the text ends before its ">" is none: a browser drops it.


def _closer_at(finder: _Finder, closer: str, start: int) -> int:
    """Return where the closer next ends what it closes ("</styles>" ends no style)."""
    while (at := finder.find(closer, start)) != -1:
        if not closer[-1].isalpha() or _name_ends(finder.lowered, at + len(closer)):
            return at
        start = at + 1
    return -1


# What moves a script's text between its states: a comment's start and end, and its own tags.
_SCRIPT_TOKENS = re.compile(rf"<!--|-->|</?script[{HTML_BLANK}/>]")


def _script_end(lowered: str, start: int) -> int:
    """Return where the "</script" that ends a script's text is, or -1: inside "<!--", a
    "<script" tag makes the next "</script" end that tag alone, as a browser reads it."""
    escaped = double = False
    position = start
    while found := _SCRIPT_TOKENS.search(lowered, position):
        piece, position = found.group(), found.end() - 1
        if piece == "<!--":
            escaped = True
            position = found.start() + 2  # Its own dashes may end it ("<!-->").
        elif piece == "-->":
            escaped = double = False
            position = found.end()
        elif piece.startswith("</"):
            if not double:
                return found.start()
            double = False
        elif escaped:
            double = True
    return -1


def html_unshown_drop(shown: str) -> str:
    """Return the HTML without what no reader sees (comments, styles, scripts, templates…; see
    _UNSHOWN), in one pass, whatever it holds."""
    finder = _Finder(html_lower(shown))
    pieces, position = [], 0
    while opened := _next_opener(finder, position):
        start, opener = opened
        pieces.append(shown[position:start])
        end = _unshown_end(finder, opener, start)
        if end is None:
            return "".join(pieces)  # Unclosed: the rest is the comment's (or the style's).
        position = end
    pieces.append(shown[position:])
    return "".join(pieces)


def _next_opener(finder: _Finder, position: int) -> tuple[int, str] | None:
    """Return the next opener of something unshown from a position, and where it is: never one
    inside a tag's attributes (`<a title="</ x">`, `<b title="<!--">`), which a browser reads as
    their text."""
    while True:
        live = [(at, opener) for opener in _UNSHOWN if (at := _opener_at(finder, opener, position)) != -1]
        if not live:
            return None
        at, opener = min(live)
        end = position
        for tag in _WHOLE_TAG.finditer(finder.lowered, position):
            if tag.start() >= at:
                break
            end = tag.end()
        if end <= at:
            return at, opener
        position = end  # The opener was a tag's text: look again past that tag.


def _unshown_end(finder: _Finder, opener: str, start: int) -> int | None:
    """Return where what an opener starts at `start` ends, or None when nothing closes it."""
    lowered = finder.lowered
    # An element's text starts after its tag, whose attributes may hold its closer ("<script
    # a='</script>'>"); a comment's after its opener.
    content = html_tag_read(lowered, start + len(opener))[1] if opener[1].isalpha() else start + 2
    if opener == "<script":
        at = _script_end(lowered, content)
    elif opener == "<template":
        return _template_end(finder, content)
    else:
        ends = [at for closer in _UNSHOWN[opener] if (at := _closer_at(finder, closer, content)) != -1]
        if not ends:
            return None
        at = min(ends)
        closer = next(closer for closer in _UNSHOWN[opener] if lowered.startswith(closer, at))
        if closer.endswith(">"):
            return at + len(closer)
    # An end tag ends at its ">", past whatever attributes it holds.
    return None if at == -1 else html_tag_read(lowered, at + 2)[1]


def _template_end(finder: _Finder, position: int) -> int | None:
    """Return where a <template> whose content starts at `position` ends: at the "</template"
    that closes it, past templates inside it and what they and its raw-text elements hold."""
    depth = 1
    while True:
        closer = _closer_at(finder, "</template", position)
        opened = _next_opener(finder, position)
        if opened is not None and (closer == -1 or opened[0] < closer):
            at, opener = opened
            if opener == "<template":
                depth += 1
                position = html_tag_read(finder.lowered, at + len(opener))[1]
                continue
            end = _unshown_end(finder, opener, at)
            if end is None:
                return None
            position = end
            continue
        if closer == -1:
            return None
        position = html_tag_read(finder.lowered, closer + 2)[1]
        depth -= 1
        if depth == 0:
            return position


# SVG's and MathML's tags: inside them, a browser reads a <style> or a <title> as an element that
# may hold elements and comments, and "<![CDATA[" as text up to its "]]>".
_FOREIGN_TAG = re.compile(rf"<(/?)(?:svg|math)(?=[{HTML_BLANK}/>]|$)")


def html_foreign_misread_at(html: str) -> int:
    """Return where SVG or MathML in this HTML starts to be read otherwise than a browser reads it
    by the readers that take HTML as text (the written links, a text part's words), or -1.

    Those read a <style>, <title>, <script>… as HTML's raw text and a CDATA section as a bogus
    comment. Where such an element holds no "<", both read it alike; otherwise, and for any CDATA,
    its markup could hide a link a browser shows or show one it hides. SVG and MathML are taken to
    run from their opening tag to their closing one, whatever a browser closes them at before:
    judging too much leaves links out, never lets one in.
    """
    lowered = html_lower(html)
    if _FOREIGN_TAG.search(lowered) is None:
        return -1
    finder = _Finder(lowered)
    depth = position = 0
    while True:
        opened = _next_opener(finder, position)
        depth = _foreign_depth(lowered, position, len(lowered) if opened is None else opened[0], depth)
        if opened is None:
            return -1
        start, opener = opened
        if depth and lowered.startswith("<![cdata[", start):
            return start
        name = opener[1:]
        if depth and name in _RAW_TEXT:
            content = html_tag_read(lowered, start + len(opener))[1]
            closer = (
                _script_end(lowered, content)
                if name == "script"
                else _closer_at(finder, f"</{name}", content)
            )
            if "<" in lowered[content : len(lowered) if closer == -1 else closer]:
                return start
        end = _unshown_end(finder, opener, start)
        if end is None:
            return -1
        position = end


def _foreign_depth(lowered: str, start: int, stop: int, depth: int) -> int:
    """Return how deep in SVG or MathML the text is at `stop`, from `depth` at `start`: each tag
    between is read once, whole, so an <svg> in another's attribute value is none."""
    for tag in _WHOLE_TAG.finditer(lowered, start, stop):
        name = _FOREIGN_TAG.match(tag.group())
        if name is None:
            continue
        if name.group(1):
            depth = max(depth - 1, 0)
        elif not tag.group().endswith("/>"):  # <svg/> closes itself.
            depth += 1
    return depth


# What a browser strips from both ends of an address it follows: C0 controls and the space (the URL
# standard), not other Unicode blanks, which stay part of the address (U+00A0, U+2003…).
_URL_ENDS = "".join(map(chr, range(0x21)))


_URL_BREAKS = re.compile("[\t\n\r]")


#: A web address's scheme: in http(s) the URL standard reads a backslash as a slash.
_WEB_SCHEME = re.compile(r"https?:", re.IGNORECASE | re.ASCII)


def url_strip(url: str) -> str:
    """Return the address a browser follows for this written one: its ends' controls and spaces
    gone, and every tab and line break (the URL standard removes them wherever they are, so a
    long href wrapped over two lines is followed whole); in a web address, a backslash before
    its query or fragment is the slash a browser reads it as (`https://shop.example\\@x.example/`
    leads to shop.example, where Python's and Django's readers would see a user name and x.example)."""
    url = _URL_BREAKS.sub("", url.strip(_URL_ENDS))
    if (scheme := _WEB_SCHEME.match(url)) is None:
        return url
    if "\\" in url:
        ends = [at for at in (url.find("?"), url.find("#")) if at >= 0]
        cut = min(ends, default=len(url))
        url = url[:cut].replace("\\", "/") + url[cut:]
    # However many slashes follow the scheme (none, one, three), the host comes next: "https:x"
    # and "https:/x" lead where "https://x" does.
    rest = url[scheme.end() :]
    return (
        url
        if rest.startswith("//") and not rest.startswith("///")
        else f"{scheme.group()}//{rest.lstrip('/')}"
    )


# What a browser percent-encodes wherever it is in a web address it follows: the URL standard's C0
# control set (controls, and all past "~": DEL and every non-ASCII character, as UTF-8) with the
# space, '"', "<" and ">" each part's own set adds. Whatever else a part's set holds (a backtick
# in a fragment, "{" in a path) the browser encodes as it reads the address, and what none holds
# (`{ } | ^ \` and a backtick in a query) it requests as written.
_URL_ENCODED = re.compile(r'[\x00-\x20"<>\x7f-\U0010ffff]+')


def url_percent_encode(url: str) -> str:
    """Return the address in ASCII, leading a browser where the address itself would: what it
    percent-encodes in every part encoded (_URL_ENCODED), the rest as written for it to read as it
    reads the address, a "%" too (no escape is encoded twice).

    A host written in Unicode is percent-encoded too: the URL standard decodes it before mapping
    it to ASCII by the browser's own rules (UTS 46), which Python's IDNA codec does not follow for
    every name (it reads `faß.de` as `fass.de`).
    """
    return _URL_ENCODED.sub(lambda found: quote(found.group(), safe=""), url)
