"""Settling `unknown` rows: those SES demonstrably never took go back to `pending`.

A row is `unknown` when its SES call began and no answer came back (a timeout, a dropped
connection, a worker killed mid-call). SES has no idempotency token, so sending it again blindly
could mail the person twice. SES's Send events settle most such rows as sent (inbox.py). Silence
settles the rest, but only where it proves something: the row's configuration set publishes Send
events to our webhook, the resolution window has passed, and Send events have since arrived for
rows whose calls began after it. A stalled SNS subscription or a webhook outage brings no later
Send events, so it can never cause a re-send.
"""

import logging
import re
from collections import defaultdict
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from campaigns.exceptions import InvalidTransition
from delivery.compose import configuration_set_of
from delivery.models import StepExecution
from delivery.services import REQUEUE_CAMPAIGN_STATUSES, step_executions_requeue
from tracking.models import SendEventsCheck, SnsMessage, TrackingEvent
from tracking.ses_account import sesv2_client

logger = logging.getLogger(__name__)

Status = StepExecution.Status

#: How long SESv2's answer about a configuration set's event destinations is trusted.
SEND_EVENTS_RECHECK = timedelta(hours=1)

RESOLVED_NOTE = (
    "No Send event {seconds} s after its SES call, while Send events came for calls made after it: "
    "SES never took it."
)


def send_events_check(*, name: str, now: datetime | None = None) -> SendEventsCheck:
    """Ask SESv2 whether a configuration set publishes Send events to SNS; record the answer.

    An answer SES could not give counts as "not published": nothing is re-queued on a guess.
    """
    try:
        answer = sesv2_client().get_configuration_set_event_destinations(ConfigurationSetName=name)
    except (BotoCoreError, ClientError) as exc:
        published, detail = False, f"Could not ask SES: {exc}"
    else:
        matching = [
            destination.get("Name", "?")
            for destination in answer.get("EventDestinations", [])
            if destination.get("Enabled")
            and "SEND" in destination.get("MatchingEventTypes", [])
            and "SnsDestination" in destination
        ]
        published = bool(matching)
        detail = (
            f"Send events to SNS through {', '.join(matching)}."
            if matching
            else ("No enabled SNS destination publishes Send events.")
        )
    check, _ = SendEventsCheck.objects.update_or_create(
        configuration_set=name,
        defaults={"published": published, "detail": detail[:300], "checked_at": now or timezone.now()},
    )
    return check


def send_events_published(*, name: str, now: datetime | None = None) -> bool:
    """Return whether a configuration set publishes Send events, asking SES at most hourly."""
    now = now or timezone.now()
    check = SendEventsCheck.objects.filter(configuration_set=name).first()
    if check is None or check.checked_at < now - SEND_EVENTS_RECHECK:
        check = send_events_check(name=name, now=now)
    return check.published


def _send_events_reached(*, name: str, after: datetime) -> datetime | None:
    """Return the latest call start, after `after`, of a row whose Send event has arrived."""
    reached = TrackingEvent.objects.filter(
        type=TrackingEvent.Type.SEND,
        configuration_set=name,
        occurred_at__gte=after - timedelta(minutes=5),  # An event follows its call; clocks drift.
        step_execution__send_started_at__gt=after,
    ).aggregate(latest=Max("step_execution__send_started_at"))
    return reached["latest"]


def unknown_rows_resolve(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-queue the `unknown` rows SES demonstrably never took; return how many.

    Each goes back to `pending` with a note, and its campaign gets an audit entry (a completed
    campaign reopens to send them).
    """
    now = now or timezone.now()
    seconds = settings.SES_UNKNOWN_RESOLVE_SECONDS
    rows = list(
        StepExecution.objects.filter(
            status=Status.UNKNOWN, send_started_at__lt=now - timedelta(seconds=seconds)
        )
        # A cancelled (or unscheduled) campaign sends nothing more: its unknown rows stay as they are.
        .filter(Q(step=None) | Q(step__campaign__status__in=REQUEUE_CAMPAIGN_STATUSES))
        .select_related("step__campaign", "message")
        .order_by("send_started_at")[:limit]
    )
    by_set: dict[str, list[StepExecution]] = defaultdict(list)
    for row in rows:
        by_set[configuration_set_of(row.message or row.campaign_step.campaign)].append(row)
    requeued = 0
    for name, group in by_set.items():
        if not name or not send_events_published(name=name, now=now):
            continue  # No Send events: silence proves nothing; a person decides.
        silent = _silent(name=name, rows=group)
        if silent:
            try:
                moved = step_executions_requeue(
                    rows=StepExecution.objects.filter(pk__in=silent),
                    status=Status.UNKNOWN,
                    note=RESOLVED_NOTE.format(seconds=seconds),
                )
            except InvalidTransition as exc:  # A campaign cancelled meanwhile: the next run skips it.
                logger.warning("Unknown rows of configuration set %s left as they are: %s", name, exc)
                continue
            logger.warning(
                "%s unknown rows of configuration set %s queued again: SES never took them.", moved, name
            )
            requeued += moved
    return requeued


def _silent(*, name: str, rows: list[StepExecution]) -> list[int]:
    """Return the ids of these rows (all with a call start) that Send events have passed by in silence."""
    started = {row.pk: row.send_started_at for row in rows if row.send_started_at is not None}
    if not started:
        return []
    reached = _send_events_reached(name=name, after=min(started.values()))
    if reached is None:
        return []  # No Send event since: the stream may be stalled, and silence proves nothing.
    passed = [pk for pk, at in started.items() if at < reached]
    # News received and not applied yet counts as heard: SNS keeps no order, and the inbox may run
    # behind. Asked before the applied events, so a message applied in between is found there.
    waiting = _named_in_inbox(rows=[row for row in rows if row.pk in set(passed)])
    # Any event SES sent of the email proves SES took it, a Send's lost on the way or not: a bounce,
    # a delay, a complaint, a delivery (and the outcome such events leave on the row).
    heard = set(
        TrackingEvent.objects.filter(step_execution_id__in=passed).values_list("step_execution_id", flat=True)
    )
    outcomes = {row.pk for row in rows if row.outcome}
    return [pk for pk in passed if pk not in heard | waiting and pk not in outcomes]


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _named_in_inbox(*, rows: list[StepExecution]) -> set[int]:
    """Return the ids of these rows whose tracking id a stored, unapplied SNS message holds."""
    if not rows:
        return set()
    by_tracking = {str(row.tracking_id): row.pk for row in rows}
    named: set[int] = set()
    # Read in Python, not with one LIKE per row: after an outage both lists can run to thousands.
    for text in (
        SnsMessage.objects.filter(applied_at__isnull=True).values_list("message", flat=True).iterator()
    ):
        named.update(by_tracking[found] for found in _UUID.findall(text) if found in by_tracking)
    return named
