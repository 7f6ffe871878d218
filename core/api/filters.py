"""Filters shared by the API's resources."""

from datetime import UTC

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


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
