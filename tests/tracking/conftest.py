"""Fixtures of the tracking tests."""

import pytest


@pytest.fixture(params=["table", "redis"])
def hit_store(request, settings):
    """Run a test with hits kept in the database table (no Redis) and in Redis."""
    if request.param == "table":
        settings.REDIS_URL = ""
    else:
        request.getfixturevalue("redis_only")
    return request.param
