"""The links a template's author wrote: the only ones tracking sends through the click redirect.

Read from the template's source, not from the email: there, a contact's data (a name, an
attribute, an `href` added through an unquoted attribute) looks like any link, and a tracked one
would make the sender's domain redirect wherever that data says.
"""

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.template.base import Lexer, TokenType

from core.html import html_attribute_decoded
from core.html_text import (
    HTML_BLANK,
    html_end_tags_drop,
    html_foreign_misread_at,
    html_tag_read,
    html_unshown_drop,
    html_xml_declaration_drop,
    url_strip,
)

#: Keeps one link of the author's out of tracking: <a href="…" data-campanile-notrack> (the mark
#: goes, the link stays as written).
NO_TRACK_ATTRIBUTE = "data-campanile-notrack"

# Punctuation right after an address in running text belongs to the sentence ("see https://x."),
# full-width punctuation too; a closing bracket only when the address opened none for it
# ("https://en.wikipedia.org/wiki/Python_(language)" keeps its own).
_SENTENCE_END = ".,;:!?'。、，！？：；"
_BRACKETS = {
    ")": "(",
    "]": "[",
    "}": "{",
    "）": "（",
    "」": "「",
    "』": "『",
    "】": "【",
    "》": "《",
    "〉": "〈",
}


def sentence_trim(url: str) -> str:
    """Return an address read in running text without the punctuation its sentence put after it."""
    counts = Counter(url)  # Kept as the end moves: one pass, however many brackets close it.
    end = len(url)
    while end:
        last = url[end - 1]
        opener = _BRACKETS.get(last)
        if not (last in _SENTENCE_END or (opener and counts[opener] < counts[last])):
            break
        counts[last] -= 1
        end -= 1
    return url[:end]


# A variable or a tag of the source, reduced to a bare marker (see _source_shown).
_VARIABLE, _TAG = "{{}}", "{%%}"
_TEMPLATE_CODE = re.compile(r"\{[{%]")
_START_WITH_HOST = re.compile(r"https?://[^/?#\s]+[/?#]", re.IGNORECASE)
# An address in a text source; it runs on through the markers of template code ({{ id }}).
_TEXT_URL = re.compile(r"https?://(?:\{\{\}\}|\{%%\}|[^\s<>\"'{])+", re.IGNORECASE)


@dataclass(frozen=True)
class WrittenLinks:
    """The links a template part's author wrote.

    A whole address written out is taken as it is. One a template completes
    (`https://shop.example/sale?id={{ id }}`) is taken by its written start, when that start holds
    a host and something after it: the data then chooses a page on the author's site, never the
    site. A host written elsewhere (an image, a comment, the footer) counts for nothing.
    """

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    #: Whether the author writes NO_TRACK_ATTRIBUTE at all: one a contact's data adds (through an
    #: attribute left unquoted) to a template that never does is not the author's, and is ignored.
    no_track: bool = True

    def covers(self, url: str) -> bool:
        """Tell whether the author wrote this address, whole or by its start."""
        url = url_strip(url)
        return url in self.exact or url.lower().startswith(self.prefixes)


def _source_shown(source: str) -> str:
    """Return what of a template's source its emails can show: comments dropped, every variable
    and tag a bare marker, so an address only counts where the author wrote it out."""
    pieces: list[str] = []
    in_comment = False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            command = token.contents.split(maxsplit=1)[0] if token.contents else ""
            if command in ("comment", "endcomment"):
                in_comment = command == "comment"
            elif not in_comment:
                pieces.append(_TAG)
        elif in_comment or token.token_type == TokenType.COMMENT:
            continue
        else:
            pieces.append(_VARIABLE if token.token_type == TokenType.VAR else token.contents)
    return "".join(pieces)


def _written_links(addresses: Iterable[str], *, no_track: bool = True) -> WrittenLinks:
    exact: set[str] = set()
    prefixes: set[str] = set()
    for written in addresses:
        address = url_strip(written)
        code = _TEMPLATE_CODE.search(address)
        if code is None:
            exact |= {address, sentence_trim(address)}  # "see https://x.example/." in text
        elif _START_WITH_HOST.match(start := address[: code.start()]):
            prefixes.add(start.lower())
    return WrittenLinks(exact=frozenset(exact), prefixes=tuple(sorted(prefixes)), no_track=no_track)


# Any tag, an end tag too: its attributes are read (quoted values skipped whole), so "<a" inside
# another tag's attribute is no tag. Blanks are HTML's (tab, line feed, form feed, return, space), not
# Unicode's: "<a\u00a0href=…>" is a tag named "a\u00a0href=…", no link.
_ANY_TAG = re.compile(rf"<(/?)([A-Za-z][^{HTML_BLANK}/>]*)")


def html_hrefs(html: str) -> Iterator[str]:
    """Yield the first href of each <a> and <area> tag, decoded; in one pass, however tags go."""
    position = 0
    while match := _ANY_TAG.search(html, position):
        # An end tag's attributes are read too, and dropped: "</p <a href=…>" holds no link.
        href, position = html_tag_read(html, match.end())
        if href is not None and not match.group(1) and match.group(2).lower() in ("a", "area"):
            # Its character references as a browser reads them ("&region=" stays as it is).
            yield html_attribute_decoded(href)


def _tags_name(html: str, word: str) -> bool:
    """Tell whether a tag of the HTML (not its text) holds the word, as an attribute or in one."""
    position = 0
    while match := _ANY_TAG.search(html, position):
        _href, position = html_tag_read(html, match.end())
        if word in html[match.start() : position].lower():
            return True
    return False


@functools.lru_cache(maxsize=64)
def html_written_links(source: str) -> WrittenLinks:
    """Return the links a template's HTML writes: the `href`s of its `<a>` and `<area>` tags.

    Read as a browser reads them (entities with their ";" decoded, a bare `&region=` kept), and
    what sits in an HTML comment, a style, a script or another attribute counts for nothing. A
    hand-written reader, not lxml: libxml2 takes the square of a tag's attribute count, and this
    runs for every email a template sends.
    """
    # As the email's HTML is tracked: what follows a closing </body> or </html> is kept.
    shown = html_end_tags_drop(html_xml_declaration_drop(_source_shown(source)))
    misread = html_foreign_misread_at(shown)
    if misread != -1:
        # SVG or MathML this reader reads otherwise than a browser: what follows writes no link,
        # so none hidden there counts; those shown there go untracked.
        shown = shown[:misread]
    shown = html_unshown_drop(shown)
    # The mark counts where the author puts it on a tag: named in the email's text ("add
    # data-campanile-notrack to…"), it would let a contact's data switch tracking off.
    return _written_links(html_hrefs(shown), no_track=_tags_name(shown, NO_TRACK_ATTRIBUTE))


@functools.lru_cache(maxsize=64)
def text_written_links(source: str) -> WrittenLinks:
    """Return the links a template's text source writes out."""
    return _written_links(match.group(0) for match in _TEXT_URL.finditer(_source_shown(source)))
