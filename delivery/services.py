"""Delivery's orchestration: start due campaigns, send them batch by batch, complete them, retry.

The parts it drives each have a module: `fan_out` (rows for the audience), `ledger` (claims and
outcomes), `compose` (the email), `sending` (SES at the fleet's rate), `messages` (the API's
transactional mail). The ledger, not Celery, decides who gets mail.
"""

import contextlib
import logging
from datetime import datetime, timedelta
from time import monotonic

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from redis.exceptions import RedisError

from campaigns import services as campaign_services
from campaigns.exceptions import (
    CampaignNotReady,
    CampanileError,
    InvalidTransition,
)
from campaigns.models import Campaign, CampaignStep
from campaigns.selectors import campaign_list_due
from campaigns.services import SYSTEM, Actor
from delivery import drip
from delivery.fan_out import campaign_enroll_new, step_fan_out_chunk
from delivery.ledger import step_execution_sweep_stalled, step_executions_release_claimed
from delivery.models import StepExecution
from delivery.selectors import campaign_list_sending, sending_hold_active, step_execution_counts
from delivery.sending import BatchResult, back_off_if_throttled, messages_send, step_send_batch

logger = logging.getLogger(__name__)

Status = StepExecution.Status


def campaign_dispatch(*, campaign: Campaign) -> None:
    """Start a due campaign: mark it sending; its send task then fans out and sends.

    A campaign edited into an unsendable shape after it was scheduled (steps removed, template
    broken) is paused instead, so it waits for the marketer rather than failing every tick.
    """
    try:
        campaign_services.campaign_check_ready(campaign=campaign)
    except CampaignNotReady as exc:
        campaign_services.campaign_pause(campaign=campaign, note=f"Could not start: {exc}"[:300])
        raise
    campaign_services.campaign_start(campaign=campaign)
    logger.info("Campaign %s started.", campaign.pk)


def campaign_complete_if_done(*, campaign: Campaign) -> bool:
    """Complete a sending campaign once no row is pending or in flight and no contact waits for a
    later step; return whether it did. An evergreen campaign never completes by itself."""
    if campaign.audience_mode == Campaign.Audience.EVERGREEN:
        return False
    first = campaign.steps.order_by("order").first()
    if first is not None and first.fanned_out_at is None:
        return False  # Rows may still be coming.
    counts = step_execution_counts(campaign=campaign)
    if counts.get(Status.PENDING, 0) or counts.get(Status.SENDING, 0):
        return False
    if drip.campaign_waiting(campaign=campaign):
        return False  # Contacts are between steps.
    try:
        campaign_services.campaign_complete(campaign=campaign)
    except InvalidTransition:  # Paused or cancelled meanwhile: not ours to complete.
        return False
    logger.info("Campaign %s completed: %s", campaign.pk, counts)
    return True


def _campaign_heartbeat(*, campaign: Campaign, stale_before: datetime | None = None) -> bool:
    """Record that a send task is alive; with stale_before, only if the last beat is older.

    The conditional UPDATE makes "start a send task for this campaign" a race two ticks cannot
    both win.
    """
    rows = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING)
    if stale_before is not None:
        rows = rows.filter(Q(send_heartbeat_at__isnull=True) | Q(send_heartbeat_at__lt=stale_before))
    return bool(rows.update(send_heartbeat_at=timezone.now()))


def _campaign_heartbeat_release(*, campaign: Campaign) -> None:
    """Say no send task is running for this campaign, so the next tick starts one."""
    Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(send_heartbeat_at=None)


def campaign_send(*, campaign: Campaign, budget_seconds: float) -> bool:
    """Send batches of a sending campaign for about budget_seconds; return whether work remains.

    Stops early when the campaign is paused or cancelled (in-flight rows finish, nothing new is
    claimed) and when SES asks to slow down (the next tick picks the campaign up again).
    """
    deadline = monotonic() + budget_seconds
    steps = list(campaign.steps.select_related("campaign", "template").order_by("order"))
    if not steps:
        logger.error("Campaign %s is sending but has no step; nothing to send.", campaign.pk)
        return False
    step = steps[0]
    while step.fanned_out_at is None:
        # Fan-out first, range by range; sending the rows made so far waits until it is done, so
        # the campaign cannot look finished half-way.
        if not _campaign_heartbeat(campaign=campaign):
            return False
        if step_fan_out_chunk(step=step):
            step.refresh_from_db(fields=["fanned_out_at"])
        elif monotonic() >= deadline:
            return True
    if campaign.audience_mode == Campaign.Audience.EVERGREEN:
        campaign_enroll_new(campaign=campaign)
    if len(steps) > 1:
        drip.campaign_advance(campaign=campaign)
    throttled = failures_in_a_row = 0
    while monotonic() < deadline:
        if sending_hold_active() is not None:
            _campaign_heartbeat_release(campaign=campaign)  # The tick restarts it once the hold lifts.
            return False
        if not _campaign_heartbeat(campaign=campaign):
            return False  # No longer sending: paused, cancelled or completed.
        result = _campaign_send_batch(steps=steps)
        if result.held:
            _campaign_heartbeat_release(campaign=campaign)
            return False
        if not result.claimed:
            break
        # Failures after the batch's last success, plus, if it had none, those before it.
        failures_in_a_row = result.failures_in_a_row + (0 if result.sent else failures_in_a_row)
        if failures_in_a_row >= settings.SEND_MAX_CONSECUTIVE_ERRORS:
            _campaign_pause_for_errors(campaign=campaign, failures=failures_in_a_row)
            return False
        throttled = back_off_if_throttled(result=result, throttled=throttled, deadline=deadline)
    else:
        return True
    if not campaign_complete_if_done(campaign=campaign):
        # Nothing to send now, but contacts wait for a later step, a send window or joiners: the
        # next tick starts a send task again, so a step falls due within a tick, not two budgets.
        _campaign_heartbeat_release(campaign=campaign)
    return False


