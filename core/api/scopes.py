"""API key scopes: each view declares the scope each of its operations needs; keys must hold it.

A view sets `scopes`, a dict whose keys are its actions (`list`, `create`, `preview`, ...) or the
fallbacks `read` (GET, HEAD, OPTIONS) and `write` (every other method), and whose values are
ApiKey.Scope values. An action's own entry wins over its method's fallback.
"""

from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.models import ApiKey


def view_scope(view, method: str) -> str | None:
    """Return the scope an operation of view needs for method, or None if it declares none."""
    declared: dict[str, str] = getattr(view, "scopes", None) or {}
    action = getattr(view, "action", None)
    if action in declared:
        return declared[action]
    return declared.get("read" if method.upper() in SAFE_METHODS else "write")


class ScopeMissing(exceptions.PermissionDenied):
    """The key lacks the scope an operation needs (403); the error names the scope."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "scope_missing"

    def __init__(self, scope: str):
        self.scope = scope
        said = gettext(
            "This API key lacks the scope “%(scope)s” this operation needs: ask an administrator to add it."
        )
        super().__init__(said % {"scope": scope})


class HasScope(BasePermission):
    """Allow a request whose key holds the scope its operation needs; refuse undeclared operations."""

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True  # HasApiKey, checked first, answers 401.
        if getattr(view, request.method.lower(), None) is None:
            return True  # A method the view does not answer: its 405, whatever the key holds.
        scope = view_scope(view, request.method)
        if scope is None:
            # Fail closed: an operation nobody gave a scope is no key's (tests/core/api/test_scopes.py
            # keeps every operation declared).
            raise exceptions.PermissionDenied("This operation declares no scope: no key may call it.")
        if scope not in request.auth.scopes:
            raise ScopeMissing(scope)
        return True
