"""Reads of the send ledger."""

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep
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


def campaign_step_progress(*, campaign: Campaign) -> list[dict]:
    """Return, per step in order, its description and its contacts: waiting for it, queued, sent,
    skipped by its condition, exited there, and otherwise stopped (suppressed, failed, unknown)."""
    from delivery import drip

    steps = list(campaign.steps.select_related("template", "condition_step").order_by("order"))
    counts: dict[int, dict[str, int]] = {step.pk: {} for step in steps}
    rows = (
        StepExecution.objects.filter(step__campaign=campaign)
        .order_by()
        .values_list("step_id", "status")
        .annotate(n=Count("pk"))
    )
    for step_id, status, n in rows:
        counts[step_id][status] = n
    Status = StepExecution.Status
    progress = []
    for index, step in enumerate(steps):
        by_status = counts[step.pk]
        progress.append(
            {
                "step_id": step.pk,
                "order": step.order,
                "summary": step.summary(),
                "waiting": drip.waiting_count(step=step, previous=steps[index - 1]) if index else 0,
                "queued": by_status.get(Status.PENDING, 0) + by_status.get(Status.SENDING, 0),
                "sent": by_status.get(Status.SENT, 0),
                "skipped": by_status.get(Status.SKIPPED, 0),
                "exited": by_status.get(Status.EXITED, 0),
                "stopped": sum(
                    by_status.get(status, 0)
                    for status in (Status.SUPPRESSED, Status.FAILED, Status.UNKNOWN, Status.CANCELLED)
                ),
            }
        )
    return progress


QUEUE_STATUSES = (StepExecution.Status.PENDING, StepExecution.Status.SENDING, StepExecution.Status.UNKNOWN)


def ledger_queue_depth() -> dict[tuple[str, str], int]:
    """Count rows waiting or in flight, by (campaign or transactional, status).

    Campaign rows are counted through the claim index, step by step of the campaigns that can
    still send: no scan of a ledger of millions per scrape.
    """
    steps = CampaignStep.objects.filter(
        campaign__status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED]
    ).values("pk")
    depth = {(kind, status): 0 for kind in ("campaign", "transactional") for status in QUEUE_STATUSES}
    campaign_rows = (
        StepExecution.objects.filter(step_id__in=steps, status__in=QUEUE_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in campaign_rows:
        depth["campaign", status] = n
    messages = (
        StepExecution.objects.filter(message__isnull=False, status__in=QUEUE_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in messages:
        depth["transactional", status] = n
    return depth
