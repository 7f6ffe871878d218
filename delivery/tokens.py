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
