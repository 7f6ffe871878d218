"""Filters shared by the API's resources."""

from datetime import UTC

from django import forms
from django.utils.translation import gettext
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from core.text import text_encodable


class _UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        try:
            # A time whose offset takes it before year 1 in UTC cannot be compared with anything.
            return value.astimezone(UTC) if value is not None else None
        except OverflowError:
            raise forms.ValidationError("This time is out of range.", code="invalid") from None


class DateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time filter that refuses times out of range (400) instead of sending them on."""

    field_class = _UtcDateTimeField


class QueryChecked(BaseFilterBackend):
    """Refuse (400) a list's query parameter that no filter, ordering or page reads: ignored, a
    misspelt filter (`?emial=`) answers every row. An ordering the list does not offer is ignored,
    as DRF does: the list stays in its own order, which a cursor needs."""

    #: What the pagination and the ordering read, beside the list's own filters.
    _READ = frozenset({"cursor", "page_size", "ordering", "format"})

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        filterset = DjangoFilterBackend().get_filterset_class(view, queryset)
        known = self._READ | set(filterset.base_filters if filterset is not None else ())
        errors = {
            key[:100]: [
                gettext("Not a parameter of this list; it reads: %(names)s.")
                % {"names": ", ".join(sorted(known))}
            ]
            for key in request.query_params
            if key not in known
        }
        if errors:
            raise ValidationError(text_encodable(errors))
        return queryset
