"""The SES events inbox: SNS notifications the webhook stored, applied each in one transaction.

Applying an event reconciles its ledger row, climbs its outcome, suppresses the address as the
bounce class says, and runs the reputation guard.
"""

import json
import logging
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from time import monotonic
from uuid import UUID

import boto3
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.erasure import addresses_erased, erasures_hold_off
from campaigns.models import Contact, Suppression
from delivery import ledger as delivery_ledger
from delivery.models import StepExecution
from tracking import metrics
from tracking.bounces import (
    ACCOUNT_SUPPRESSED,
    BLOCK,
    HARD,
    SOFT,
    bounce_classify,
    recipient_suppress,
    soft_bounce_record,
)
from tracking.engagement import Engaged, engagement_add, engagement_outcomes_add
from tracking.erasure import event_anonymize, sns_message_redact
from tracking.events import EventFormatError, SesEvent, ses_events_from_record
from tracking.models import (
    SnsMessage,
    SoftBounceStreak,
    TrackingEvent,
)
from tracking.outcomes import complaint_counts, outcome_keys
from tracking.reputation import campaign_reputation_check, configuration_set_reputation_check
from tracking.sns import SnsEnvelope

logger = logging.getLogger(__name__)


# --- SES events through SNS -------------------------------------------------------------------


# How long a notification waiting for its ledger rows waits before it is tried again.
SNS_RETRY_DELAY = timedelta(seconds=15)
#: Tries a message the database refuses gets before it is set aside (applied, with its note).
SNS_STORE_ATTEMPTS = 5
#: How a message's note counts the database's refusals of it: "Could not be stored (2): …".
STORE_REFUSED = "Could not be stored"
#: How a waiting message's note says its suppressions were applied, at the end of it: staff may
#: remove one meanwhile, and a later attempt must not put it back.
SUPPRESSED_ONCE = "[suppressions applied]"


def _store_refusals(note: str) -> int:
    """Return how many times the database refused a message, as its note counts them."""
    match = re.match(rf"{STORE_REFUSED} \((\d+)\)", note)
    return int(match.group(1)) if match else 0


def _note(text: str, *, suppressed: bool) -> str:
    """Return a message's note, kept to its length, ending with SUPPRESSED_ONCE if `suppressed`."""
    if not suppressed:
        return text[:1000]
    return f"{text[: 1000 - len(SUPPRESSED_ONCE) - 1]} {SUPPRESSED_ONCE}"


class _LedgerNotYet(Exception):
    """An event's ledger row cannot be found yet: its SES MessageId may still be uncommitted."""


