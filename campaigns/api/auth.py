"""API authentication by hashed key (X-API-Key or Authorization: Bearer) and per-key rate limits."""

import functools
import time

import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from campaigns.models import ApiKey, rate_parse


def api_key_from_request(request) -> str | None:
    """Return the key a request presents, from X-API-Key or an Authorization: Bearer header."""
    key = request.META.get("HTTP_X_API_KEY", "").strip()
    if key:
        return key
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    # A raw query: this runs on every API request, and building the ORM query cost about as much
    # as the round trip itself (BENCHMARKS.md).
    table = ApiKey._meta.db_table
    return next(iter(ApiKey.objects.raw(f"SELECT * FROM {table} WHERE prefix = %s", [prefix])), None)  # noqa: S608


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by its API key; request.auth becomes the ApiKey."""

    def authenticate(self, request):
        presented = api_key_from_request(request)
        if presented is None:
            return None
        prefix, dot, _secret = presented.partition(".")
        api_key = _api_key_by_prefix(prefix) if dot else None
        # The key's own hash is checked before saying anything about its state.
        if api_key is None or not api_key.is_valid(presented):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.revoked:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="campanile"'


class HasApiKey(BasePermission):
    """Allow requests that authenticated with a valid API key."""

    message = "Send an API key as X-API-Key or Authorization: Bearer."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class ApiKeyRateThrottle(BaseThrottle):
    """Count requests per API key in fixed windows of its rate; past the limit, 429 with Retry-After.

    One atomic counter per key and window, so concurrent requests on many web processes never lose
    a count, and the cost does not grow with the limit (DRF's sliding window stores every request
    time). A fixed window lets a burst of up to twice the limit straddle a window edge.
    """

    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True  # Unauthenticated requests are refused before they count.
        limit, duration = rate_parse(request.auth.rate_limit or settings.API_DEFAULT_RATE_LIMIT)
        now = time.time()
        window = int(now // duration)
        self._wait = (window + 1) * duration - now
        key = f"campanile:api-rate:{request.auth.prefix}:{duration}:{window}"
        return rate_counter_increment(key=key, ttl=duration + 1) <= limit

    def wait(self):
        return self._wait


def rate_counter_increment(*, key: str, ttl: int) -> int:
    """Increment a shared counter that expires after ttl seconds and return its new value."""
    client = _redis_client()
    if client is not None:
        # INCR and EXPIRE NX in one round trip: the first request of a window sets its lifetime.
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, ttl, nx=True)
        count, _ = pipeline.execute()
        return count
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key)


@functools.cache
def _redis_client() -> redis.Redis | None:
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe both ways of presenting a key in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = ["ApiKeyHeader", "BearerKey"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer", "description": "The same API key, as a bearer token."},
        ]

    def get_security_requirement(self, auto_schema):
        # Either header will do: two requirements (OR), not one requirement naming both (AND).
        return [{name: []} for name in self.name]
