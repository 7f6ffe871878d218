"""API authentication by hashed key (X-API-Key or Authorization: Bearer) and per-key rate limits."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from campaigns.models import ApiKey


def api_key_from_request(request) -> str | None:
    """Return the key a request presents, from X-API-Key or an Authorization: Bearer header."""
    key = request.META.get("HTTP_X_API_KEY", "").strip()
    if key:
        return key
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by its API key; request.auth becomes the ApiKey."""

    def authenticate(self, request):
        presented = api_key_from_request(request)
        if presented is None:
            return None
        prefix, dot, _secret = presented.partition(".")
        api_key = ApiKey.objects.filter(prefix=prefix).first() if dot else None
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


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Count requests per API key against the key's own rate, answering 429 with Retry-After."""

    scope = "api_key"

    def get_rate(self):
        # The rate depends on the key, known only per request: see allow_request.
        return settings.API_DEFAULT_RATE_LIMIT

    def allow_request(self, request, view):
        if isinstance(request.auth, ApiKey) and request.auth.rate_limit:
            self.rate = request.auth.rate_limit
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None  # Unauthenticated requests are refused before they count.
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


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
