"""The links a template's author wrote: the only ones tracking sends through the click redirect.

Read from the template's source, not from the email: there, a contact's data (a name, an
attribute, an `href` added through an unquoted attribute) looks like any link, and a tracked one
would make the sender's domain redirect wherever that data says.
"""

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import lxml.html
from django.template.base import Lexer, TokenType
from lxml import etree

from core.html import html_xml_declaration_drop

# Punctuation right after an address in running text belongs to the sentence ("see https://x.").
TRAILING = ".,;:!?)]}'"

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

    def covers(self, url: str) -> bool:
        """Tell whether the author wrote this address, whole or by its start."""
        url = url.strip()
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


def _written_links(addresses: Iterable[str]) -> WrittenLinks:
    exact: set[str] = set()
    prefixes: set[str] = set()
    for written in addresses:
        address = written.strip()
        code = _TEMPLATE_CODE.search(address)
        if code is None:
            exact |= {address, address.rstrip(TRAILING)}  # "see https://x.example/." in text
        elif _START_WITH_HOST.match(start := address[: code.start()]):
            prefixes.add(start.lower())
    return WrittenLinks(exact=frozenset(exact), prefixes=tuple(sorted(prefixes)))


@functools.lru_cache(maxsize=64)
def html_written_links(source: str) -> WrittenLinks:
    """Return the links a template's HTML writes: the `href`s of its `<a>` and `<area>` elements.

    Read by lxml as the email's HTML is, so entities (`&amp;`, a bare `&region`) mean the same on
    both sides, and what sits in an HTML comment, a style, a script or another attribute counts
    for nothing.
    """
    shown = html_xml_declaration_drop(_source_shown(source))
    if not shown.strip():
        return WrittenLinks()
    try:
        root = lxml.html.document_fromstring(shown, parser=lxml.html.HTMLParser(huge_tree=True))
    except (etree.ParserError, ValueError):
        return WrittenLinks()
    return _written_links(href for element in root.iter("a", "area") if (href := element.get("href")))


@functools.lru_cache(maxsize=64)
def text_written_links(source: str) -> WrittenLinks:
    """Return the links a template's text source writes out."""
    return _written_links(match.group(0) for match in _TEXT_URL.finditer(_source_shown(source)))
