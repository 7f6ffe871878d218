"""API authentication by hashed key (X-API-Key or Authorization: Bearer) and per-key rate limits."""

import functools
import time
from time import monotonic

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from core.models import ApiKey, rate_parse
from core.redis_client import redis_client


def api_key_from_request(request) -> str | None:
    """Return the key a request presents, from X-API-Key or an Authorization: Bearer header.

    Two different keys raise AuthenticationFailed: the request would act as whichever one we
    happened to read, and a proxy or log that looks at the other header would name the wrong key.
    """
    header_key = request.META.get("HTTP_X_API_KEY", "").strip()
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "api-key":
        # djangorestframework-api-key's own scheme, which this API does not read: unread beside
        # X-API-Key, the request would act as the other key without a word.
        raise exceptions.AuthenticationFailed(
            "Authorization: Api-Key is not read here: send the key as Authorization: Bearer <key> or "
            "X-API-Key: <key>."
        )
    bearer_key = credentials.strip() if scheme.lower() == "bearer" else ""
    if header_key and bearer_key and header_key != bearer_key:
        raise exceptions.AuthenticationFailed(
            "Two different API keys: X-API-Key and Authorization: Bearer must name the same key, "
            "or send only one."
        )
    return header_key or bearer_key or None


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    # A raw query: this runs on every API request, and building the ORM query cost about as much
    # as the round trip itself (docs/benchmarks).
    table = ApiKey._meta.db_table
    return next(iter(ApiKey.objects.raw(f"SELECT * FROM {table} WHERE prefix = %s", [prefix])), None)  # noqa: S608


# Keys this process verified lately, by the exact key presented: (monotonic time read, row). Only a
# key whose hash matched gets in, so a wrong secret always costs a lookup and never fills it.
_verified_keys: dict[str, tuple[float, ApiKey]] = {}


def api_key_verify(presented: str) -> ApiKey | None:
    """Return the key row whose hash matches the presented key, reusing a recent answer.

    A row is reused for API_KEY_CACHE_SECONDS, so revoking a key in another process takes up to
    that long to bite; a change saved in this process clears the cache at once.
    """
    now = monotonic()
    cached = _verified_keys.get(presented)
    if cached is not None and now - cached[0] < settings.API_KEY_CACHE_SECONDS:
        return cached[1]
    prefix, dot, _secret = presented.partition(".")
    api_key = _api_key_by_prefix(prefix) if dot else None
    if api_key is None or not api_key.is_valid(presented):
        _verified_keys.pop(presented, None)
        return None
    if settings.API_KEY_CACHE_SECONDS > 0:
        _verified_keys[presented] = (now, api_key)
    return api_key


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(**kwargs) -> None:
    _verified_keys.clear()


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by its API key; request.auth becomes the ApiKey."""

    def authenticate(self, request):
        presented = api_key_from_request(request)
        if presented is None:
            return None
        api_key = api_key_verify(presented)
        # The key's own hash is checked before saying anything about its state.
        if api_key is None:
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
    script = _rate_counter_script()
    if script is not None:
        return script(keys=[key], args=[ttl])
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key)


# Increment and, on a window's first request, set its lifetime: one atomic command, one round
# trip, and cheaper in redis-py than a pipeline of INCR and EXPIRE NX.
_RATE_COUNTER_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _rate_counter_script():
    if not settings.REDIS_URL:
        return None
    return redis_client(settings.REDIS_URL).register_script(_RATE_COUNTER_LUA)


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
