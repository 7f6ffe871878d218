"""Template filters for the figures the admin shows: rates as percentages, one way everywhere."""

from datetime import timedelta

from django import template
from django.utils.formats import number_format

register = template.Library()

#: What a rate over nothing (no email sent or delivered yet) shows.
NO_RATE = "—"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """Show a rate (0.1234) as a percentage ("12.3%"); small rates keep two significant digits."""
    if value is None:
        return NO_RATE
    shown = value * 100
    # A complaint rate of 0.04% must not read as 0.0%: small rates keep more decimals.
    places = digits if shown == 0 or shown >= 1 else max(digits, 2)
    return f"{number_format(shown, places)}%"


@register.filter
def share(part: float | None, whole: float | None) -> float | None:
    """Return part over whole, or None over nothing."""
    return part / whole if part is not None and whole else None


@register.filter
def duration(value: timedelta | None) -> str:
    """Show a duration as a person says it: "40 s", "3 min", "2 h 5 min"."""
    if value is None:
        return NO_RATE
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
