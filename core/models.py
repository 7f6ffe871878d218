"""Models every app shares: API keys, the fleet's metrics without Redis, and the bases of tallies and
of timestamped rows."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

# The tables keep their first names (campaigns_…): these models moved here from campaigns, where
# they were made, and renaming a table would lock it for nothing.

RATE_PATTERN = re.compile(r"([1-9][0-9]*)/(s|sec|second|m|min|minute|h|hour|d|day)")
RATE_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def validate_rate(value: str) -> None:
    """Reject rates that are not N/second, N/minute, N/hour or N/day."""
    if not RATE_PATTERN.fullmatch(value or ""):
        raise ValidationError(
            gettext("%(value)s is not a rate like 600/minute or 20/second.") % {"value": repr(value)}
        )


def rate_parse(value: str) -> tuple[int, int]:
    """Return (requests, seconds) of a rate such as 600/minute."""
    match = RATE_PATTERN.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a rate like 600/minute or 20/second.")
    return int(match[1]), RATE_PERIODS[match[2][0]]


def api_key_default_scopes() -> list[str]:
    """Return the scopes a new key starts with."""
    return sorted(str(scope) for scope in ApiKey.DEFAULT_SCOPES)


def validate_scopes(value) -> None:
    """Reject anything but a list of known scopes."""
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError(gettext("Scopes must be a list of scope names."))
    unknown = sorted(set(value) - set(ApiKey.Scope.values))
    if unknown:
        raise ValidationError(gettext("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(unknown)})


class ApiKey(AbstractAPIKey):
    """An integrator's key: stored hashed, revocable, optionally expiring, with its own rate limit
    and the scopes that say what it may do.

    It lives in core because every API, campaigns' and delivery's alike, authenticates with it and
    scopes idempotency codes by it.
    """

    class Scope(models.TextChoices):
        """What a key may do; each API operation needs one (docs/api.md#scopes)."""

        SEND = "send", _("Queue transactional messages")
        READ = (
            "read",
            _("Read contacts, lists, templates, campaigns, statistics, events and its own messages"),
        )
        AUDIENCE_WRITE = (
            "audience:write",
            _("Create, change and delete contacts, lists and segments; bulk upserts, imports"),
        )
        CAMPAIGNS_WRITE = "campaigns:write", _("Create, change and delete templates and campaigns; move them")
        SUPPRESSIONS_ADMIN = "suppressions:admin", _("Add addresses to the suppression list and remove them")

    #: What a new key may do unless its creator ticks more: send mail and follow it.
    DEFAULT_SCOPES = (Scope.SEND, Scope.READ)

    rate_limit = models.CharField(
        _("rate limit"),
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text=_("Requests allowed, e.g. 600/minute. Empty uses API_DEFAULT_RATE_LIMIT."),
    )
    #: The key's traffic is a load test's: contacts its messages create are load-test contacts, and
    #: `manage.py loadtest_cleanup` deletes its messages.
    is_load_test = models.BooleanField(
        _("load test"),
        default=False,
        db_default=False,
        help_text=_(
            "For load tests (manage.py loadtest, Artillery): contacts its messages create are "
            "hidden from marketers, and loadtest_cleanup deletes them and its messages."
        ),
    )

    #: The scopes (Scope values) it holds. Keys made before scopes existed hold them all.
    scopes = models.JSONField(
        _("scopes"),
        default=api_key_default_scopes,
        blank=True,
        validators=[validate_scopes],
        help_text=_("What the key may do. Give it only what the integration uses."),
    )

    class Meta(AbstractAPIKey.Meta):
        db_table = "campaigns_apikey"
        # The library's Meta names it in plain strings; a lazy one is what Django takes too.
        verbose_name = _("API key")  # type: ignore[assignment]
        verbose_name_plural = _("API keys")  # type: ignore[assignment]


class MetricSeries(models.Model):
    """One fleet-wide counter series (name and labels, as JSON) and its total, without Redis."""

    series = models.CharField(_("series"), max_length=500, primary_key=True)
    value = models.FloatField(_("value"), default=0)

    class Meta:
        db_table = "campaigns_metricseries"
        verbose_name = _("metric series")
        verbose_name_plural = _("metric series")

    def __str__(self) -> str:
        return f"{self.series} = {self.value}"


class MetricSnapshot(models.Model):
    """The fleet's counters as they stood at one minute: the dashboard's per-minute figures."""

    at = models.DateTimeField(_("at"), unique=True)
    #: {series: value}, as the metrics store holds them.
    values = models.JSONField(_("values"), default=dict)

    class Meta:
        db_table = "campaigns_metricsnapshot"
        ordering = ["-at"]
        verbose_name = _("metric snapshot")
        verbose_name_plural = _("metric snapshots")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M}"


class Tally(models.Model):
    """Counts a database trigger keeps as signed deltas, one row per change; summing a key's rows
    gives its count. `core.db.tally_compact` (beat, every minute) folds them."""

    n = models.BigIntegerField(_("n"))

    class Meta:
        abstract = True


class TimestampedModel(models.Model):
    """When a row was made and last saved."""

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
