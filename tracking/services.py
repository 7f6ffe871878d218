"""Writes of tracking: what recipients do with their mail."""

import contextlib
import dataclasses
import functools
import hashlib
import ipaddress
import itertools
import json
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from uuid import UUID

import boto3
import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.db.models import F, Min, Q
from django.utils import timezone
from uuid_utils.compat import uuid7

from campaigns import services as campaign_services
from campaigns.db import rows_insert_new
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign, Suppression
from campaigns.redis_client import redis_client
from delivery import compose as delivery_compose
from delivery import ledger as delivery_ledger
from delivery import tokens
from delivery.models import Engagement, StepExecution, TrackedLink
from tracking import metrics
from tracking.events import EventFormatError, SesEvent, ses_events_from_record
from tracking.models import (
    Alert,
    LinkEngagement,
    SnsMessage,
    SoftBounceStreak,
    StepEngagement,
    TrackingEvent,
    TrackingHit,
)
from tracking.sns import SnsEnvelope

logger = logging.getLogger(__name__)


def step_execution_by_unsubscribe_token(*, token: str) -> StepExecution | None:
    """Return the campaign row an unsubscribe token was signed for; None if tampered or unknown."""
    tracking_id = tokens.step_execution_token_read(token=token, purpose=tokens.UNSUBSCRIBE)
    if tracking_id is None:
        return None
    return (
        StepExecution.objects.filter(tracking_id=tracking_id, step__isnull=False)
        .select_related("contact")
        .first()
    )


@transaction.atomic
def step_execution_unsubscribe(*, execution: StepExecution, source: str) -> bool:
    """Unsubscribe the row's contact from marketing mail and record it once; return whether it was new.

    Idempotent: a repeated one-click POST (mail clients retry) changes nothing more.
    """
    created = _unsubscribe_event(execution=execution, raw={"source": source})
    campaign_services.contact_unsubscribe(contact=execution.contact)
    return created


def _unsubscribe_event(*, execution: StepExecution, raw: dict) -> bool:
    """Record the row's unsubscribe once, whichever way it came; return whether it is new."""
    _event, created = TrackingEvent.objects.get_or_create(
        event_id=f"unsubscribe:{execution.tracking_id}",
        defaults={
            "type": TrackingEvent.Type.UNSUBSCRIBE,
            "occurred_at": timezone.now(),
            "recipient": execution.email,
            "step_execution": execution,
            "raw": raw,
        },
    )
    if created:
        engagement_outcomes_add(outcomes=[(execution.pk, "unsubscribed")])
    return created


def step_execution_leave_lists(*, execution: StepExecution) -> list[str]:
    """Take the row's contact off the lists its campaign was sent to; return their names.

    The contact stays subscribed to everything else. Recorded once, as an unsubscribe.
    """
    lists = list(execution.step.campaign.lists.all())
    with transaction.atomic():
        for contact_list in lists:
            campaign_services.list_remove_contacts(
                contact_list=contact_list, contact_ids=[execution.contact_id]
            )
        lists_left = [contact_list.pk for contact_list in lists]
        _unsubscribe_event(execution=execution, raw={"source": "page", "scope": "lists", "lists": lists_left})
    return [contact_list.name for contact_list in lists]


# --- SES events through SNS -------------------------------------------------------------------


# How long a notification waiting for its ledger rows waits before it is tried again.
SNS_RETRY_DELAY = timedelta(seconds=15)


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


# SMTP status classes: 5.x.x is permanent whatever SES calls the bounce; 5.7.x is a policy or
# reputation block, about the sender rather than the address.
_PERMANENT_STATUS = re.compile(r"5\.\d{1,3}\.\d{1,3}")
_BLOCK_STATUS = re.compile(r"5\.7\.\d{1,3}")

HARD, SOFT, BLOCK, ACCOUNT_SUPPRESSED = "hard", "soft", "block", "account_suppressed"


def bounce_classify(*, event: SesEvent) -> str:
    """Return how a bounce counts for its address: hard, soft, block or account_suppressed."""
    if event.bounce_subtype == "OnAccountSuppressionList":
        return ACCOUNT_SUPPRESSED
    if _BLOCK_STATUS.fullmatch(event.status):
        return BLOCK
    if event.bounce_type == "Permanent" or _PERMANENT_STATUS.fullmatch(event.status):
        return HARD
    return SOFT


def _ledger_row(*, event: SesEvent) -> StepExecution | None:
    rows = StepExecution.objects.select_related("step__campaign")
    if event.tracking_id:
        try:
            return rows.filter(tracking_id=UUID(event.tracking_id)).first()
        except ValueError:
            return None
    return rows.filter(ses_message_id=event.ses_message_id).first() if event.ses_message_id else None


def _suppress(*, event: SesEvent, reason: str, detail: str) -> None:
    _row, created = campaign_services.suppression_add(
        email=event.recipient, reason=reason, source=Suppression.Source.SES, detail=detail
    )
    if created:
        logger.info("%s suppressed: %s (%s).", event.recipient, reason, detail)