def delivery_round(*, campaign_id: int | None, budget_seconds: float) -> bool:
    """Run one send task for about budget_seconds: a campaign's batches, or with no campaign the
    transactional messages; return whether work remains (a campaign's task is then queued again).

    The Celery tasks and `manage.py send_worker` both run their sending through this, so the load
    test, which runs send_worker, exercises the path production takes.
    """
    if campaign_id is None:
        return messages_send(budget_seconds=budget_seconds)
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        logger.warning("Campaign %s no longer exists; nothing to send.", campaign_id)
        return False
    try:
        return campaign_send(campaign=campaign, budget_seconds=budget_seconds)
    except (DatabaseError, RedisError):
        # The send task dies with its dependency. Hand back what it held and say no task runs,
        # so the first tick after the outage starts another, not one two budgets later.
        with contextlib.suppress(DatabaseError, RedisError):
            step_executions_release_claimed(reason="Its send task lost the database or Redis; queued again.")
            _campaign_heartbeat_release(campaign=campaign)
        raise


def _campaign_send_batch(*, steps: list[CampaignStep]) -> BatchResult:
    """Send one batch from the first step, in order, that has rows to send now."""
    for step in steps:
        result = step_send_batch(step=step)
        if result.claimed:
            return result
    return BatchResult()


def _campaign_pause_for_errors(*, campaign: Campaign, failures: int) -> None:
    """Pause a campaign whose last emails all failed: something is wrong beyond one address."""
    note = f"Paused itself after {failures} failures in a row; see its failed rows, fix, then resume."
    try:
        campaign_services.campaign_pause(campaign=campaign, note=note)
    except InvalidTransition:
        return  # Paused or cancelled meanwhile.
    logger.error(
        "Campaign %s paused itself after %s failures in a row; see its failed rows, fix, then resume.",
        campaign.pk,
        failures,
    )


def delivery_tick(*, now: datetime | None = None) -> list[int]:
    """Do the periodic work; return the ids of campaigns that need a send task started.

    Sweeps stalled claims, starts due campaigns, completes finished ones, and restarts sending
    for campaigns whose send task has gone quiet (lost message, killed worker).
    """
    now = now or timezone.now()
    requeued, unknown = step_execution_sweep_stalled(now=now)
    if requeued or unknown:
        logger.warning("Stalled claims: %s rows queued again, %s rows now unknown.", requeued, unknown)
    for campaign in campaign_list_due(now=now):
        late = now - campaign.scheduled_at if campaign.scheduled_at else timedelta(0)
        if settings.CAMPAIGN_LATE_START_SECONDS and late > timedelta(
            seconds=settings.CAMPAIGN_LATE_START_SECONDS
        ):
            # Found long after its time (workers were down): mail that late may be wrong (a sale
            # that ended, "tomorrow" that was yesterday), so a person decides.
            hours = late.total_seconds() / 3600
            note = f"Found {hours:.1f} h past its schedule (were the workers down?); resume it to send now."
            campaign_services.campaign_pause(campaign=campaign, note=note)
            logger.warning("Campaign %s: %s", campaign.pk, note)
            continue
        try:
            campaign_dispatch(campaign=campaign)
        except CampanileError as exc:
            logger.error("Campaign %s could not start: %s", campaign.pk, exc)
    hold = sending_hold_active(now=now)
    if hold is not None:
        logger.warning("Sending is on hold: %s.", hold)
        return []
    stale_before = now - timedelta(seconds=2 * settings.SEND_TASK_BUDGET_SECONDS)
    to_send = []
    for campaign in campaign_list_sending():
        if campaign_complete_if_done(campaign=campaign):
            continue
        if _campaign_heartbeat(campaign=campaign, stale_before=stale_before):
            to_send.append(campaign.pk)
    return to_send


