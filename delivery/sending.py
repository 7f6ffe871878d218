"""Sending claimed rows through SES: one at a time or on a pool of threads, at the fleet's rate.

Each row's outcome is committed right after its call; when SES says "later", the rows it never got
go back to pending; when it stops all sending, a hold is placed."""

import logging
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic, sleep
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.exceptions import (
    TemplateRenderError,
)
from campaigns.mailable import contacts_mail_paused
from campaigns.models import Campaign, CampaignStep, Contact
from campaigns.rendering import CompiledTemplate, template_compile, template_render
from campaigns.selectors import campaign_audience_base
from campaigns.suppressions import addresses_suppressed
from core.addresses import email_canonical
from delivery import drip, metrics, throttle
from delivery.compose import (
    Envelope,
    step_execution_build_message,
    step_execution_envelope,
    step_execution_track_marks,
    step_execution_track_resolve,
    step_execution_unsubscribe_url,
)
from delivery.exceptions import (
    SenderInvalid,
    SesOutcomeUnknown,
    SesQuotaExhausted,
    SesRejected,
    SesRetryLater,
    SesSendingHalted,
    TooManyLinks,
)
from delivery.ledger import (
    claims_held,
    message_claim_batch,
    step_execution_claim_batch,
    step_execution_release,
    step_execution_settle,
    step_execution_start_send,
)
from delivery.models import SendingHold, StepExecution
from delivery.selectors import sending_hold_active
from delivery.ses import ses_backend, ses_send

logger = logging.getLogger(__name__)
Status = StepExecution.Status


def step_execution_deliver(
    *, execution: StepExecution, envelope: Envelope, compiled: CompiledTemplate
) -> str:
    """Render and send one claimed row, commit its outcome and return it.

    SesRetryLater propagates with the row untouched, for the caller to release.
    """
    unsubscribe_url = step_execution_unsubscribe_url(execution=execution) if execution.step_id else ""
    # Links are marked where the email is rendered (in the render sandbox), then resolved here.
    marks = step_execution_track_marks(execution=execution) if execution.step_id else None
    try:
        rendered = template_render(
            compiled=compiled,
            contact=execution.addressee,
            extra={
                **(execution.message.context if execution.message else {}),
                "unsubscribe_url": unsubscribe_url,
            },
            finish=marks,
        )
        if marks is not None:
            rendered = step_execution_track_resolve(execution=execution, rendered=rendered, marks=marks)
    except (TemplateRenderError, TooManyLinks) as exc:
        step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
        return Status.FAILED
    try:
        message = step_execution_build_message(
            execution=execution, envelope=envelope, rendered=rendered, unsubscribe_url=unsubscribe_url
        )
    except SenderInvalid as exc:
        step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
        return Status.FAILED
    lane = throttle.LANE_TRANSACTIONAL if execution.message_id is not None else throttle.LANE_BULK
    # The slot first, then the mark, then the call: a worker killed while it waits for its slot
    # leaves a row that plainly never reached SES (pending again after the lease), and the mark's
    # commit is the only step between it and the call.
    moment = throttle.send_slot_wait(lane=lane)
    if not step_execution_start_send(execution=execution):
        # Swept or cancelled while waiting for a slot: someone else decides this row now.
        logger.warning("Row %s was no longer claimed when its turn came; not sent.", execution.pk)
        return Status.SKIPPED
    while not throttle.send_slot_reach(moment=moment):
        # The commit stalled past the slot (rare): a late call could crowd a second, so take a
        # new slot. A kill now leaves a marked row SES never saw: unknown, then re-queued by the
        # resolution of unknown rows.
        moment = throttle.send_slot_wait(lane=lane)
    try:
        message_id = ses_send(message=message)
    except SesOutcomeUnknown as exc:
        step_execution_settle(execution=execution, status=Status.UNKNOWN, last_error=str(exc))
        return Status.UNKNOWN
    except SesRejected as exc:
        step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
        return Status.FAILED
    step_execution_settle(
        execution=execution,
        status=Status.SENT,
        ses_message_id=message_id,
        sent_at=timezone.now(),
        last_error="",
    )
    return Status.SENT


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    unknown: int = 0
    released: int = 0
    #: Rows of contacts taking a break, and rows lost to a sweep or a cancel while waiting for a
    #: send slot (not ours to settle).
    skipped: int = 0
    #: Failures since the batch's last success (SES rejections, render errors).
    failures_in_a_row: int = 0
    #: SES stopped all sending (daily quota, paused account): a hold is in place.
    held: bool = False
    #: Put off by the campaign's send window or the frequency cap: pending again, for later.
    postponed: int = 0


