"""A template's links that carry a recipient's token: written as the variable alone, nothing else.

A link whose address is made from the unsubscribe URL (`?u={{ unsubscribe_url|cut:'/' }}`, the URL
with more after it) is either tracked, and its address, the recipient's token in it, listed by the
campaign's stats, or dead (`{{ unsubscribe_url }}{{ contact.external_id }}`). So a link's address
that names such a variable must be that variable alone, and two renders with two different tokens
must differ in no link but one that is the whole unsubscribe URL in both (an alias: `{% with %}`,
`{% firstof %}`). Sending keeps any link holding a piece of the token untracked all the same
(delivery.links); this says so to the author, at save.
"""

import re
import secrets
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.base import Lexer, TokenType
from django.urls import reverse
from django.utils.translation import gettext

from core.html_text import url_strip
from core.written_links import html_hrefs, sentence_trim

#: The variables of an email that carry its recipient's token (delivery.sending's context).
TOKEN_VARIABLES = ("unsubscribe_url",)

_NAMES_TOKEN = re.compile(r"\b(?:" + "|".join(map(re.escape, TOKEN_VARIABLES)) + r")\b")

#: Filters that leave the address as it is (it holds no character HTML escapes).
_KEPT_BY = frozenset({"safe", "escape", "force_escape"})

#: Tags that write nothing in the email themselves, only choose or repeat what does.
_STRUCTURE_TAGS = frozenset({"if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith"})

# Each tag and variable of a source stands as a marker no text writes, without a blank or a quote.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")

# Where an address in a text part ends: a blank, a quote or a bracket ("[Leave](address)", "<address>").
_TEXT_SPLIT = re.compile(r"[\s\"'<>()\[\]]+")

# The web addresses of a rendered text part, as delivery.links reads them.
_TEXT_URL = re.compile(r"https?://(?:[^\s<>\"'\]]|\](?!\())+", re.IGNORECASE)


def sources_name_token(*sources: str) -> bool:
    """Tell whether any of the sources names a token variable: one that never does needs no trial."""
    return any(_NAMES_TOKEN.search(source or "") for source in sources)


def _said(why: str) -> str:
    return gettext("Write the unsubscribe link's address as {{ unsubscribe_url }} alone: %(why)s") % {
        "why": why
    }


def _source_marked(source: str) -> tuple[str, set[str], set[str], set[str]]:
    """Return the source with each tag and variable a marker (comments dropped), and the markers of
    a token variable shown as it is, of a variable that filters one, and of a tag that names one."""
    pieces: list[str] = []
    alone: set[str] = set()
    filtered: set[str] = set()
    tags: set[str] = set()
    in_comment = False
    for index, token in enumerate(Lexer(source).tokenize()):
        if token.token_type == TokenType.BLOCK:
            command = token.contents.split(maxsplit=1)[0] if token.contents else ""
            if command in ("comment", "endcomment"):
                in_comment = command == "comment"
                continue
            if command in _STRUCTURE_TAGS and not in_comment:
                # Writes nothing itself: an alias it makes is the trial renders' to find.
                continue
        if in_comment or token.token_type == TokenType.COMMENT:
            continue
        if token.token_type == TokenType.TEXT:
            pieces.append(token.contents)
            continue
        mark = f"{_MARK_OPEN}{index}{_MARK_CLOSE}"
        pieces.append(mark)
        if not _NAMES_TOKEN.search(token.contents):
            continue
        name, *filters = (part.strip() for part in token.contents.split("|"))
        if token.token_type == TokenType.BLOCK:
            tags.add(mark)
        elif name in TOKEN_VARIABLES and set(filters) <= _KEPT_BY:
            alone.add(mark)
        else:
            filtered.add(mark)
    return "".join(pieces), alone, filtered, tags


def template_token_links_check(*, html_body: str, text_body: str) -> None:
    """Raise ValidationError on the part where a link's address names a token variable (the
    unsubscribe URL) other than as `{{ unsubscribe_url }}` alone."""
    marked, alone, filtered, tags = _source_marked(html_body or "")
    # Every href, those in HTML comments too: Outlook's conditional comments hold links it follows.
    for href in html_hrefs(marked):
        marks = {match.group(0) for match in _MARK.finditer(href)}
        if marks & (filtered | tags) or (marks & alone and href.strip() not in alone):
            why = gettext("a link's address may hold nothing else, and no filter may change it.")
            raise ValidationError({"html_body": _said(why)})
    marked, alone, filtered, tags = _source_marked(text_body or "")
    for word in _TEXT_SPLIT.split(marked):
        word = sentence_trim(word)  # "Leave: {{ unsubscribe_url }}." ends a sentence.
        marks = {match.group(0) for match in _MARK.finditer(word)}
        # A tag standing apart (`{% if unsubscribe_url %}`) writes no address.
        if marks & filtered or (marks & (alone | tags) and word not in alone | tags):
            why = gettext("an address in the text part may hold nothing else, and no filter may change it.")
            raise ValidationError({"text_body": _said(why)})


def trial_unsubscribe_urls() -> tuple[str, str]:
    """Return two unsubscribe URLs for a template's trial renders, with two different tokens of
    the form sending writes (Fernet's: URL-safe base64, `gAAAAA` first)."""
    first, second = (
        settings.PUBLIC_BASE_URL + reverse("unsubscribe", args=[f"gAAAAA{secrets.token_urlsafe(96)}"])
        for _ in range(2)
    )
    return first, second


def _links(html: str, text: str) -> Iterator[tuple[str, str]]:
    """Yield the part and address of each link of a rendered email, in document order."""
    for href in html_hrefs(html):
        yield "html_body", url_strip(href)
    for match in _TEXT_URL.finditer(text):
        yield "text_body", sentence_trim(match.group(0))


def token_links_compare(
    first: tuple[str, str], second: tuple[str, str], *, urls: tuple[str, str], text_written: bool
) -> None:
    """Raise ValidationError when two renders' links ((html, text) each, with urls[0] and urls[1] as
    the unsubscribe URL) differ other than by being that whole URL in both: the token reached it
    some other way than as the variable alone (`{% with %}`, `{% firstof %}`)."""
    links_first, links_second = list(_links(*first)), list(_links(*second))
    why = gettext("a link's address is made from it (through another name, or a filter).")
    if len(links_first) != len(links_second):
        raise ValidationError({"html_body": _said(why)})
    for (part, one), (_part, other) in zip(links_first, links_second, strict=True):
        if one != other and (one, other) != urls:
            raise ValidationError({part if text_written else "html_body": _said(why)})
