"""Filters of the audience's resources."""

from django_filters import rest_framework as filters

from campaigns.models import email_normalize


class EmailFilter(filters.CharFilter):
    """Match an address as it is stored: trimmed and lower-cased, whatever the client sent."""

    def filter(self, qs, value):
        return super().filter(qs, email_normalize(value) if value else value)