def _soft_bounce(*, event: SesEvent) -> None:
    streak, _ = SoftBounceStreak.objects.select_for_update().get_or_create(email=event.recipient)
    streak.count += 1
    streak.save(update_fields=["count", "updated_at"])
    if streak.count >= settings.SES_SOFT_BOUNCE_LIMIT:
        detail = f"{streak.count} soft bounces in a row; last: {event.status} {event.diagnostic}".strip()
        _suppress(event=event, reason=Suppression.Reason.SOFT_BOUNCE, detail=detail[:500])


def _event_effects(*, event: SesEvent, kind: str, row: StepExecution | None) -> None:
    """Apply one new event to the ledger, the suppression list and the soft-bounce streaks."""
    Type, Outcome = TrackingEvent.Type, StepExecution.Outcome
    if event.type in (Type.SEND, Type.DELIVERY) and event.tracking_id:
        delivery_ledger.step_execution_reconcile(
            tracking_id=event.tracking_id, ses_message_id=event.ses_message_id, accepted_at=event.occurred_at
        )
    outcome = {
        Type.DELIVERY_DELAY: Outcome.DELAYED,
        Type.DELIVERY: Outcome.DELIVERED,
        Type.REJECT: Outcome.REJECTED,
        Type.BOUNCE: Outcome.BOUNCED,
        Type.COMPLAINT: Outcome.COMPLAINED,
    }.get(event.type)
    if outcome and row is not None and not (event.type == Type.BOUNCE and kind == BLOCK):
        delivery_ledger.step_execution_record_outcome(execution_id=row.pk, outcome=outcome)
    detail = f"{event.bounce_type}/{event.bounce_subtype} {event.status} {event.diagnostic}".strip()
    if event.type == Type.DELIVERY:
        SoftBounceStreak.objects.filter(email=event.recipient).update(count=0)
    elif event.type == Type.COMPLAINT:
        _suppress(
            event=event, reason=Suppression.Reason.COMPLAINT, detail=event.complaint_type or "complaint"
        )
    elif event.type == Type.BOUNCE and kind == HARD:
        _suppress(event=event, reason=Suppression.Reason.HARD_BOUNCE, detail=detail[:500])
    elif event.type == Type.BOUNCE and kind == ACCOUNT_SUPPRESSED:
        _suppress(event=event, reason=Suppression.Reason.ACCOUNT_SUPPRESSION, detail=detail[:500])
    elif event.type == Type.BOUNCE and kind == SOFT:
        _soft_bounce(event=event)
    elif event.type in (Type.OPEN, Type.CLICK) and row is not None:  # SES's own open and click tracking
        engagement_add(engaged=[Engaged(row.pk, event.type, False, None, event.occurred_at)])
    if event.type in (Type.BOUNCE, Type.COMPLAINT):
        if row is not None and row.step_id is not None:
            campaign_reputation_check(campaign=row.step.campaign)
        if event.configuration_set:
            configuration_set_reputation_check(name=event.configuration_set)


def _event_apply(*, event: SesEvent, message: SnsMessage, now: datetime) -> bool:
    if settings.SES_ACCOUNT_ID and event.sending_account_id not in ("", settings.SES_ACCOUNT_ID):
        logger.warning("Event for SES account %s ignored: not ours.", event.sending_account_id)
        return False
    row = _ledger_row(event=event)
    waited = now - message.received_at
    if row is None and not event.tracking_id and waited < timedelta(seconds=settings.SES_EVENT_WAIT_SECONDS):
        # Identity notifications carry no tags: the row is found by MessageId, which the sender
        # commits just after SES answers, and SES's event may come first.
        raise _LedgerNotYet(f"No ledger row has SES MessageId {event.ses_message_id} yet.")
    kind = bounce_classify(event=event) if event.type == TrackingEvent.Type.BOUNCE else event.complaint_type
    _event, created = TrackingEvent.objects.get_or_create(
        event_id=f"{message.message_id}:{event.recipient}:{event.type}"[:200],
        defaults={
            "type": event.type,
            "occurred_at": event.occurred_at,
            "recipient": event.recipient,
            "step_execution": row,
            "ses_message_id": event.ses_message_id,
            "configuration_set": event.configuration_set[:64],
            "kind": kind[:32],
            "raw": {k: v for k, v in asdict(event).items() if v not in ("", {}, None) and k != "occurred_at"},
        },
    )
    if created:  # A second delivery of the same message changes nothing.
        _event_effects(event=event, kind=kind, row=row)
        keys = outcome_keys(event_type=event.type, kind=kind)
        if row is not None and keys:
            engagement_outcomes_add(outcomes=[(row.pk, key) for key in keys])
    return created


def sns_message_apply(*, message_id: int, now: datetime | None = None) -> bool:
    """Apply a stored notification's events; return False if it must wait for its ledger rows.

    One transaction per message: its events are applied all or none. Idempotent.
    """
    now = now or timezone.now()
    with transaction.atomic():
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
        except (ValueError, RecursionError, EventFormatError) as exc:
            logger.warning("SNS message %s is not an SES event we can read: %s", message.message_id, exc)
            message.applied_at, message.note = now, f"Not an SES event record: {exc}"[:1000]
            message.save(update_fields=["attempts", "applied_at", "note"])
            return True
        try:
            with transaction.atomic():
                applied = [
                    event.type for event in events if _event_apply(event=event, message=message, now=now)
                ]
        except _LedgerNotYet as exc:
            message.note = str(exc)
            message.retry_at = now + SNS_RETRY_DELAY
            message.save(update_fields=["attempts", "note", "retry_at"])
            return False
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


