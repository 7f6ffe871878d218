"""Rewriting a rendered email's HTML for tracking: links through the click redirect, an open pixel.

An HTML5 parser (lexbor, core.html) reads the HTML as a reader's browser does and writes back the
tree it read, so links inside comments (Outlook's conditional blocks), <style> and <script> are
never touched, no regular expression guesses at HTML, and the reader sees what the author wrote.
"""

import base64
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from django.utils.http import MAX_URL_REDIRECT_LENGTH
from django.utils.translation import gettext

from core.html import PixelHidden, html_end_point, html_namespace, html_read, html_write
from core.html_text import LINK_ATTRIBUTES, url_strip
from core.written_links import (
    NO_TRACK_ATTRIBUTE,
    WrittenLinks,
    html_written_links,
    sentence_trim,
    text_written_links,
)
from delivery import tokens
from delivery.exceptions import PixelNotCarried

if TYPE_CHECKING:
    from campaigns.rendering import RenderedEmail

logger = logging.getLogger(__name__)

#: The attributes each kind of link is followed by, first found first (LINK_ATTRIBUTES).
_LINK_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("html", "a"): ("href",),
    ("html", "area"): ("href",),
    ("svg", "a"): LINK_ATTRIBUTES,
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_TRACKED_SCHEMES = frozenset({"http", "https"})


#: How many times an address is percent-decoded in looking for our own links inside it: a nested
#: URL is encoded once per level, and a template may encode an encoded one again.
_DECODINGS = 3


def _holds_own_link(href: str, keep_prefixes: tuple[str, ...], own_tokens: tuple[str, ...] = ()) -> bool:
    """Tell whether the address holds one of our own links anywhere, written or percent-encoded, or
    a piece of one of the recipient's own tokens however a template's filters wrote it."""
    if not keep_prefixes and not own_tokens:
        return False
    # Any scheme (or none, "//host/u/"), any case: the host and path are what name our link.
    owns = tuple("//" + prefix.split("://", 1)[-1].lower() for prefix in keep_prefixes)
    seen = href.lower()
    for _ in range(_DECODINGS + 1):
        if any(own in seen for own in owns):
            return True
        # `cut:'/'`, `slice`, `upper`, `make_list|join` and the like leave no prefix to find, but
        # still a run of the token itself: that is what a reader of the stats must never get.
        if any(tokens.text_holds_token_run(seen, token) for token in own_tokens):
            return True
        decoded = unquote(seen)
        if decoded == seen:
            return False
        seen = decoded.lower()
    return False


def _trackable(href: str, *, keep_prefixes: tuple[str, ...], own_tokens: tuple[str, ...] = ()) -> bool:
    href = url_strip(href)
    # Longer than Django will redirect to, or holding a control character (NUL, which no database
    # column takes): left as it is, so the reader's browser still does what it does with it.
    if not href or href.startswith(keep_prefixes) or len(href) > MAX_URL_REDIRECT_LENGTH:
        return False
    # One holding our own link (`?u={{ unsubscribe_url }}`) holds this recipient's token: tracked,
    # its target would be stored and listed by the stats, so it goes out as written.
    if _holds_own_link(href, keep_prefixes, own_tokens):
        return False
    if _CONTROL.search(href):
        return False
    try:
        parts = urlsplit(href)
    except ValueError:  # "http://[x": no address a browser could follow either.
        return False
    # Relative links, in-page anchors, mailto:, tel: and the like stay as they are: only a full
    # web address can be redirected to.
    return parts.scheme.lower() in _TRACKED_SCHEMES and bool(parts.netloc)


