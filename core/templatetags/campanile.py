"""Template filters for the figures the admin shows: rates as percentages and counts, one way everywhere."""

import math
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.db.models import Model
from django.utils.formats import number_format
from django.utils.text import capfirst

from core.exports import json_cell_text
from core.text import grouped

register = template.Library()

#: What a rate over nothing (no email sent or delivered yet) shows.
NO_RATE = "—"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """Show a rate (0.1234) as a percentage ("12.3%"), rounded half up; a rate under 1% keeps two
    decimals, and as many more as its first digit needs (0.04%, 0.003%), so a complaint rate
    never reads as 0.0%."""
    if value is None or not math.isfinite(value):
        return NO_RATE
    shown, places = percent_number(value, digits)
    return f"{number_format(shown, places)}%"


def percent_number(value: float, digits: int = 1) -> tuple[Decimal, int]:
    """Return a rate as the percentage `percent` shows, and its places: what a chart draws."""
    shown = Decimal(repr(float(value))) * 100
    places = digits
    if abs(shown) > 0 and abs(_half_up(shown, 2)) < 1:  # Under 1% even rounded: 0.96%, not 0.9999%.
        places = min(max(digits, 2, -math.floor(math.log10(abs(shown)))), 8)
    # Nor does anything short of all read as all: 99.95%, not 100.0%.
    while shown < 100 and _half_up(shown, places) >= 100 and places < 8:
        places += 1
    return _half_up(shown, places), places


def percent_beside(value: float, other: float, digits: int = 1) -> tuple[str, str]:
    """Show a rate and the limit it is judged against, with as many places as tell them apart
    (a complaint rate of 0.0801% over a limit of 0.08% never reads as the limit)."""
    shown, limit = percent(value, digits), percent(other, digits)
    for places in range(digits + 1, 9):
        if shown != limit or value == other:
            break
        shown, limit = percent(value, places), percent(other, places)
    return shown, limit


def _half_up(number: Decimal, places: int) -> Decimal:
    # Rounded here: number_format would cut the digits off (28.999… would read 28.9).
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@register.filter
def percent_as(value: float | None, other: float | None) -> str:
    """Show a rate with the places that tell it from `other` (a rate beside its limit)."""
    if value is None or other is None or not math.isfinite(value) or not math.isfinite(other):
        return percent(value)
    return percent_beside(value, other)[0]


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


@register.filter(name="grouped")
def grouped_filter(value):
    """Write a count grouped as the reader's language groups digits (core.text.grouped), a count
    kept as a float (the fleet's gauges) as the whole number it is; anything else (a rate already
    written, a fraction, None) as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not value.is_integer():
        return value
    return grouped(round(value))


@register.filter
def index(values, position: int):
    """Return values[position], or "" past its end."""
    try:
        return values[position]
    except (IndexError, TypeError, KeyError):
        return ""


@register.filter
def cell_text(value) -> str:
    """Show an attribute's value as the export writes it and rules are written against: JSON."""
    return json_cell_text(value)


@register.filter
def heading_part(value) -> str:
    """Write a part of a page's heading: a name of the admin's own (an app's, a model's) with a
    capital, as unfold writes them; an object's own name (an address, "iPhone launch") as it is."""
    if isinstance(value, Model):
        return str(value)
    return capfirst(value)