def _reputation_problems(*, sent: int, hard: int, complaints: int) -> list[str]:
    """Name each rate over its limit, once `sent` is large enough to judge."""
    if sent < settings.SES_REPUTATION_MIN_SENT:
        return []
    return [
        f"{name} {count / sent:.3%} of {sent} sent (limit {limit:.3%})"
        for name, count, limit in (
            ("hard bounces", hard, settings.SES_BOUNCE_RATE_LIMIT),
            ("complaints", complaints, settings.SES_COMPLAINT_RATE_LIMIT),
        )
        if count / sent > limit
    ]


def _campaign_pause_for_reputation(*, campaign: Campaign, problems: list[str], scope: str, kind: str) -> bool:
    reasons = "; ".join(problems)
    note = f"Paused to protect the sender's reputation ({scope}): {reasons}. Check the list, then resume."
    try:
        campaign_services.campaign_pause(campaign=campaign, note=note[:300])
    except InvalidTransition:
        return False
    logger.error("Campaign %s: %s", campaign.pk, note)
    metrics.REPUTATION_PAUSES.inc(scope=kind)
    return True


def configuration_set_reputation_check(*, name: str, now: datetime | None = None) -> list[int]:
    """Pause the sending campaigns of a configuration set whose rates over the window crossed a limit.

    Over the last SES_REPUTATION_WINDOW_HOURS, the set's Send events are the mail sent; return the
    ids of the campaigns paused.
    """
    since = (now or timezone.now()) - timedelta(hours=settings.SES_REPUTATION_WINDOW_HOURS)
    events = TrackingEvent.objects.filter(configuration_set=name, occurred_at__gte=since)
    problems = _reputation_problems(
        sent=events.filter(type=TrackingEvent.Type.SEND).count(),
        hard=events.filter(type=TrackingEvent.Type.BOUNCE, kind=HARD).count(),
        complaints=events.filter(type=TrackingEvent.Type.COMPLAINT).count(),
    )
    if not problems:
        return []
    uses_set = Q(configuration_set=name)
    if name == settings.SES_CONFIGURATION_SET:
        uses_set |= Q(configuration_set="")
    sending = Campaign.objects.filter(uses_set, status=Campaign.Status.SENDING)
    scope = f"configuration set {name}, last {settings.SES_REPUTATION_WINDOW_HOURS} h"
    return [
        campaign.pk
        for campaign in sending
        if _campaign_pause_for_reputation(
            campaign=campaign, problems=problems, scope=scope, kind="configuration_set"
        )
    ]


def campaign_reputation_check(*, campaign: Campaign) -> bool:
    """Pause a sending campaign whose hard-bounce or complaint rate crossed its limit; return whether.

    The limits sit below SES's review lines (5% bounces, 0.1% complaints) so a bad list stops
    before the account is reviewed. Rates count recipients, over sent mail, once enough is sent.
    """
    if campaign.status != Campaign.Status.SENDING:
        return False
    sent = StepExecution.objects.filter(step__campaign=campaign, status=StepExecution.Status.SENT).count()
    if sent < settings.SES_REPUTATION_MIN_SENT:
        return False
    events = TrackingEvent.objects.filter(step_execution__step__campaign=campaign)
    problems = _reputation_problems(
        sent=sent,
        hard=events.filter(type=TrackingEvent.Type.BOUNCE, kind=HARD)
        .values("step_execution")
        .distinct()
        .count(),
        complaints=events.filter(type=TrackingEvent.Type.COMPLAINT)
        .values("step_execution")
        .distinct()
        .count(),
    )
    return bool(problems) and _campaign_pause_for_reputation(
        campaign=campaign, problems=problems, scope="this campaign", kind="campaign"
    )


# --- SES account-level suppression list --------------------------------------------------------

# Local reasons SES's own list knows, and the reverse.
_SES_REASONS = {Suppression.Reason.HARD_BOUNCE: "BOUNCE", Suppression.Reason.COMPLAINT: "COMPLAINT"}


def _sesv2():
    return boto3.client("sesv2", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL)


def suppressions_pull_from_ses(*, since: datetime | None = None) -> int:
    """Copy addresses on SES's account-level suppression list into ours; return how many were new.

    SES refuses to send to them anyway; knowing them here keeps them out of fan-outs and counts.
    """
    client, added, token = _sesv2(), 0, None
    while True:
        params = {
            "PageSize": 1000,
            **({"StartDate": since} if since else {}),
            **({"NextToken": token} if token else {}),
        }
        page = client.list_suppressed_destinations(**params)
        for item in page.get("SuppressedDestinationSummaries", []):
            _row, created = campaign_services.suppression_add(
                email=item["EmailAddress"],
                reason=Suppression.Reason.ACCOUNT_SUPPRESSION,
                source=Suppression.Source.SES,
                detail=f"On the SES account suppression list ({item.get('Reason', '?')}).",
            )
            added += created
        token = page.get("NextToken")
        if not token:
            return added


