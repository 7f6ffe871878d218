"""Keyed digests: what Campanile keeps in place of words it must not keep readable (an erased
address, an idempotency code whose message left the record), found again by the same words."""

import functools
import hashlib
import hmac

from django.conf import settings


def keyed_digests(*, purpose: str, value: str) -> list[str]:
    """Return the HMAC-SHA256 of value under a key drawn from SECRET_KEY for this purpose, then
    under each of SECRET_KEY_FALLBACKS: the first to write, all of them to look up, so a rotated
    key still finds what the old one wrote."""
    secrets = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", []))
    return [hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for key in _keys(purpose, secrets)]


@functools.lru_cache(maxsize=16)
def _keys(purpose: str, secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    # Derived once per purpose and key set: every API message asks for two digests.
    return tuple(hashlib.sha256(f"campanile.{purpose}:{secret}".encode()).digest() for secret in secrets)
