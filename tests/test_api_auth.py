"""Every API endpoint refuses a request without a valid key; only the schema and docs are public."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PUBLIC = {"/api/schema/", "/api/docs/"}


def _api_paths(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            yield from _api_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            # Fill path parameters with a plausible id; the key check comes before any lookup.
            yield "/" + re.sub(r"\(\?P<[^>]+>[^)]+\)", "1", route).replace("/?", "/").replace("\\.", ".")


API_PATHS = sorted(set(_api_paths()) - PUBLIC)


def test_the_api_has_the_resources_we_expect():
    joined = " ".join(API_PATHS)
    for resource in ("contacts", "lists", "templates", "campaigns", "messages"):
        assert f"/api/v1/{resource}/" in joined


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_every_endpoint_needs_a_key(path, method):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "not_authenticated"