def suppressions_push_to_ses(*, since: datetime | None = None) -> int:
    """Put our hard-bounce and complaint suppressions on SES's account list; return how many.

    PutSuppressedDestination is idempotent, so an overlapping window costs calls, not mistakes.
    """
    client = _sesv2()
    rows = Suppression.objects.filter(reason__in=list(_SES_REASONS)).order_by("pk")
    if since:
        rows = rows.filter(created_at__gte=since)
    pushed = 0
    for email, reason in rows.values_list("email", "reason").iterator():
        client.put_suppressed_destination(EmailAddress=email, Reason=_SES_REASONS[reason])
        pushed += 1
    return pushed


# --- Opens and clicks ---------------------------------------------------------------------------

# Apple Mail Privacy Protection fetches every image on delivery; Gmail and Yahoo fetch through
# image proxies. Their fetches say nothing about a person opening the mail.
_PROXY_AGENTS = re.compile(r"GoogleImageProxy|YahooMailProxy|ggpht\.com|Mail Privacy", re.IGNORECASE)
# Security gateways follow every link of a new message within seconds of its delivery.
SCANNER_CLICK_SECONDS = 10


def ip_for_storage(address: str) -> str:
    """Return an address as TRACKING_IP_MODE allows it to be kept: truncated, hashed or not at all."""
    mode = settings.TRACKING_IP_MODE
    if not address or mode == "none":
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if mode == "hash":
        return hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()[:32]
    prefix = 24 if ip.version == 4 else 48  # The network, not the person.
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@dataclass(frozen=True)
class _Hit:
    """A hit on its way to becoming an event, from the table or from Redis."""

    uid: str
    kind: str
    tracking_id: UUID
    link_id: int | None
    at: datetime
    method: str
    user_agent: str
    ip: str


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def hit_record(
    *, kind: str, tracking_id: UUID, link_id: int | None, method: str, user_agent: str, ip: str
) -> None:
    """Record one pixel fetch or click: one Redis push (or, without Redis, one lean INSERT).

    The consumer tick turns hits into events in bulk; until then they wait, in Redis or the table.
    """
    method, user_agent, ip = method[:8], user_agent[:512], ip_for_storage(ip)
    metrics.TRACKING_HITS.inc(kind=kind)
    if settings.REDIS_URL:
        record = [uuid7().hex, kind, tracking_id.hex, link_id, time.time(), method, user_agent, ip]
        _redis().lpush(settings.TRACKING_HITS_REDIS_KEY, json.dumps(record))
        return
    TrackingHit.objects.create(
        kind=kind, tracking_id=tracking_id, link_id=link_id, method=method, user_agent=user_agent, ip=ip
    )


@functools.cache
def _proxy_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network) for network in settings.TRACKING_PROXY_NETWORKS)


def _from_proxy_network(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)  # Truncated addresses stay in their network.
    except ValueError:
        return False  # Hashed or not kept.
    return any(address in network for network in _proxy_networks())


def hit_is_machine(*, hit: _Hit, sent_at: datetime | None) -> bool:
    """Tell a machine's fetch or click from a person's, by method, user agent, origin and timing.

    Apple Mail Privacy Protection fetches every image on delivery with the bare user agent
    "Mozilla/5.0" from Apple's network; no mail client a person reads with says only that.
    """
    if hit.method == "HEAD" or _PROXY_AGENTS.search(hit.user_agent):
        return True
    if hit.kind == TrackingHit.Kind.OPEN and (
        hit.user_agent.strip() == "Mozilla/5.0" or _from_proxy_network(hit.ip)
    ):
        return True
    if hit.kind == TrackingHit.Kind.CLICK and sent_at is not None:
        return (hit.at - sent_at).total_seconds() < SCANNER_CLICK_SECONDS
    return False


# A person clicks one link at a time; a scanner follows several within this window.
BURST_SECONDS = 1.0
# A scanner that followed the hidden link is blamed for the email's other clicks this close to it.
HONEYPOT_SECONDS = 5.0


def _machine_clicks(hits: list[_Hit]) -> set[str]:
    """Return the ids of clicks a scanner made: on the hidden link, near it, or in a burst.

    A burst is clicks on different links of one email within BURST_SECONDS of each other.
    """
    clicks: dict[UUID, list[_Hit]] = {}
    for hit in hits:
        if hit.kind == TrackingHit.Kind.CLICK:
            clicks.setdefault(hit.tracking_id, []).append(hit)
    trap = delivery_compose.honeypot_url()
    machine = set()
    for group in clicks.values():
        group.sort(key=lambda hit: hit.at)
        for earlier, later in itertools.pairwise(group):
            close = (later.at - earlier.at).total_seconds() <= BURST_SECONDS
            if close and earlier.link_id != later.link_id:
                machine.update((earlier.uid, later.uid))
        for bait in [hit for hit in group if hit.link_id is not None and link_target(hit.link_id) == trap]:
            machine.update(
                hit.uid for hit in group if abs((hit.at - bait.at).total_seconds()) <= HONEYPOT_SECONDS
            )
    return machine