def html_track(
    html: str,
    *,
    click_url: Callable[[str], str] | None,
    pixel_url: str | None,
    keep_prefixes: tuple[str, ...] = (),
    honeypot_url: str | None = None,
    written: WrittenLinks | None = None,
    own_tokens: tuple[str, ...] = (),
) -> str:
    """Return the HTML with web links sent through `click_url(target)` and a pixel at the end.
    Raise ValueError for HTML that cannot be tracked as written (core.html), PixelHidden when the
    pixel would not load in it.

    `written`: with it, only a link the HTML's author wrote is tracked (WrittenLinks), so an
    address a contact's data brings (a whole `href`, or one added through an unquoted attribute)
    is never made a redirect on the sender's domain.

    `keep_prefixes`: links that start with one of these, or hold one anywhere (written or
    percent-encoded), stay untouched (the unsubscribe link, links already tracked). Either part
    can be switched off by passing None. `honeypot_url`, with click tracking, adds a link no
    person can see or reach: whatever follows it is a machine. `own_tokens`: the recipient's own
    tokens (its unsubscribe link's); a link holding a piece of one stays untouched too.
    """
    if not html.strip() or (click_url is None and pixel_url is None):
        return html
    document = html_read(html)
    if click_url is not None:
        known: dict[int, str] = {}  # Namespaces found, so a deep document's links cost its depth once.
        for element in document.elements("a", "area"):
            written_names = element.attributes  # By qualified name: `attrs` goes by local name.
            # What a browser follows: HTML's <a> and <area> by their href, SVG's <a> by its href or
            # else its xlink:href; no MathML element, nor an SVG <area>, is a link.
            names = _LINK_NAMES.get((html_namespace(element, known), element.tag or ""), ())
            name = next((name for name in names if name in written_names), "")
            href = written_names.get(name) if name else None
            if NO_TRACK_ATTRIBUTE in element.attrs and (written is None or written.no_track):
                del element.attrs[NO_TRACK_ATTRIBUTE]
            elif (
                href is not None
                and _trackable(href, keep_prefixes=keep_prefixes, own_tokens=own_tokens)
                and _covered(href, written)
            ):
                if name == "href" and "xlink:href" in written_names:
                    # Beside an href a browser ignores it (SVG 2), and lexbor would write the
                    # href's new value into it, the first attribute of that local name.
                    del element.attrs["xlink:href"]
                element.attrs[name] = click_url(url_strip(href))
    added = html_end_point(document)
    if click_url is not None and honeypot_url is not None:
        trap = added("a")
        for name, value in (
            ("href", click_url(honeypot_url)),
            ("style", "display:none;font-size:0;line-height:0;max-height:0;overflow:hidden"),
            ("aria-hidden", "true"),
            ("tabindex", "-1"),
        ):
            trap.attrs[name] = value
    if pixel_url is not None:
        pixel = added("img")
        for name, value in (
            ("src", pixel_url),
            ("width", "1"),
            ("height", "1"),
            ("alt", ""),
            ("style", "display:block;width:1px;height:1px;border:0"),
        ):
            pixel.attrs[name] = value
    return html_write(document, shown=pixel_url)


# A web address in plain text ends at whitespace or a quote; punctuation right after it belongs to
# the sentence ("see https://example.com.").
# It also ends before "](", where a link's text ends in a text part made from HTML: read on, each
# search would cross every following link, and a run of links would cost the square of its length.
_TEXT_URL = re.compile(r"https?://(?:[^\s<>\"'\]]|\](?!\())+", re.IGNORECASE)


def _covered(url: str, written: WrittenLinks | None) -> bool:
    return written is None or written.covers(url)


def text_track(
    text: str,
    *,
    click_url: Callable[[str], str],
    keep_prefixes: tuple[str, ...] = (),
    known: frozenset[str] = frozenset(),
    written: WrittenLinks | None = None,
    own_tokens: tuple[str, ...] = (),
) -> str:
    """Return plain text with its web addresses sent through `click_url(target)`.

    `known`: the addresses the HTML part tracks. They settle where a link "[text](address)" ends
    when the address holds an unmatched ")". `written`: with it, only an address the author wrote
    is tracked: one in `known`, or one the text's source writes (WrittenLinks).
    An address a contact's data brings stays plain text, as it is in the HTML part, so no one can
    make the sender's domain redirect to a site of their choosing. `own_tokens`: as html_track's.
    """

    def tracks(url: str) -> bool:
        if not _trackable(url, keep_prefixes=keep_prefixes, own_tokens=own_tokens):
            return False
        return url in known or _covered(url, written)

    # Only addresses with an unmatched ")" need looking up (usually there are none), by the part
    # before it, which is where the search below would otherwise end them.
    odd: dict[str, list[str]] = {}
    for address in sorted(known, key=len, reverse=True):
        if (cut := _unmatched_paren(address)) is not None:
            odd.setdefault(address[:cut], []).append(address)
    pieces, position = [], 0
    while match := _TEXT_URL.search(text, position):
        url = match.group(0)
        end = _unmatched_paren(url) if text[max(match.start() - 2, 0) : match.start()] == "](" else None
        if end is None and text.startswith("](", match.end()):
            # An address in a link's text, "[see address](address)", as the HTML shows it: left
            # as written; the search goes on at the link's own address.
            pieces += [text[position : match.start()], url]
            position = match.end()
            continue
        if end is not None:
            # A link the text part made from HTML, "[text](address)": the address ends at its
            # unmatched ")", whatever follows (CJK text has no space to stop at), and the search
            # goes on from there (the next link may follow at once). An address of the HTML
            # that goes on past that ")" up to a ")" of its own is that link's, whole.
            candidates = odd.get(url[:end], [])
            url = next(
                (whole for whole in candidates if text.startswith(f"{whole})", match.start())), url[:end]
            )
            tracked = click_url(url_strip(url)) if tracks(url) else url
        else:
            # In running text, punctuation right after an address belongs to the sentence.
            trimmed = sentence_trim(url)
            tracked = url
            if tracks(trimmed):
                tracked = click_url(url_strip(trimmed)) + url[len(trimmed) :]
        pieces += [text[position : match.start()], tracked]
        position = match.start() + len(url)
    return "".join([*pieces, text[position:]])