def _skip_paused(*, executions: list[StepExecution], result: BatchResult) -> list[StepExecution]:
    """Skip the claimed rows of contacts taking a break; return the others.

    Skipped, as the contact asked: never sent late, and a drip goes on past it once the break
    ends, as past a step whose condition left them out.
    """
    # When each fell due: a later step's row is made when the drip advances, maybe long after.
    dues = [(row.addressee, row.due_at or row.not_before or row.created_at) for row in executions]
    kept = []
    for execution, paused in zip(executions, contacts_mail_paused(dues=dues), strict=True):
        if paused:
            note = gettext("The contact paused their email.")
            step_execution_settle(execution=execution, status=Status.SKIPPED, last_error=note)
            metrics.EMAILS.inc(outcome="skipped")
            result.skipped += 1
        else:
            kept.append(execution)
    return kept


def _postpone_outside_limits(*, executions: list[StepExecution], result: BatchResult) -> list[StepExecution]:
    """Hand back, pending until their time, claimed rows outside their send window or over the cap.

    Return the rows to send now.
    """
    now = timezone.now()
    later = drip.frequency_cap_until(executions=executions, now=now)
    for row in executions:
        campaign = row.campaign_step.campaign
        if campaign.send_window_start or campaign.send_weekdays:
            opening = drip.send_window_next(campaign=campaign, tz_name=row.addressee.timezone, now=now)
            if opening is not None:
                later[row.pk] = max(opening, later.get(row.pk, opening))
    by_time: dict[datetime, list[int]] = {}
    for pk, moment in later.items():
        by_time.setdefault(moment, []).append(pk)
    claimed = {row.pk: row for row in executions}
    for moment, ids in by_time.items():
        StepExecution.objects.filter(claims_held([claimed[pk] for pk in ids])).update(
            status=Status.PENDING,
            not_before=moment,
            lease_expires_at=None,
            attempts=F("attempts") - 1,  # Not an attempt: nothing was tried.
            updated_at=now,
        )
    result.postponed = len(later)
    if later:
        metrics.EMAILS.inc(len(later), outcome="postponed")
    return [row for row in executions if row.pk not in later]


def _suppressed_emails(executions: list[StepExecution], *, marketing: bool) -> set[str]:
    """Return the rows' addresses the suppression list holds, as stored or in the address rule's form.

    A contact saved before the address rule (`"x"@example.com`, a Unicode domain) is stored in a
    form a suppression never is: SES reports its bounce in the rule's form.
    """
    forms = {row.email: _rule_form(row.email) for row in executions}
    # An erased address's kept bounce or complaint stops its mail too (a message to it under
    # another contact's user_id); an unsubscribe kept as a suppression stops campaigns only.
    found = addresses_suppressed(emails={*forms, *forms.values()}, marketing=marketing)
    return {stored for stored, ruled in forms.items() if stored in found or ruled in found}


def _rule_form(email: str) -> str:
    try:
        return email_canonical(email)
    except ValidationError:
        return email  # Refused by the rule: its email fails when built, with the reason.


def _addresses_refresh(executions: list[StepExecution]) -> None:
    """Point each campaign row at its contact's address now: the one it was queued for may have
    changed since (and may be someone else's by now). Checks and the email then use this one."""
    for row in executions:
        if row.contact is not None and row.contact.email != row.email:
            StepExecution.objects.filter(pk=row.pk).update(email=row.contact.email)
            row.email = row.contact.email


def _left_the_lists(executions: list[StepExecution]) -> set[int]:
    """Return the ids of the rows whose contact is no longer in its campaign's audience (left its
    lists on the unsubscribe page, taken off by staff, or matching none of its segments now): its
    campaign mails them no more."""
    by_step: dict[int | None, list[StepExecution]] = {}
    for row in executions:  # By step id (campaign rows all have one): no step is loaded for its campaign.
        by_step.setdefault(row.step_id, []).append(row)
    gone = set()
    for step_id, rows in by_step.items():
        campaign = Campaign.objects.get(steps=step_id)
        members = set(
            Contact.objects.filter(pk__in=[row.contact_id for row in rows])
            .filter(campaign_audience_base(campaign=campaign))
            .values_list("pk", flat=True)
        )
        gone |= {row.pk for row in rows if row.contact_id not in members}
    return gone