def _earlier_clicks(hits: list[_Hit]) -> dict[int, _Hit]:
    """Return, by event id, the written clicks of this batch's emails close enough to matter.

    A scanner's burst can straddle two consumer batches: its first clicks are judged again with
    the rest.
    """
    clicks = [hit for hit in hits if hit.kind == TrackingHit.Kind.CLICK]
    if not clicks:
        return {}
    since = min(hit.at for hit in clicks) - timedelta(seconds=max(HONEYPOT_SECONDS, BURST_SECONDS))
    rows = TrackingEvent.objects.filter(
        type=TrackingEvent.Type.CLICK,
        step_execution__tracking_id__in={hit.tracking_id for hit in clicks},
        occurred_at__gte=since,
    ).values_list("pk", "event_id", "occurred_at", "raw", "step_execution__tracking_id")
    return {
        pk: _Hit(
            event_id.removeprefix("hit:"),
            TrackingHit.Kind.CLICK,
            tracking_id,
            raw.get("link_id"),
            at,
            "",
            "",
            "",
        )
        for pk, event_id, at, raw, tracking_id in rows
    }


def _events_from_hits(hits: list[_Hit]) -> list[TrackingEvent]:
    """Write one event per hit, in bulk; a hit seen before (a consumer that died) is skipped."""
    rows = {
        row.tracking_id: row
        for row in StepExecution.objects.filter(tracking_id__in={hit.tracking_id for hit in hits}).only(
            "pk", "email", "tracking_id", "sent_at"
        )
    }
    earlier = _earlier_clicks(hits)
    bursts = _machine_clicks(hits + list(earlier.values()))
    # Clicks written by an earlier batch that this batch shows to be a scanner's.
    unmasked = [pk for pk, hit in earlier.items() if hit.uid in bursts]
    engaged = []
    if unmasked:
        still_human = [
            Engaged.of(event)
            for event in TrackingEvent.objects.select_for_update()
            .filter(pk__in=unmasked, is_machine=False)
            .only("step_execution_id", "type", "is_machine", "raw", "occurred_at")
        ]
        TrackingEvent.objects.filter(pk__in=unmasked, is_machine=False).update(is_machine=True)
        for click in still_human:
            engaged += [dataclasses.replace(click, sign=-1), dataclasses.replace(click, is_machine=True)]
    events = []
    for hit in hits:
        row = rows.get(hit.tracking_id)
        if row is None:
            continue  # Its row is gone: nothing to attach it to.
        detail = {"method": hit.method, "user_agent": hit.user_agent, "ip": hit.ip, "link_id": hit.link_id}
        events.append(
            TrackingEvent(
                type=TrackingEvent.Type.OPEN
                if hit.kind == TrackingHit.Kind.OPEN
                else TrackingEvent.Type.CLICK,
                occurred_at=hit.at,
                recipient=row.email,
                step_execution=row,
                is_machine=hit.uid in bursts or hit_is_machine(hit=hit, sent_at=row.sent_at),
                event_id=f"hit:{hit.uid}",
                raw={key: value for key, value in detail.items() if value not in ("", None)},
            )
        )
    inserted = rows_insert_new(events, key="event_id")
    events = [event for event in events if event.event_id in inserted]
    engagement_add(engaged=engaged + [Engaged.of(event) for event in events])
    return events


def _apply_table_hits(batch: int) -> tuple[int, list[TrackingEvent]]:
    with transaction.atomic():
        rows = list(TrackingHit.objects.select_for_update(skip_locked=True).order_by("pk")[:batch])
        if not rows:
            return 0, []
        hits = [
            _Hit(f"db{r.pk}", r.kind, r.tracking_id, r.link_id, r.at, r.method, r.user_agent, r.ip)
            for r in rows
        ]
        events = _events_from_hits(hits)
        TrackingHit.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows), events


# Move up to ARGV[1] of the oldest hits to the processing list, atomically; return them.
_TAKE_LUA = """
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], 0, -#items - 1)
  for i = 1, #items do redis.call('RPUSH', KEYS[2], items[i]) end
end
return items
"""


def _hit_parse(raw: bytes) -> _Hit | None:
    try:
        uid, kind, tracking_id, link_id, at, method, user_agent, ip = json.loads(raw)
        return _Hit(
            uid, kind, UUID(tracking_id), link_id, datetime.fromtimestamp(at, UTC), method, user_agent, ip
        )
    except (ValueError, TypeError):
        return None


def _apply_redis_hits(batch: int) -> tuple[int, list[TrackingEvent]]:
    client, key = _redis(), settings.TRACKING_HITS_REDIS_KEY
    processing = f"{key}:processing"
    lock = client.lock(f"{key}:lock", timeout=300, blocking=False)
    if not lock.acquire():
        return 0, []  # Another consumer is at it.
    try:
        # Hits a consumer took and died on come first; their events are skipped if already written.
        raw = client.lrange(processing, 0, -1) or client.eval(_TAKE_LUA, 2, key, processing, batch)
        if not raw:
            return 0, []
        hits = [hit for hit in map(_hit_parse, raw) if hit is not None]
        with transaction.atomic():
            events = _events_from_hits(hits)
        client.delete(processing)
        return len(raw), events
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def tracking_hits_apply(*, batch: int = 5000) -> int:
    """Turn a batch of recorded hits (table, then Redis) into TrackingEvents; return how many hits."""
    taken, events = _apply_table_hits(batch)
    if settings.REDIS_URL:
        from_redis, more = _apply_redis_hits(batch)
        taken, events = taken + from_redis, events + more
    for event in events:
        metrics.SES_EVENTS.inc(type=event.type)
    return taken