def sns_message_store(*, envelope: SnsEnvelope) -> bool:
    """Store a verified notification once, in one statement; return whether it is new.

    A redelivery (the same SNS MessageId) stores nothing. No broker message is sent: the stored
    row is the queue, which the apply tick reads every SNS_APPLY_SECONDS.
    """
    table = connection.ops.quote_name(SnsMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, topic_arn, message, received_at, attempts, note) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, 0, '') ON CONFLICT (message_id) DO NOTHING RETURNING id",
            [
                envelope.message_id,
                envelope.topic_arn,
                envelope.message,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        return cursor.fetchone() is not None


def sns_subscription_confirm(*, envelope: SnsEnvelope) -> str:
    """Confirm a subscription of an allowlisted topic through SNS's API; return its ARN.

    Never by fetching SubscribeURL: the API call goes to SNS in the topic's own region, whatever
    the message says, and AuthenticateOnUnsubscribe stops anyone unsubscribing us without AWS
    credentials.
    """
    client = boto3.client("sns", region_name=envelope.region, endpoint_url=settings.AWS_ENDPOINT_URL)
    answer = client.confirm_subscription(
        TopicArn=envelope.topic_arn, Token=envelope.token, AuthenticateOnUnsubscribe="true"
    )
    logger.info("Confirmed the SNS subscription to %s.", envelope.topic_arn)
    return answer["SubscriptionArn"]


def _ledger_row(*, event: SesEvent) -> StepExecution | None:
    rows = StepExecution.objects.select_related("step__campaign")
    if event.tracking_id:
        try:
            return rows.filter(tracking_id=UUID(event.tracking_id)).first()
        except ValueError:
            return None
    return rows.filter(ses_message_id=event.ses_message_id).first() if event.ses_message_id else None


def _event_suppress(*, event: SesEvent, kind: str) -> None:
    """Suppress the recipient if this event says so at once: a complaint (not a "not-spam" one), a
    hard bounce, or a bounce because the address is on SES's account list. Idempotent."""
    Type = TrackingEvent.Type
    detail = f"{event.bounce_type}/{event.bounce_subtype} {event.status} {event.diagnostic}".strip()
    if event.type == Type.COMPLAINT and complaint_counts(kind=kind):
        recipient_suppress(
            event=event, reason=Suppression.Reason.COMPLAINT, detail=event.complaint_type or "complaint"
        )
    elif event.type == Type.BOUNCE and kind == HARD:
        recipient_suppress(event=event, reason=Suppression.Reason.HARD_BOUNCE, detail=detail[:500])
    elif event.type == Type.BOUNCE and kind == ACCOUNT_SUPPRESSED:
        recipient_suppress(event=event, reason=Suppression.Reason.ACCOUNT_SUPPRESSION, detail=detail[:500])


def _event_kind(event: SesEvent) -> str:
    """Return a bounce's class, or a complaint's type: what the event's effects depend on."""
    return bounce_classify(event=event) if event.type == TrackingEvent.Type.BOUNCE else event.complaint_type


def _event_effects(
    *, event: SesEvent, kind: str, row: StepExecution | None, erased: bool, suppress: bool
) -> None:
    """Apply one new event to the ledger, the suppression list and the soft-bounce streaks;
    `erased`: its recipient was erased, so no streak names them; `suppress`: False once its
    message's suppressions were applied while it waited for its row."""
    Type, Outcome = TrackingEvent.Type, StepExecution.Outcome
    # Any event SES sends of an email it took says so (a Send or Delivery, and a bounce, complaint,
    # delay or rejection just as well; not a rendering failure, which SES sends of mail it did not
    # send): an `unknown` row is sent. Only a row found by a well-formed tag (_ledger_row) settles,
    # and its send time is when its call began, not when the event happened.
    if row is not None and event.ses_message_id and event.type != Type.RENDERING_FAILURE:
        accepted_at = (
            event.occurred_at if event.type == Type.SEND else row.send_started_at or event.occurred_at
        )
        delivery_ledger.step_execution_reconcile(
            tracking_id=row.tracking_id, ses_message_id=event.ses_message_id, accepted_at=accepted_at
        )
    if event.type == Type.COMPLAINT and not complaint_counts(kind=kind):
        # The recipient said it is NOT spam: kept on record, but no complaint, so no outcome, no
        # suppression and no reputation check (outcomes.complaint_counts).
        return
    outcomes: dict[str, str] = {
        Type.DELIVERY_DELAY: Outcome.DELAYED,
        Type.DELIVERY: Outcome.DELIVERED,
        Type.REJECT: Outcome.REJECTED,
        Type.BOUNCE: Outcome.BOUNCED,
        Type.COMPLAINT: Outcome.COMPLAINED,
    }
    outcome = outcomes.get(event.type)
    if outcome and row is not None and not (event.type == Type.BOUNCE and kind == BLOCK):
        delivery_ledger.step_execution_record_outcome(execution_id=row.pk, outcome=outcome)
    if suppress:
        _event_suppress(event=event, kind=kind)
    if event.type == Type.DELIVERY:
        SoftBounceStreak.objects.filter(email=event.recipient).update(count=0)
    elif event.type == Type.BOUNCE and kind == SOFT and not erased:
        soft_bounce_record(event=event)
    elif event.type in (Type.OPEN, Type.CLICK) and row is not None:  # SES's own open and click tracking
        engagement_add(engaged=[Engaged(row.pk, event.type, False, None, event.occurred_at)])
    if event.type in (Type.BOUNCE, Type.COMPLAINT):
        if row is not None and row.step is not None:
            campaign_reputation_check(campaign=row.step.campaign)
        if event.configuration_set:
            configuration_set_reputation_check(name=event.configuration_set)


#: What SES reports at most once of each email and recipient, whoever publishes it.
_ONCE_PER_EMAIL = (TrackingEvent.Type.SEND, TrackingEvent.Type.DELIVERY)


_EVENT_FIELDS = (
    "type",
    "occurred_at",
    "recipient",
    "step_execution",
    "ses_message_id",
    "configuration_set",
    "kind",
    "raw",
)


def _addresses_gone(events: list[SesEvent]) -> set[str]:
    """Return the recipients of these events that were erased and that no contact holds again."""
    erased = addresses_erased(emails={event.recipient for event in events})
    return erased - set(Contact.objects.filter(email__in=erased).values_list("email", flat=True))


def _event_apply(
    *, event: SesEvent, message: SnsMessage, now: datetime, gone: set[str], suppress: bool
) -> bool:
    if settings.SES_ACCOUNT_ID and event.sending_account_id not in ("", settings.SES_ACCOUNT_ID):
        logger.warning("Event for SES account %s ignored: not ours.", event.sending_account_id)
        return False
    row = _ledger_row(event=event)
    waited = now - message.received_at
    if row is None and not event.tracking_id and waited < timedelta(seconds=settings.SES_EVENT_WAIT_SECONDS):
        # Identity notifications carry no tags: the row is found by MessageId, which the sender
        # commits just after SES answers, and SES's event may come first.
        raise _LedgerNotYet(f"No ledger row has SES MessageId {event.ses_message_id} yet.")
    if event.type in _ONCE_PER_EMAIL and event.ses_message_id and row is not None:
        # An email is sent and delivered once: the same news from a second publisher (an identity's
        # notifications beside a configuration set's events) is not a second event. Its row is
        # locked first, so two workers applying both copies at once see each other's; a copy kept
        # unlinked (its row found late) does not stand in for this linked one.
        StepExecution.objects.select_for_update().filter(pk=row.pk).values_list("pk").first()
        told = TrackingEvent.objects.filter(
            ses_message_id=event.ses_message_id,
            recipient=event.recipient,
            type=event.type,
            step_execution=row,
        )
        if told.exists():
            return False
    kind = _event_kind(event)
    recorded = TrackingEvent(
        event_id=f"{message.message_id}:{event.recipient}:{event.type}"[:200],
        type=event.type,
        occurred_at=event.occurred_at,
        recipient=event.recipient,
        step_execution=row,
        ses_message_id=event.ses_message_id,
        configuration_set=event.configuration_set[:64],
        kind=kind[:32],
        raw={k: v for k, v in asdict(event).items() if v not in ("", {}, None) and k != "occurred_at"},
    )
    erased = (row is not None and row.erased) or event.recipient in gone
    if erased:
        # News of an email whose recipient was erased since: counted, but who it was is not kept.
        event_anonymize(recorded)
        sns_message_redact(message=message, email=event.recipient)
        message.save(update_fields=["message"])
    _event, created = TrackingEvent.objects.get_or_create(
        event_id=recorded.event_id,
        defaults={field: getattr(recorded, field) for field in _EVENT_FIELDS},
    )
    if created:  # A second delivery of the same message changes nothing.
        # Counted first: the reputation guard, among the effects, judges the counters.
        keys = outcome_keys(event_type=event.type, kind=kind)
        if row is not None and keys:
            engagement_outcomes_add(outcomes=[(row.pk, key) for key in keys])
        _event_effects(event=event, kind=kind, row=row, erased=erased, suppress=suppress)
    return created


def _events_suppress(*, events: list[SesEvent], message: SnsMessage) -> None:
    """Suppress the recipients the events say to at once, before their ledger rows are found."""
    for event in events:
        try:
            with transaction.atomic():  # One address the database refuses spares the others.
                _event_suppress(event=event, kind=_event_kind(event))
        except DataError:
            logger.warning("SNS message %s: %s not suppressed.", message.message_id, event.recipient)


def sns_message_apply(*, message_id: int, now: datetime | None = None) -> bool:
    """Apply a stored notification's events; return False if it must wait for its ledger rows.

    One transaction per message: its events are applied all or none. Idempotent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Before any row lock, as an erasure takes it: its recipients' erasure is settled meanwhile.
        erasures_hold_off()
        message = (
            # Another worker applying it right now: theirs to finish.
            SnsMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, applied_at__isnull=True)
            .first()
        )
        if message is None:
            return True  # Applied already: a task delivered twice.
        message.attempts += 1
        try:
            events = ses_events_from_record(json.loads(message.message))
        except (ValueError, OverflowError, RecursionError, EventFormatError) as exc:
            logger.warning("SNS message %s is not an SES event we can read: %s", message.message_id, exc)
            message.applied_at, message.note = now, f"Not an SES event record: {exc}"[:1000]
            message.save(update_fields=["attempts", "applied_at", "note"])
            return True
        gone = _addresses_gone(events)
        suppressed = message.note.endswith(SUPPRESSED_ONCE)  # While it waited for its ledger rows.
        try:
            with transaction.atomic():
                applied = [
                    event.type
                    for event in events
                    if _event_apply(event=event, message=message, now=now, gone=gone, suppress=not suppressed)
                ]
        except _LedgerNotYet as exc:
            # Only the link to the ledger row waits: a complaint or hard bounce stops the next
            # email to the address now (another account's events never get here). Once: the note
            # tells later attempts, and the event's own application, not to put back what staff
            # removed meanwhile.
            if not suppressed:
                _events_suppress(events=events, message=message)
            message.note = _note(str(exc), suppressed=True)
            message.retry_at = now + SNS_RETRY_DELAY
            message.save(update_fields=["attempts", "note", "retry_at"])
            return False
        except DatabaseError as exc:
            # One message the database refuses must not hold up the others behind it (they are
            # applied oldest first): it waits; refused SNS_STORE_ATTEMPTS times for what it holds
            # (not for a passing failure, such as a deadlock), it is set aside, noted.
            logger.warning("SNS message %s could not be stored: %s", message.message_id, exc)
            refusals = _store_refusals(message.note) + isinstance(exc, (DataError, IntegrityError))
            if refusals >= SNS_STORE_ATTEMPTS:
                logger.error("SNS message %s set aside after %s refusals.", message.message_id, refusals)
                message.applied_at = now
            message.note = _note(f"{STORE_REFUSED} ({refusals}): {exc}", suppressed=suppressed)
            message.retry_at = now + SNS_RETRY_DELAY * max(refusals, 1)
            message.save(update_fields=["attempts", "applied_at", "note", "retry_at"])
            return True
        message.applied_at, message.note = now, ""
        message.save(update_fields=["attempts", "applied_at", "note"])
    for kind in applied:
        metrics.SES_EVENTS.inc(type=kind)
    return True


def sns_messages_pending(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Return stored notifications to apply now, oldest first; those waiting for rows when due."""
    now = now or timezone.now()
    unapplied = SnsMessage.objects.filter(applied_at__isnull=True).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    return list(unapplied.order_by("received_at").values_list("pk", flat=True)[:limit])


def sns_messages_apply(*, budget_seconds: float) -> int:
    """Apply pending notifications for up to budget_seconds; return how many were applied."""
    deadline = monotonic() + budget_seconds
    applied = 0
    while monotonic() < deadline:
        batch = sns_messages_pending(limit=200)
        if not batch:
            break
        for message_id in batch:
            applied += sns_message_apply(message_id=message_id)
            if monotonic() >= deadline:
                break
    return applied


# --- Reputation guard --------------------------------------------------------------------------


# --- SES account-level suppression list --------------------------------------------------------


# --- Opens and clicks ---------------------------------------------------------------------------


# --- Engagement counters ------------------------------------------------------------------------


# --- CloudWatch ---------------------------------------------------------------------------------


# --- Alerts -------------------------------------------------------------------------------------
