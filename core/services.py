"""Writes of what core owns: API keys."""

from core.models import ApiKey


def api_key_create(
    *, name: str, expiry_date=None, rate_limit: str = "", is_load_test: bool = False
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never stored and never shown again."""
    api_key = ApiKey(name=name, expiry_date=expiry_date, rate_limit=rate_limit, is_load_test=is_load_test)
    api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    key = ApiKey.objects.assign_key(api_key)
    api_key.save()
    return api_key, key