@functools.lru_cache(maxsize=10_000)
def link_target(link_id: int) -> str | None:
    """Return where a tracked link leads (links never change, so each process remembers them)."""
    return TrackedLink.objects.filter(pk=link_id).values_list("url", flat=True).first()


# --- Engagement counters ------------------------------------------------------------------------

_ENGAGEMENT_FIELDS = (
    "opens",
    "clicks",
    "machine_opens",
    "machine_clicks",
    "first_opened_at",
    "first_clicked_at",
    "links",
    "machine_links",
)


@dataclass(frozen=True)
class Engaged:
    """One open or click to count for an email, or (sign -1) to take back."""

    execution_id: int
    type: str
    is_machine: bool
    link_id: int | None
    at: datetime
    sign: int = 1

    @classmethod
    def of(cls, event: TrackingEvent) -> "Engaged":
        return cls(
            event.step_execution_id, event.type, event.is_machine, event.raw.get("link_id"), event.occurred_at
        )


def _counters_add(model: type[models.Model], deltas: dict[int, Counter]) -> None:
    """Add each key's deltas to its counter row, creating it; keys in order, so locks never cross."""
    deltas = {key: delta for key, delta in deltas.items() if any(delta.values())}
    model.objects.bulk_create([model(pk=key) for key in deltas], ignore_conflicts=True)
    for key in sorted(deltas):
        model.objects.filter(pk=key).update(**{field: F(field) + n for field, n in deltas[key].items() if n})


def _first_human_times(rows: dict[int, Engagement], stale: set[tuple[int, str]]) -> None:
    """Find again the first human open or click of emails whose first one was taken back."""
    Type = TrackingEvent.Type
    for field, kind in (("first_opened_at", Type.OPEN), ("first_clicked_at", Type.CLICK)):
        ids = [pk for pk, stale_field in stale if stale_field == field]
        firsts = dict(
            TrackingEvent.objects.filter(step_execution_id__in=ids, type=kind, is_machine=False)
            .order_by()
            .values_list("step_execution_id")
            .annotate(first=Min("occurred_at"))
        )
        for pk in ids:
            setattr(rows[pk], field, firsts.get(pk))


def _engagement_rows_locked(execution_ids: set[int]) -> dict[int, Engagement]:
    """Return the emails' engagement rows, made if missing and locked in id order (so writers
    running side by side never deadlock); emails deleted since are left out."""
    steps = dict(StepExecution.objects.filter(pk__in=execution_ids).values_list("pk", "step_id"))
    Engagement.objects.bulk_create(
        [Engagement(step_execution_id=pk, step_id=step_id) for pk, step_id in sorted(steps.items())],
        ignore_conflicts=True,
    )
    return {row.pk: row for row in Engagement.objects.select_for_update().filter(pk__in=steps).order_by("pk")}


def engagement_add(*, engaged: list[Engaged]) -> None:
    """Count new opens and clicks (and take back re-judged ones) for their emails, steps and links.

    Call it in the transaction that wrote (or re-judged) the events, once per event: rows are
    locked email by email in order, so consumers running side by side count every event once.
    """
    rows = _engagement_rows_locked({item.execution_id for item in engaged})
    if not rows:
        return
    before = {pk: {field: getattr(row, field) for field in _ENGAGEMENT_FIELDS} for pk, row in rows.items()}
    stale: set[tuple[int, str]] = set()
    for item in engaged:
        row = rows.get(item.execution_id)
        if row is None:
            continue  # Its email is gone.
        noun = "opens" if item.type == TrackingEvent.Type.OPEN else "clicks"
        column = f"machine_{noun}" if item.is_machine else noun
        setattr(row, column, getattr(row, column) + item.sign)
        if not item.is_machine:
            first = "first_opened_at" if noun == "opens" else "first_clicked_at"
            if item.sign < 0:
                stale.add((row.pk, first))
            elif getattr(row, first) is None or item.at < getattr(row, first):
                setattr(row, first, item.at)
        if noun == "clicks" and item.link_id is not None:
            field = "machine_links" if item.is_machine else "links"
            # A new dict each time, and no zeros kept: `before` keeps the old one, and "clicked
            # this link" stays a key lookup.
            counts = {
                **getattr(row, field),
                str(item.link_id): getattr(row, field).get(str(item.link_id), 0) + item.sign,
            }
            setattr(row, field, {link: n for link, n in counts.items() if n})
    _first_human_times(rows, stale)
    step_deltas: dict[int, Counter] = defaultdict(Counter)
    link_deltas: dict[int, Counter] = defaultdict(Counter)
    for pk, row in rows.items():
        old = before[pk]
        if row.step_id is not None:
            delta = step_deltas[row.step_id]
            for noun in ("opens", "clicks"):
                delta[f"{noun}_unique"] += (getattr(row, noun) > 0) - (old[noun] > 0)
                delta[f"{noun}_total"] += getattr(row, noun) - old[noun]
                delta[f"machine_{noun}_total"] += getattr(row, f"machine_{noun}") - old[f"machine_{noun}"]
        for link in (
            old["links"].keys() | row.links.keys() | old["machine_links"].keys() | row.machine_links.keys()
        ):
            human, was_human = row.links.get(link, 0), old["links"].get(link, 0)
            delta = link_deltas[int(link)]
            delta["clicks_unique"] += (human > 0) - (was_human > 0)
            delta["clicks_total"] += human - was_human
            delta["machine_clicks_total"] += row.machine_links.get(link, 0) - old["machine_links"].get(
                link, 0
            )
    Engagement.objects.bulk_update(rows.values(), _ENGAGEMENT_FIELDS, batch_size=500)
    _counters_add(StepEngagement, step_deltas)
    # A link deleted since (with its step) keeps no counter.
    existing = set(TrackedLink.objects.filter(pk__in=link_deltas).values_list("pk", flat=True))
    _counters_add(LinkEngagement, {pk: delta for pk, delta in link_deltas.items() if pk in existing})


