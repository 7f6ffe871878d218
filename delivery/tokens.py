"""Signed tokens that name a ledger row inside a URL we put in an email.

HMAC-SHA256 by Django's signer: keys rotate through DJANGO_SECRET_KEY_FALLBACKS (links in mail
already sent keep working while the new key signs). Each purpose has its own salt, so a token
made for one kind of link is worthless for another.
"""

import base64
import binascii
import functools
import hashlib
import re
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import signing

UNSUBSCRIBE = "unsubscribe"
OPEN = "open"
CLICK = "click"

# An unsubscribe token as issued: URL-safe base64, its padding stripped.
_SEALED_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def _signer(purpose: str) -> signing.Signer:
    return signing.Signer(salt=f"campanile.{purpose}", algorithm="sha256")


def step_execution_token(*, tracking_id: UUID, purpose: str) -> str:
    """Return a URL-safe signed token for one row and one purpose (66 characters)."""
    compact = base64.urlsafe_b64encode(tracking_id.bytes).rstrip(b"=").decode()
    return _signer(purpose).sign(compact)


def step_execution_token_read(*, token: str, purpose: str) -> UUID | None:
    """Return the tracking id a token was signed for, or None for a tampered or foreign token."""
    try:
        compact = _signer(purpose).unsign(token)
        return UUID(bytes=base64.urlsafe_b64decode(compact + "=="))
    except (signing.BadSignature, ValueError):
        return None


def _sealer() -> MultiFernet:
    """Return the unsubscribe links' encryption, a key per secret key (the fallbacks still open theirs)."""
    return _sealer_of(settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)


@functools.lru_cache(maxsize=4)
def _sealer_of(*secrets: str) -> MultiFernet:
    # Built once per set of keys, not for every email's link.
    return MultiFernet(
        [
            Fernet(
                base64.urlsafe_b64encode(hashlib.sha256(f"campanile.{UNSUBSCRIBE}:{key}".encode()).digest())
            )
            for key in secrets
        ]
    )


def unsubscribe_token(*, tracking_id: UUID, email: str) -> str:
    """Return the token of a row's unsubscribe link: its tracking id and its address, encrypted.

    The address rides along so the link still unsubscribes it once the row is gone (its contact
    deleted, as a sync that deletes and re-adds contacts does): an opt-out is never lost. Sealed
    (Fernet: AES and an HMAC), not only signed: the URL passes through scanners, proxies and logs,
    which should not read the address in it.
    """
    return _sealer().encrypt(tracking_id.bytes + email.encode()).decode().rstrip("=")


def unsubscribe_token_read(token: str) -> tuple[UUID, str] | None:
    """Return (tracking id, address) of an unsubscribe token; the address is "" in the signed
    tokens made before it rode along. None for a tampered or foreign token."""
    if ":" in token:  # Signed, from before: a tracking id alone.
        tracking_id = step_execution_token_read(token=token, purpose=UNSUBSCRIBE)
        return (tracking_id, "") if tracking_id is not None else None
    # Fernet's base64 decoding skips characters outside the alphabet and extra padding, so a
    # tampered spelling would open as the token itself: only the exact form issued is read.
    if not _SEALED_TOKEN.fullmatch(token):
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        # Re-encoding also refuses a last character whose unused bits were changed.
        canonical = base64.urlsafe_b64encode(base64.urlsafe_b64decode(padded)).decode()
    except binascii.Error:  # A length no base64 has.
        return None
    if canonical != padded:
        return None
    try:
        raw = _sealer().decrypt(padded.encode())
        return UUID(bytes=raw[:16]), raw[16:].decode()
    except (InvalidToken, ValueError):  # UnicodeDecodeError is a ValueError.
        return None


def click_token(*, tracking_id: UUID, link_id: int) -> str:
    """Return a signed token binding one row and one of its links."""
    compact = base64.urlsafe_b64encode(tracking_id.bytes + link_id.to_bytes(8, "big").lstrip(b"\0")).rstrip(
        b"="
    )
    return _signer(CLICK).sign(compact.decode())


