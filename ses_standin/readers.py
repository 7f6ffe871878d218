"""Simulated readers: open, click and unsubscribe from a share of the delivered mail, as people do.

A reader acts through the links in the message itself, as a mail client would: it loads the
images (the open pixel) with a desktop browser's User-Agent, later follows one visible link (never
one hidden from people, such as a honeypot), and some unsubscribe with RFC 8058's one-click POST
to the List-Unsubscribe URL. Clicks come at least 12 seconds after delivery, when a person could
have read the mail; a click sooner would look like a link scanner's, as it should.
"""

import logging
import random
import re
import threading
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser
from http.client import HTTPException

from ses_standin import client

logger = logging.getLogger("ses_standin")

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
HEADERS = {"User-Agent": BROWSER}
#: A person reads before clicking; below this a click would count as a scanner's.
FIRST_CLICK_SECONDS = 12.0


@dataclass(frozen=True)
class Shares:
    """How many readers do what: each a share of the delivered mail (clicks: of the opened)."""

    open: float = 0.0
    click: float = 0.0
    unsubscribe: float = 0.0
    #: Multiplies every reader's delays: tests read faster than people do.
    pace: float = 1.0


class _Links(HTMLParser):
    """Collect the images and the links a person can see and follow in an HTML part."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        hidden = attributes.get("aria-hidden") == "true" or re.search(
            r"display\s*:\s*none", attributes.get("style") or ""
        )
        if tag == "img" and attributes.get("src", "").startswith("http"):
            self.images.append(attributes["src"])
        elif tag == "a" and not hidden and attributes.get("href", "").startswith("http"):
            self.links.append(attributes["href"])


def _html(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)  # bytes, or None for a multipart part
            payload = payload if isinstance(payload, bytes) else b""
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


class Readers:
    """Schedule what the readers of delivered messages do, and count what they managed to do."""

    def __init__(self, *, shares: Shares, schedule):
        self.shares, self.schedule = shares, schedule
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}

    def delivered(self, message: Message, *, message_id: str, recipient: str, campaign: str) -> None:
        """Decide, reproducibly per message, what its reader does, and schedule it."""
        if not (self.shares.open or self.shares.unsubscribe):
            return
        chance = random.Random(f"{message_id}:{recipient}")  # noqa: S311 - a simulation
        page = _Links()
        page.feed(_html(message))
        unsubscribe = re.search(r"<(https?://[^>]+)>", str(message.get("List-Unsubscribe", "")))
        # A footer's unsubscribe link is no click on the content; leaving is the unsubscribe share's.
        links = [link for link in page.links if not unsubscribe or link != unsubscribe.group(1)]
        pace = self.shares.pace
        if page.images and chance.random() < self.shares.open:
            opened_at = chance.uniform(2.0, 20.0)
            self.schedule(pace * opened_at, lambda: self._fetch(page.images, campaign, first=True))
            if chance.random() < 0.3:  # Some read it again later.
                again = opened_at + chance.uniform(5, 30)
                self.schedule(pace * again, lambda: self._fetch(page.images, campaign))
            if links and chance.random() < self.shares.click:
                link = chance.choice(links)
                clicked_at = max(FIRST_CLICK_SECONDS, opened_at + chance.uniform(3.0, 20.0))
                self.schedule(pace * clicked_at, lambda: self._click(link, campaign))
        if unsubscribe and chance.random() < self.shares.unsubscribe:
            url = unsubscribe.group(1)
            leave_at = chance.uniform(FIRST_CLICK_SECONDS, 40.0)
            self.schedule(pace * leave_at, lambda: self._unsubscribe(url, campaign))

    def _fetch(self, images: list[str], campaign: str, *, first: bool = False) -> None:
        if all(self._get(url, expect=200) for url in images):
            self._count(campaign, "opened" if first else "reopened")

    def _click(self, url: str, campaign: str) -> None:
        if self._get(url, expect=302):
            self._count(campaign, "clicked")

    def _unsubscribe(self, url: str, campaign: str) -> None:
        try:
            status = client.call(
                "POST",
                url,
                body=b"List-Unsubscribe=One-Click",
                headers={**HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
            )
        except (OSError, HTTPException) as exc:
            logger.warning("Reader could not unsubscribe: %s", exc)
            return
        if status == 200:
            self._count(campaign, "unsubscribed")

    def _get(self, url: str, *, expect: int) -> bool:
        try:
            return client.call("GET", url, headers=HEADERS) == expect
        except (OSError, HTTPException) as exc:
            logger.warning("Reader could not fetch %s: %s", url, exc)
            return False

    def _count(self, campaign: str, name: str) -> None:
        with self.lock:
            counts = self.counts.setdefault(campaign, {})
            counts[name] = counts.get(name, 0) + 1