# The keys an event adds to its email's counted outcomes, and so to its step's counters.
_OUTCOME_KEYS = {
    TrackingEvent.Type.DELIVERY: ("delivered",),
    TrackingEvent.Type.REJECT: ("rejected",),
    TrackingEvent.Type.UNSUBSCRIBE: ("unsubscribed",),
}


def outcome_keys(*, event_type: str, kind: str = "") -> tuple[str, ...]:
    """Return what an event counts for its email: a bounce counts as bounced and by its class.

    "suppressed" counts the emails whose outcome puts the address on the suppression list at once:
    a hard bounce, a complaint, or a bounce because SES's account list holds the address. (Soft
    bounces suppress only after a streak across campaigns, which no one email decides.)
    """
    if event_type == TrackingEvent.Type.BOUNCE:
        keys = ("bounced", f"bounced_{kind}" if kind in (HARD, SOFT) else "bounced_other")
        return (*keys, "suppressed") if kind in (HARD, ACCOUNT_SUPPRESSED) else keys
    if event_type == TrackingEvent.Type.COMPLAINT:
        return ("complained", "suppressed")
    return _OUTCOME_KEYS.get(event_type, ())


def engagement_outcomes_add(*, outcomes: list[tuple[int, str]]) -> None:
    """Count (email, outcome) pairs for their steps, each email's outcome once however often reported.

    Call it in the transaction that wrote the events; rows are locked in id order, like opens.
    """
    rows = _engagement_rows_locked({execution_id for execution_id, _key in outcomes})
    if not rows:
        return
    deltas: dict[int, Counter] = defaultdict(Counter)
    changed = {}
    for execution_id, key in outcomes:
        row = rows.get(execution_id)
        if row is None or key in row.outcomes:
            continue
        row.outcomes = [*row.outcomes, key]
        changed[row.pk] = row
        if row.step_id is not None:
            deltas[row.step_id][key] += 1
    Engagement.objects.bulk_update(changed.values(), ["outcomes"], batch_size=500)
    _counters_add(StepEngagement, deltas)


def engagement_rebuild(*, chunk: int = 5000) -> int:
    """Count every email's, step's and link's opens and clicks again from the events.

    For upgrades and audits, with the consumer ticks stopped. Return how many events were counted.
    """
    with transaction.atomic():
        for model in (Engagement, StepEngagement, LinkEngagement):
            model.objects.all().delete()
    events = (
        TrackingEvent.objects.filter(
            type__in=(TrackingEvent.Type.OPEN, TrackingEvent.Type.CLICK), step_execution__isnull=False
        )
        .order_by("step_execution_id")
        .only("step_execution_id", "type", "is_machine", "raw", "occurred_at")
    )
    reported = (
        TrackingEvent.objects.filter(
            type__in=[*_OUTCOME_KEYS, TrackingEvent.Type.BOUNCE, TrackingEvent.Type.COMPLAINT],
            step_execution__isnull=False,
        )
        .order_by("step_execution_id")
        .values_list("step_execution_id", "type", "kind")
    )
    outcomes = [
        (pk, key)
        for pk, kind_of, kind in reported.iterator(chunk_size=chunk)
        for key in outcome_keys(event_type=kind_of, kind=kind)
    ]
    for start in range(0, len(outcomes), chunk):
        with transaction.atomic():
            engagement_outcomes_add(outcomes=outcomes[start : start + chunk])
    counted, part = 0, []
    for event in itertools.chain(events.iterator(chunk_size=chunk), [None]):
        if event is not None:
            part.append(Engaged.of(event))
        if part and (event is None or len(part) == chunk):
            with transaction.atomic():
                engagement_add(engaged=part)
            counted, part = counted + len(part), []
    return counted


# --- CloudWatch ---------------------------------------------------------------------------------

# Campaign figures published, as (CloudWatch metric name, key of campaign_stats).
CLOUDWATCH_FIGURES = (
    ("Delivered", "delivered"),
    ("Bounces", "bounced"),
    ("Complaints", "complained"),
    ("UniqueOpens", "opens_unique"),
    ("UniqueClicks", "clicks_unique"),
)


