"""Fan-out: one pending ledger row per recipient of a step, made by INSERT … SELECT in the database."""

from datetime import datetime
from time import monotonic

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep, Contact
from campaigns.selectors import campaign_audience
from delivery import metrics
from delivery.ledger import ledger_columns, rows_insert_select
from delivery.models import StepExecution

# Contact ids one fan-out statement covers: each range commits on its own, so a fan-out of
# millions shows progress, holds no long transaction and resumes where it stopped.
FAN_OUT_CHUNK = 50_000


def _queued(rows: int) -> int:
    if rows:
        metrics.QUEUED.inc(rows, kind="campaign")
    return rows


def _fan_out_range(*, step: CampaignStep, after: int, through: int, now: datetime) -> int:
    """Insert pending rows for the step's audience with contact ids in (after, through]; one statement."""
    audience = campaign_audience(campaign=step.campaign, id_range=(after, through))
    # Each range is inserted once (the step's lock and cursor see to it).
    return _queued(
        rows_insert_select(
            source=audience, columns=ledger_columns(step_id=step.pk, now=now), plain_first=True
        )
    )


def step_fan_out_chunk(*, step: CampaignStep, size: int = FAN_OUT_CHUNK) -> bool:
    """Fan out the step's next range of contact ids and commit it; return whether all are done.

    The audience is fixed when the fan-out begins: contacts created later are not included. Two
    callers at once queue on the step's row lock, and the unique (step, contact) index keeps any
    row from being made twice.
    """
    now = timezone.now()
    with transaction.atomic():
        step = CampaignStep.objects.select_related("campaign").select_for_update(of=("self",)).get(pk=step.pk)
        if step.fanned_out_at is not None:
            return True
        if step.fan_out_until is None:
            step.fan_out_until = Contact.objects.aggregate(last=Max("pk"))["last"] or 0
        through = min(step.fan_out_cursor + size, step.fan_out_until)
        if through > step.fan_out_cursor:
            _fan_out_range(step=step, after=step.fan_out_cursor, through=through, now=now)
        step.fan_out_cursor = through
        if through >= step.fan_out_until:
            step.fanned_out_at = now
        step.save(update_fields=["fan_out_until", "fan_out_cursor", "fanned_out_at"])
    return step.fanned_out_at is not None


def step_fan_out(*, step: CampaignStep, deadline: float | None = None) -> int:
    """Fan the step out to the end, or until `deadline` (monotonic); return how many rows it has.

    Idempotent and resumable: it carries on from the last committed range.
    """
    while not step_fan_out_chunk(step=step):
        if deadline is not None and monotonic() >= deadline:
            break
    return StepExecution.objects.filter(step=step).count()


def campaign_enroll_new(*, campaign: Campaign, now: datetime | None = None) -> int:
    """Start contacts who joined an evergreen campaign's audience since it began at its first step.

    One INSERT … SELECT over the audience; the unique (step, contact) index skips those already in.
    """
    now = now or timezone.now()
    first = campaign.steps.order_by("order").first()
    if first is None or first.fanned_out_at is None:
        return 0  # The fan-out takes everyone who is there when it runs.
    audience = campaign_audience(campaign=campaign).exclude(
        Exists(StepExecution.objects.filter(step=first, contact_id=OuterRef("pk")))
    )
    return _queued(rows_insert_select(source=audience, columns=ledger_columns(step_id=first.pk, now=now)))
