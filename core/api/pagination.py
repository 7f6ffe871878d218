"""Cursor pagination: stable pages over tables that grow while a client walks them.

A cursor's position is the value of the ordering's first field, and DRF steps over rows that share
a value with an offset it caps at 1,000, so the views order by unique fields only (`id`, `email`,
a unique `name`): one bulk upsert stamps thousands of rows with one time.
"""

from django.core.exceptions import ValidationError
from rest_framework import filters, pagination
from rest_framework.exceptions import NotFound


class CursorPagination(pagination.CursorPagination):
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        """Read the cursor; one whose position holds a NUL, which no field's value does, is a 404."""
        cursor = super().decode_cursor(request)
        if cursor is not None and "\x00" in str(cursor.position or ""):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset, request, view=None):
        """Return the page; a cursor whose position is not a value of its field is a 404."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, ValidationError):
            # The position comes back from the client: "p=abc" where a number belongs.
            raise NotFound(self.invalid_cursor_message) from None


class UniqueOrderingFilter(filters.OrderingFilter):
    """Take `ordering` only among the fields a view names: DRF would offer every field shown."""

    def get_valid_fields(self, queryset, view, context=None):
        """Return the view's own ordering fields, or none when it names none."""
        if getattr(view, "ordering_fields", None) is None:
            return []
        return super().get_valid_fields(queryset, view, context or {})