# An outcome for a row that was never started because SES asked to wait (another row's answer).
_NOT_STARTED = "not started"


def _send_one(*, execution: StepExecution, envelope: Envelope, compiled, stop: threading.Event | None = None):
    """Send one claimed row; return its status, _NOT_STARTED, or the SesRetryLater that stops the batch."""
    if stop is not None and stop.is_set():
        return _NOT_STARTED
    try:
        return step_execution_deliver(execution=execution, envelope=envelope, compiled=compiled)
    except TemplateRenderError as exc:
        step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
        return Status.FAILED
    except SesRetryLater as exc:
        if stop is not None:
            stop.set()
        return exc


_executor: tuple[int, ThreadPoolExecutor] | None = None


def _send_executor() -> ThreadPoolExecutor:
    """Return this process's pool of sending threads (SEND_CONCURRENCY), made on first use."""
    global _executor
    if _executor is None or _executor[0] != os.getpid():
        _executor = (os.getpid(), ThreadPoolExecutor(settings.SEND_CONCURRENCY, thread_name_prefix="send"))
    return _executor[1]


def send_executor_shutdown() -> None:
    """Close every sending thread's database connection and stop the pool (tests, shutdown)."""
    global _executor
    if _executor is None or _executor[0] != os.getpid():
        return
    pool, _executor = _executor[1], None
    # A barrier as wide as the pool makes each thread take exactly one of these.
    barrier = threading.Barrier(settings.SEND_CONCURRENCY)

    def close():
        barrier.wait(10)
        connection.close()

    for future in [pool.submit(close) for _ in range(settings.SEND_CONCURRENCY)]:
        future.result()
    pool.shutdown(wait=True)


def _send_one_in_thread(**kwargs):
    # Pool threads keep their own database connection between rows; drop one that went bad.
    close_old_connections()
    return _send_one(**kwargs)


def _send_claimed(*, executions: list[StepExecution], honour_unsubscribe: bool) -> BatchResult:
    """Send claimed rows, committing each outcome; on "later" from SES, release what was not sent.

    With SEND_CONCURRENCY above 1, that many SES calls are in flight at once from a pool of
    threads over the process's one SES client; the rate limiter still spaces every call.
    """
    result = BatchResult(claimed=len(executions))
    # Erased between its claim and this read: the erasure cancelled the row; nothing to send.
    executions = [execution for execution in executions if execution.contact is not None]
    left: set[int] = set()
    if honour_unsubscribe:  # Campaign mail: breaks, send windows and the frequency cap apply.
        # A break first: an email due during it is skipped, never put off past its end.
        executions = _skip_paused(executions=executions, result=result)
        executions = _postpone_outside_limits(executions=executions, result=result)
        _addresses_refresh(executions)
        left = _left_the_lists(executions)
    suppressed = _suppressed_emails(executions, marketing=honour_unsubscribe)
    compiled: dict[int, CompiledTemplate] = {}
    work: list[dict[str, Any]] = []
    for execution in executions:
        # Checked at claim time, not only when queued: an unsubscribe or bounce that arrived since
        # must still stop this email. Transactional mail heeds suppressions, not unsubscribes.
        unsubscribed = honour_unsubscribe and execution.addressee.status != Contact.Status.SUBSCRIBED
        if execution.email in suppressed or unsubscribed:
            step_execution_settle(execution=execution, status=Status.SUPPRESSED)
            metrics.EMAILS.inc(outcome="suppressed")
            result.suppressed += 1
            continue
        if execution.pk in left:
            step_execution_settle(
                execution=execution,
                status=Status.EXITED,
                last_error=drip.exit_note(drip.LEFT_THE_LISTS),
            )
            metrics.EMAILS.inc(outcome="suppressed")
            result.suppressed += 1
            continue
        envelope = step_execution_envelope(execution=execution)
        template = envelope.template
        try:
            if template.pk not in compiled:
                compiled[template.pk] = template_compile(template=template)
        except TemplateRenderError as exc:
            step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
            result.failed += 1
            result.failures_in_a_row += 1
            continue
        work.append({"execution": execution, "envelope": envelope, "compiled": compiled[template.pk]})
    if settings.SEND_CONCURRENCY > 1 and len(work) > 1:
        # Build the SES client before any slot is booked: ~90 ms spent inside the first call
        # would make the first calls leave together.
        ses_backend()
        stop = threading.Event()
        futures = [_send_executor().submit(_send_one_in_thread, **item, stop=stop) for item in work]
        outcomes = [future.result() for future in futures]
    else:
        outcomes = []
        for item in work:
            outcomes.append(_send_one(**item))
            if isinstance(outcomes[-1], SesRetryLater):
                break
        outcomes += [_NOT_STARTED] * (len(work) - len(outcomes))
    _tally(result=result, rows=[item["execution"] for item in work], outcomes=outcomes)
    return result