def _unmatched_paren(url: str) -> int | None:
    """Return the index of the first ")" in the URL that no "(" before it opened, or None."""
    depth = 0
    for index, char in enumerate(url):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index
            depth -= 1
    return None


@dataclass(frozen=True)
class LinkMarks:
    """Mark an email's links for tracking, where it is rendered: in the render sandbox's child.

    Parsing HTML costs what the HTML makes it cost (libxml2 has its quadratic corners), so it runs
    under the same kernel limits as the render. Each tracked link becomes `marker` + its target in
    URL-safe base64 + "."; the sending process then looks every target up at once and puts the
    signed click URLs in (delivery.compose.step_execution_track_resolve). The marker is random per
    email, so no text of a template or of a contact's data can pose as one.
    """

    marker: str
    clicks: bool
    pixel_url: str | None
    keep_prefixes: tuple[str, ...]
    honeypot_url: str | None
    #: The recipient's own tokens (its unsubscribe link's): a link holding a piece of one is kept
    #: untracked, however the template wrote it (`cut`, `slice`, `upper`, `make_list|join`).
    own_tokens: tuple[str, ...] = ()

    def __call__(self, rendered: "RenderedEmail", sources: tuple[str, str, str]) -> "RenderedEmail":
        # Only the links the template's parts write are tracked (core.written_links); read
        # here, in the child, since reading HTML costs what the HTML makes it cost. A text part
        # made from the HTML writes none of its own: its links are the HTML's.
        _subject, html_source, text_source = sources
        html_links, text_links = html_written_links(html_source), text_written_links(text_source)
        addresses: set[str] = set()

        def click_url(url: str) -> str:
            addresses.add(url)
            return self._placeholder(url)

        html, text = rendered.html, rendered.text
        # A step whose template has HTML counts its emails as carrying the pixel: one whose HTML,
        # as this contact's data renders it, shows nothing or hides the pixel is not sent.
        measures_opens = self.pixel_url is not None and bool(html_source.strip())
        if html.strip():
            try:
                html = html_track(
                    html,
                    click_url=click_url if self.clicks else None,
                    pixel_url=self.pixel_url,
                    keep_prefixes=self.keep_prefixes,
                    honeypot_url=self.honeypot_url if self.clicks else None,
                    written=html_links,
                    own_tokens=self.own_tokens,
                )
            except PixelHidden as exc:
                if measures_opens:
                    said = gettext(
                        "its open pixel would not load: its HTML, as this contact's data renders it, hides it"
                    )
                    raise PixelNotCarried(said) from exc
                logger.warning("HTML not tracked: %s.", exc)
            except ValueError as exc:
                if measures_opens:
                    said = gettext("its HTML can carry no open pixel (%(why)s)")
                    raise PixelNotCarried(said % {"why": exc}) from exc
                logger.warning("HTML not tracked: %s.", exc)  # It goes out as rendered, untracked.
        if measures_opens and not html.strip():
            raise PixelNotCarried(gettext("its HTML shows nothing for this contact"))
        if self.clicks and text:
            text = text_track(
                text,
                click_url=self._placeholder,
                keep_prefixes=self.keep_prefixes,
                # The hidden trap is the HTML's alone: a text part never shows it, so a contact's
                # data naming its address stays plain text there.
                known=frozenset(addresses - {self.honeypot_url}),
                written=text_links,
                own_tokens=self.own_tokens,
            )
        return replace(rendered, html=html, text=text)

    def _placeholder(self, url: str) -> str:
        return f"{self.marker}{base64.urlsafe_b64encode(url.encode()).decode()}."

    def pattern(self) -> re.Pattern:
        """Return the pattern of this email's placeholders; group 1 is the encoded target."""
        # URL-safe base64 has no character HTML serialization changes; the dot ends it.
        return re.compile(re.escape(self.marker) + r"([A-Za-z0-9_-]*=*)\.")

    @staticmethod
    def target(encoded: str) -> str:
        """Return the target a placeholder's group 1 names."""
        return base64.urlsafe_b64decode(encoded).decode()
