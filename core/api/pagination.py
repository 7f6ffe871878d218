"""Cursor pagination: stable pages over tables that grow while a client walks them.

A cursor's position is the value of the ordering's first field, and DRF steps over rows that share
a value with an offset it caps at 1,000, so the views order by unique fields only (`id`, `email`,
a unique `name`): one bulk upsert stamps thousands of rows with one time.
"""

import base64

from django.core.exceptions import ValidationError
from rest_framework import filters, pagination
from rest_framework.exceptions import NotFound


class CursorPagination(pagination.CursorPagination):
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        """Read the cursor; one not spelled as DRF spells it, or with a NUL in its position, is a 404."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None and not _base64_canonical(encoded):
            # DRF's b64decode skips stray characters and padding: an altered cursor read as the page.
            raise NotFound(self.invalid_cursor_message)
        cursor = super().decode_cursor(request)
        if cursor is not None and "\x00" in str(cursor.position or ""):  # No field's value holds one.
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset, request, view=None):
        """Return the page; a cursor whose position is not a value of its field is a 404."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, ValidationError):
            # The position comes back from the client: "p=abc" where a number belongs.
            raise NotFound(self.invalid_cursor_message) from None


def _base64_canonical(encoded: str) -> bool:
    """Tell whether text is base64 exactly as b64encode spells what it decodes to."""
    try:
        return base64.b64encode(base64.b64decode(encoded.encode("ascii"))).decode("ascii") == encoded
    except ValueError:  # Not ASCII, or not base64 (binascii.Error) at all.
        return False


class UniqueOrderingFilter(filters.OrderingFilter):
    """Take `ordering` only among the fields a view names: DRF would offer every field shown."""

    def get_valid_fields(self, queryset, view, context=None):
        """Return the view's own ordering fields, or none when it names none."""
        if getattr(view, "ordering_fields", None) is None:
            return []
        return super().get_valid_fields(queryset, view, context or {})