def click_token_read(token: str) -> tuple[UUID, int] | None:
    """Return (tracking id, link id) of a click token, or None for a tampered or foreign one."""
    try:
        raw = base64.urlsafe_b64decode(_signer(CLICK).unsign(token) + "==")
    except (signing.BadSignature, ValueError):
        return None
    if not 16 < len(raw) <= 24:
        return None
    return UUID(bytes=raw[:16]), int.from_bytes(raw[16:], "big")


#: How many consecutive characters of a recipient's token a link may hold and still be tracked: far
#: more than any two unrelated addresses share by chance (16 base64 characters are 96 bits), far
#: fewer than any piece of a token worth taking (the head a template cuts off is all that is
#: guessable, a handful of characters).
TOKEN_RUN = 16

# What is compared of a link and a token: URL-safe base64's characters alone, lower-cased, so no
# filter that cases, splits (`make_list|join:"."`), cuts (`cut:'/'`) or frames the token hides it.
_NOT_TOKEN_CHARACTER = re.compile(r"[^a-z0-9_-]")


def token_cleaned(text: str) -> str:
    """Return the text lower-cased, every character outside URL-safe base64 dropped."""
    return _NOT_TOKEN_CHARACTER.sub("", text.lower())


@functools.lru_cache(maxsize=64)
def token_runs(token: str) -> frozenset[str]:
    """Return every run of TOKEN_RUN consecutive characters of a token, as token_cleaned writes it."""
    cleaned = token_cleaned(token)
    return frozenset(cleaned[start : start + TOKEN_RUN] for start in range(len(cleaned) - TOKEN_RUN + 1))


def text_holds_token_run(text: str, token: str) -> bool:
    """Tell whether the text holds TOKEN_RUN consecutive characters of the token, forwards or
    backwards (`slice:'::-1'`), once both are cleaned (token_cleaned)."""
    runs = token_runs(token)
    cleaned = token_cleaned(text)
    return any(
        seen[start : start + TOKEN_RUN] in runs
        for seen in (cleaned, cleaned[::-1])
        for start in range(len(seen) - TOKEN_RUN + 1)
    )


# A run of URL-safe base64 long enough to be a token or a usable piece of one, written as is or
# with one separator between its characters (`make_list|join:"."`).
_BASE64_RUN = re.compile(r"[A-Za-z0-9_-]{40,}")
_SPREAD_RUN = re.compile(r"(?:[A-Za-z0-9_-][^A-Za-z0-9_\s-]){40,}[A-Za-z0-9_-]?")
_HEX_RUN = re.compile(r"[0-9A-Fa-f-]+")
_RUN_PIECES = re.compile(r"[-_]")


def _token_like(run: str) -> bool:
    """Tell whether a base64url run reads as random bytes (a token, or what is left of one).

    Our unsubscribe tokens are Fernet's: at least 89 bytes, 119 or more characters, and only their
    first few (`gAAAAAB` and the time) can be guessed, so a piece worth taking is most of one: 40
    characters is far less. What is random base64 holds letters and digits, and its `-` and `_`
    (2 of 64 characters) leave long stretches between them. What else a link holds is not: numbers,
    UUIDs and hex digests (hex alone), slugs (words between hyphens).
    """
    return (
        any(char.isdigit() for char in run)
        and any(char.isalpha() for char in run)
        and not _HEX_RUN.fullmatch(run)
        and max(len(piece) for piece in _RUN_PIECES.split(run)) >= TOKEN_RUN
    )


def tokens_masked(text: str, mask: str = "…") -> str:
    """Return the text with each run that reads as a token, or a piece of one, written as `mask`."""
    text = _BASE64_RUN.sub(lambda match: mask if _token_like(match.group(0)) else match.group(0), text)
    return _SPREAD_RUN.sub(lambda match: mask if _token_like(match.group(0)[::2]) else match.group(0), text)
