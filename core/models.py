"""Models every app shares: API keys, the fleet's metrics without Redis, and the tallies' base."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

# The tables keep their first names (campaigns_…): these models moved here from campaigns, where
# they were made, and renaming a table would lock it for nothing.

RATE_PATTERN = re.compile(r"([1-9][0-9]*)/(s|sec|second|m|min|minute|h|hour|d|day)")
RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def validate_rate(value: str) -> None:
    """Reject rates that are not N/second, N/minute, N/hour or N/day."""
    if not RATE_PATTERN.fullmatch(value or ""):
        raise ValidationError(f"{value!r} is not a rate like 600/minute or 20/second.")


def rate_parse(value: str) -> tuple[int, int]:
    """Return (requests, seconds) of a rate such as 600/minute."""
    match = RATE_PATTERN.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a rate like 600/minute or 20/second.")
    return int(match[1]), RATE_PERIODS[match[2][0]]


class ApiKey(AbstractAPIKey):
    """An integrator's key: stored hashed, revocable, optionally expiring, with its own rate limit.

    It lives in core because every API, campaigns' and delivery's alike, authenticates with it and
    scopes idempotency codes by it.
    """

    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text="Requests allowed, e.g. 600/minute. Empty uses API_DEFAULT_RATE_LIMIT.",
    )
    #: The key's traffic is a load test's: contacts its messages create are load-test contacts, and
    #: `manage.py loadtest_cleanup` deletes its messages.
    is_load_test = models.BooleanField(
        "load test",
        default=False,
        db_default=False,
        help_text="For load tests (manage.py loadtest, Artillery): contacts its messages create are "
        "hidden from marketers, and loadtest_cleanup deletes them and its messages.",
    )

    class Meta(AbstractAPIKey.Meta):
        db_table = "campaigns_apikey"
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class MetricSeries(models.Model):
    """One fleet-wide counter series (name and labels, as JSON) and its total, without Redis."""

    series = models.CharField(max_length=500, primary_key=True)
    value = models.FloatField(default=0)

    class Meta:
        db_table = "campaigns_metricseries"

    def __str__(self) -> str:
        return f"{self.series} = {self.value}"


class MetricSnapshot(models.Model):
    """The fleet's counters as they stood at one minute: the dashboard's per-minute figures."""

    at = models.DateTimeField(unique=True)
    #: {series: value}, as the metrics store holds them.
    values = models.JSONField(default=dict)

    class Meta:
        db_table = "campaigns_metricsnapshot"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M}"


class Tally(models.Model):
    """Counts a database trigger keeps as signed deltas, one row per change; summing a key's rows
    gives its count. `core.db.tally_compact` (beat, every minute) folds them."""

    n = models.BigIntegerField()

    class Meta:
        abstract = True