# --- Transactional messages -----------------------------------------------------------------------


#: The campaigns whose failed or unknown rows may go back to the queue (a completed one reopens).
REQUEUE_CAMPAIGN_STATUSES = (Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED)


def step_executions_requeue(
    *, rows: QuerySet[StepExecution], status: str, note: str = "", actor: Actor = SYSTEM
) -> int:
    """Put the rows of `status` (failed or unknown) among these back in their queues; return how
    many. Completed campaigns among theirs reopen; transactional rows go back to the dispatcher.

    With a note, each campaign touched gets an audit entry saying how many rows and why, and the
    rows keep the note as their last error.
    """
    if status not in (Status.FAILED, Status.UNKNOWN):
        raise ValueError(f"Only failed or unknown rows are re-queued, not {status}.")
    with transaction.atomic():
        # An erased contact's rows have no one to go to: they stay as they are.
        chosen = rows.filter(status=status, contact__isnull=False)
        per_campaign = dict(
            chosen.exclude(step=None).values_list("step__campaign").annotate(n=Count("pk")).order_by()
        )
        closed = Campaign.objects.filter(pk__in=per_campaign).exclude(status__in=REQUEUE_CAMPAIGN_STATUSES)
        if closed.exists():
            names = ", ".join(f"“{campaign.name}” ({campaign.get_status_display()})" for campaign in closed)
            raise InvalidTransition(gettext("Nothing to re-queue in %(campaigns)s.") % {"campaigns": names})
        fields: dict = {"status": Status.PENDING, "lease_expires_at": None, "updated_at": timezone.now()}
        if status == Status.UNKNOWN:
            fields["send_started_at"] = None
        if note:
            fields["last_error"] = note
        moved = chosen.update(**fields)
        for campaign in Campaign.objects.filter(pk__in=per_campaign):
            said = f"{per_campaign[campaign.pk]} {status} rows queued again: {note}" if note else ""
            if campaign.status == Campaign.Status.COMPLETED:
                campaign_services.campaign_reopen(campaign=campaign, note=said, actor=actor)
            elif said:
                campaign_services.campaign_audit_record(
                    campaign=campaign, action=f"requeue_{status}", note=said, actor=actor
                )
    return moved


def step_executions_retry(*, rows: QuerySet[StepExecution]) -> int:
    """Put the failed ones of these rows back in their queues; return how many. Completed
    campaigns among theirs reopen; transactional rows go back to the dispatcher.

    Only `failed` rows move: `unknown` rows may have been delivered and wait for SES events.
    """
    return step_executions_requeue(rows=rows, status=Status.FAILED)


def campaign_retry_failed(*, campaign: Campaign) -> int:
    """Put a campaign's failed rows back in its queue; return how many. A completed campaign reopens."""
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED):
        said = gettext("Campaign “%(name)s” has the status %(status)s: there is nothing to retry.")
        raise InvalidTransition(said % {"name": campaign.name, "status": campaign.get_status_display()})
    return step_executions_retry(rows=StepExecution.objects.filter(step__campaign=campaign))


#: Why a person re-queues unknown rows, in their audit entries and last errors.
REQUEUE_UNKNOWN_NOTE = (
    "Re-queued by {actor} without proof that SES never took them (calls begun over {minutes} min "
    "ago): a few recipients may get the email twice."
)


#: The furthest back a re-queue may reach: further than any row can be, and within date arithmetic.
REQUEUE_MAX_AGE = timedelta(days=3650)


def campaign_requeue_unknown(*, campaign: Campaign, older_than: timedelta, actor: Actor = SYSTEM) -> int:
    """Put a campaign's unknown rows whose call began over `older_than` ago back in its queue.

    For configuration sets without Send events, where silence proves nothing: SES may have taken
    some of these emails, so a person accepts that a few may go twice. Returns how many moved.
    """
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED):
        said = gettext("Campaign “%(name)s” has the status %(status)s: there is nothing to re-queue.")
        raise InvalidTransition(said % {"name": campaign.name, "status": campaign.get_status_display()})
    minutes = int(older_than.total_seconds() // 60)
    rows = StepExecution.objects.filter(
        step__campaign=campaign, send_started_at__lt=timezone.now() - older_than
    )
    note = REQUEUE_UNKNOWN_NOTE.format(actor=actor.name, minutes=minutes)
    return step_executions_requeue(
        rows=rows, status=Status.UNKNOWN, note=note[0].upper() + note[1:], actor=actor
    )


# --- Test sends -----------------------------------------------------------------------------------