def campaign_metrics_publish(*, now: datetime | None = None) -> int:
    """Publish each recent campaign's delivered, bounces, complaints, unique opens and clicks to
    CloudWatch (CLOUDWATCH_NAMESPACE), one datum each with a Campaign dimension; return how many
    campaigns. Recent: sending, or completed within the last CLOUDWATCH_CAMPAIGN_DAYS."""
    from tracking.selectors import campaign_stats

    now = now or timezone.now()
    recent = Campaign.objects.filter(
        Q(status=Campaign.Status.SENDING)
        | Q(
            completed_at__gte=now - timedelta(days=settings.CLOUDWATCH_CAMPAIGN_DAYS),
            started_at__isnull=False,
        )
    ).order_by("pk")
    client = boto3.client(
        "cloudwatch", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL
    )
    published = 0
    for campaign in recent:
        stats = campaign_stats(campaign=campaign)
        dimensions = [{"Name": "Campaign", "Value": f"{campaign.pk} {campaign.name}"[:255]}]
        client.put_metric_data(
            Namespace=settings.CLOUDWATCH_NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": dimensions,
                    "Timestamp": now,
                    "Value": stats[key],
                    "Unit": "Count",
                }
                for name, key in CLOUDWATCH_FIGURES
            ],
        )
        published += 1
    return published


# --- Alerts -------------------------------------------------------------------------------------


def _alert_raise(
    *, campaign: Campaign, kind: str, value: float, threshold: float, message: str
) -> Alert | None:
    """Record an alert once per campaign and kind; log it, count it and mail staff. Return it if new."""
    alert, created = Alert.objects.get_or_create(
        campaign=campaign,
        kind=kind,
        defaults={"value": value, "threshold": threshold, "message": message[:500]},
    )
    if not created:
        return None
    logger.warning("Alert on campaign %s (%s): %s", campaign.pk, kind, message)
    metrics.ALERTS.inc(kind=kind)
    if settings.ALERT_EMAILS:
        send_mail(
            subject=f"[Campanile] {alert.get_kind_display()}: {campaign.name}"[:200],
            message=f"{message}\n\nSee the campaign's report in the admin.",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=settings.ALERT_EMAILS,
            fail_silently=True,  # An alert that cannot be mailed is still in the admin and the log.
        )
    return alert


def _trailing_rates(*, campaign: Campaign) -> dict[str, float] | None:
    """Return the sender's average open and click rates over its last completed campaigns."""
    from tracking.selectors import campaign_stats

    # Load tests mail the simulator, which opens and clicks nothing: they are no sender's usual.
    earlier = Campaign.objects.filter(
        from_email=campaign.from_email,
        status=Campaign.Status.COMPLETED,
        started_at__lt=campaign.started_at,
        is_load_test=False,
    ).order_by("-started_at")[: settings.ALERT_TRAILING_CAMPAIGNS]
    rates = [campaign_stats(campaign=other)["rates"] for other in earlier]
    rates = [rate for rate in rates if rate["open"] is not None]
    if len(rates) < 2:
        return None  # Too little history to call anything a drop.
    return {kind: sum(rate[kind] or 0 for rate in rates) / len(rates) for kind in ("open", "click")}


def alerts_check(*, now: datetime | None = None) -> list[Alert]:
    """Look at recent campaigns and raise what needs a person: bounce and complaint rates over their
    limits, and open or click rates that fell well below the sender's trailing average."""
    from tracking.selectors import campaign_stats

    now = now or timezone.now()
    recent = Campaign.objects.filter(
        Q(status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED])
        | Q(completed_at__gte=now - timedelta(days=2)),
        started_at__isnull=False,
    ).order_by("pk")
    raised = []
    for campaign in recent:
        stats = campaign_stats(campaign=campaign)
        if stats["sent"] < settings.SES_REPUTATION_MIN_SENT:
            continue
        checks = [
            (Alert.Kind.BOUNCE_RATE, stats["rates"]["bounce"], settings.SES_BOUNCE_RATE_LIMIT, "bounce"),
            (
                Alert.Kind.COMPLAINT_RATE,
                stats["rates"]["complaint"],
                settings.SES_COMPLAINT_RATE_LIMIT,
                "complaint",
            ),
        ]
        for kind, rate, limit, noun in checks:
            if rate is not None and rate > limit:
                sent = stats["sent"]
                message = (
                    f"“{campaign.name}”: {noun} rate {rate:.2%} over the {limit:.2%} limit ({sent} sent)."
                )
                raised.append(
                    _alert_raise(campaign=campaign, kind=kind, value=rate, threshold=limit, message=message)
                )
        if now - campaign.started_at < timedelta(hours=settings.ALERT_ENGAGEMENT_AFTER_HOURS):
            continue  # Opens and clicks are still coming in.
        if campaign.is_load_test:
            continue  # Nobody opens a load test's mail: a drop would say nothing.
        trailing = _trailing_rates(campaign=campaign)
        if trailing is None:
            continue
        for kind, noun in ((Alert.Kind.OPEN_DROP, "open"), (Alert.Kind.CLICK_DROP, "click")):
            rate, usual = stats["rates"][noun] or 0.0, trailing[noun]
            floor = usual * (1 - settings.ALERT_DROP_RATIO)
            if usual > 0 and rate < floor:
                message = (
                    f"“{campaign.name}”: {noun} rate {rate:.1%} against {usual:.1%} on average over the "
                    f"sender's last campaigns (alert below {floor:.1%}). Deliverability or content?"
                )
                raised.append(
                    _alert_raise(campaign=campaign, kind=kind, value=rate, threshold=floor, message=message)
                )
    return [alert for alert in raised if alert is not None]