def _tally(*, result: BatchResult, rows: list[StepExecution], outcomes: list) -> None:
    """Count outcomes in row order, and hand back to pending every row SES never got."""
    later = next((outcome for outcome in outcomes if isinstance(outcome, SesRetryLater)), None)
    unsent = [
        row
        for row, outcome in zip(rows, outcomes, strict=True)
        if isinstance(outcome, SesRetryLater) or outcome == _NOT_STARTED
    ]
    for outcome in outcomes:
        if outcome in (Status.SENT, Status.FAILED, Status.UNKNOWN):
            metrics.EMAILS.inc(outcome=outcome)
        if outcome == Status.SENT:
            result.sent += 1
            result.failures_in_a_row = 0
        elif outcome == Status.SKIPPED:
            result.skipped += 1
        elif outcome == Status.UNKNOWN:
            result.unknown += 1
        elif outcome == Status.FAILED:
            result.failed += 1
            result.failures_in_a_row += 1
    if later is None:
        return
    # Nothing was sent for these: they go back for a later claim.
    step_execution_release(executions=unsent, reason=str(later))
    result.released += len(unsent)
    metrics.EMAILS.inc(len(unsent), outcome="released")
    if isinstance(later, SesQuotaExhausted | SesSendingHalted):
        sending_hold_place(error=later)
        result.held = True
    else:
        logger.warning("SES asked to retry later (%s); %s rows released.", later, len(unsent))


def sending_hold_place(*, error: SesRetryLater) -> SendingHold:
    """Stop all sending after SES said the daily quota is gone or sending is paused; alert."""
    if isinstance(error, SesQuotaExhausted):
        until = timezone.now() + timedelta(seconds=settings.SES_QUOTA_PAUSE_SECONDS)
        hold = SendingHold.objects.create(
            reason=SendingHold.Reason.DAILY_QUOTA, detail=str(error), until=until
        )
        logger.error("SES daily sending quota exhausted: all sending holds until %s. (%s)", until, error)
    else:
        hold = SendingHold.objects.create(reason=SendingHold.Reason.SES_HALTED, detail=str(error))
        logger.critical(
            "SES stopped sending (%s): all sending holds until the hold is deleted in the admin.", error
        )
    return hold


def step_send_batch(*, step: CampaignStep, size: int | None = None) -> BatchResult:
    """Claim one batch of a campaign step and send it."""
    executions = step_execution_claim_batch(step=step, size=size or settings.SEND_BATCH_SIZE)
    for execution in executions:
        execution.step = step
    return _send_claimed(executions=executions, honour_unsubscribe=True)


def message_send_batch(*, size: int | None = None) -> BatchResult:
    """Claim one batch of pending transactional messages and send it."""
    executions = message_claim_batch(size=size or settings.SEND_BATCH_SIZE)
    return _send_claimed(executions=executions, honour_unsubscribe=False)


def messages_send(*, budget_seconds: float) -> bool:
    """Send transactional batches for about budget_seconds; return whether work may remain."""
    deadline = monotonic() + budget_seconds
    throttled = 0
    while monotonic() < deadline:
        if sending_hold_active() is not None:
            return False
        result = message_send_batch()
        if result.held or not result.claimed:
            return False
        throttled = back_off_if_throttled(result=result, throttled=throttled, deadline=deadline)
    return True


# Waits after SES throttling: doubling from the first, capped, each scaled by a random 0.5–1.5 so
# workers throttled together do not come back together.
THROTTLE_BACKOFF_FIRST = 0.5

THROTTLE_BACKOFF_CAP = 16.0


def back_off_if_throttled(*, result: BatchResult, throttled: int, deadline: float) -> int:
    """Sleep with jitter after a throttled batch; return how many batches in a row were throttled."""
    if not result.released:
        return 0
    jitter = random.uniform(0.5, 1.5)  # noqa: S311 - spreads retries out; no secret here
    delay = min(THROTTLE_BACKOFF_FIRST * 2**throttled, THROTTLE_BACKOFF_CAP) * jitter
    sleep(max(0.0, min(delay, deadline - monotonic())))
    return throttled + 1
