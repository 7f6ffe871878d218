"""Writes of what core owns: API keys."""

from collections.abc import Iterable

from core.models import ApiKey, api_key_default_scopes


def api_key_create(
    *,
    name: str,
    expiry_date=None,
    rate_limit: str = "",
    is_load_test: bool = False,
    scopes: Iterable[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never stored and never shown again.

    scopes: what the key may do; None gives ApiKey.DEFAULT_SCOPES (send and read).
    """
    chosen = api_key_default_scopes() if scopes is None else sorted({str(scope) for scope in scopes})
    api_key = ApiKey(
        name=name, expiry_date=expiry_date, rate_limit=rate_limit, is_load_test=is_load_test, scopes=chosen
    )
    api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    key = ApiKey.objects.assign_key(api_key)
    api_key.save()
    return api_key, key
