"""Reads of the send ledger."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from delivery.models import SendingHold, StepExecution


def step_execution_counts(*, campaign: Campaign) -> dict[str, int]:
    """Return the number of ledger rows of a campaign in each status."""
    rows = (
        StepExecution.objects.filter(step__campaign=campaign)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return dict(rows)


def campaign_list_sending() -> QuerySet[Campaign]:
    """Return campaigns currently in the sending status."""
    return Campaign.objects.filter(status=Campaign.Status.SENDING).order_by("pk")


def sending_hold_active(*, now: datetime | None = None) -> SendingHold | None:
    """Return the hold that stops all sending now, if any."""
    now = now or timezone.now()
    return SendingHold.objects.filter(Q(until__isnull=True) | Q(until__gt=now)).first()
