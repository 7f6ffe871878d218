"""Fan-out, claims and sends on the StepExecution ledger.

The ledger, not Celery, decides who gets mail: a row is claimed and committed as `sending` before
SES is called, and its outcome is committed right after, one row at a time.
"""

import functools
import hashlib
import json
import logging
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from time import monotonic, sleep
from urllib.parse import quote
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import DateTimeField, Exists, F, Max, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from campaigns import services as campaign_services
from campaigns.db import server_bound_cursor
from campaigns.exceptions import (
    CampaignNotReady,
    CampanileError,
    IdempotencyConflict,
    InvalidTransition,
    ObjectNotFound,
    TemplateRenderError,
)
from campaigns.models import ApiKey, Campaign, CampaignStep, Contact, Suppression, Template, email_normalize
from campaigns.selectors import campaign_audience, campaign_list_due
from delivery import drip, metrics, throttle, tokens
from delivery.exceptions import (
    SesOutcomeUnknown,
    SesQuotaExhausted,
    SesRejected,
    SesRetryLater,
    SesSendingHalted,
)
from delivery.group_commit import GroupCommit
from delivery.links import html_track, text_track
from delivery.models import SendingHold, StepExecution, TrackedLink, TransactionalMessage
from delivery.selectors import campaign_list_sending, sending_hold_active, step_execution_counts
from delivery.ses import ses_backend, ses_send

logger = logging.getLogger(__name__)

Status = StepExecution.Status

# Contact ids one fan-out statement covers: each range commits on its own, so a fan-out of
# millions shows progress, holds no long transaction and resumes where it stopped.
FAN_OUT_CHUNK = 50_000

# A time-ordered UUIDv7 per row, made by the database (PostgreSQL before 18 has no uuidv7()): the
# millisecond clock in the first 48 bits, version 7, random rest. A random UUID would scatter the
# inserts over the unique index and halve their speed.
_UUID7_SQL = {
    "postgresql": (
        "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
        "substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3) "
        "from 1 for 6), 52, 1), 53, 1), 'hex')::uuid"
    ),
    # Django keeps UUIDs as 32 lowercase hex digits on SQLite. A literal % is written %%: the
    # statement goes through parameter formatting.
    "sqlite": (
        "lower(printf('%%012x', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) || '7' "
        "|| substr(hex(randomblob(2)), 2, 3) || substr('89ab', (abs(random()) %% 4) + 1, 1) "
        "|| substr(hex(randomblob(2)), 2, 3) || hex(randomblob(6)))"
    ),
}


def ledger_columns(*, step_id: int, now: datetime, **columns) -> dict:
    """Return the columns of new ledger rows made in SQL, for `rows_insert_select`."""
    return {
        "step_id": Value(step_id),
        "contact_id": F("pk"),
        "email": F("email"),
        "status": Value(Status.PENDING),
        "tracking_id": RawSQL(_UUID7_SQL[connection.vendor], []),  # noqa: S611 - a constant, no input
        "ses_message_id": Value(""),
        "attempts": Value(0),
        "last_error": Value(""),
        "created_at": Value(now, output_field=DateTimeField()),
        "updated_at": Value(now, output_field=DateTimeField()),
        "due_at": Value(now, output_field=DateTimeField()),
        **columns,
    }


def rows_insert_select(*, source: QuerySet, columns: dict, plain_first: bool = False) -> int:
    """Insert one ledger row per row of `source`, columns computed in SQL; return how many.

    INSERT … SELECT runs in the database: no contact passes through Python, whatever the size.
    Rows that exist already are kept single by the unique (step, contact) index. plain_first tries
    the plain INSERT first, a fifth faster than one with ON CONFLICT, where clashes are rare.
    """
    aliases = {f"new_{name}": expression for name, expression in columns.items()}
    select, params = source.order_by().annotate(**aliases).values_list(*aliases).query.sql_with_params()
    table = connection.ops.quote_name(StepExecution._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in columns)
    statement = f"INSERT INTO {table} ({names}) {select}"
    with connection.cursor() as cursor:
        if plain_first:
            try:
                with transaction.atomic():
                    cursor.execute(statement, params)
                return max(cursor.rowcount, 0)
            except IntegrityError:
                pass  # Some rows exist already (made another way).
        cursor.execute(f"{statement} ON CONFLICT DO NOTHING", params)
        return max(cursor.rowcount, 0)


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


def _claim(*, rows: QuerySet[StepExecution], size: int, now: datetime | None = None) -> list[StepExecution]:
    """Claim up to `size` pending rows of `rows` under a lease, commit the claim, return them.

    SKIP LOCKED lets any number of workers claim at once and get disjoint rows.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            rows.select_for_update(skip_locked=True)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now), status=Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        StepExecution.objects.filter(pk__in=ids).update(
            status=Status.SENDING,
            lease_expires_at=now + timedelta(seconds=settings.SEND_LEASE_SECONDS),
            send_started_at=None,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    return list(
        StepExecution.objects.filter(pk__in=ids).select_related("contact", "message__template").order_by("pk")
    )


def step_execution_claim_batch(
    *, step: CampaignStep, size: int, now: datetime | None = None
) -> list[StepExecution]:
    """Claim up to `size` pending rows of a campaign step."""
    return _claim(rows=StepExecution.objects.filter(step=step), size=size, now=now)


def message_claim_batch(*, size: int, now: datetime | None = None) -> list[StepExecution]:
    """Claim up to `size` pending transactional rows, oldest first."""
    return _claim(rows=StepExecution.objects.filter(message__isnull=False), size=size, now=now)


@dataclass(frozen=True)
class _Outcome:
    """What one settle writes to its row; None leaves a column as it is."""

    pk: int
    status: str
    last_error: str | None = None
    ses_message_id: str | None = None
    sent_at: datetime | None = None


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _settle_write(outcomes: list[_Outcome]) -> list[bool]:
    """Write the outcomes of several rows in one statement; return which rows took theirs."""
    adapt = connection.ops.adapt_datetimefield_value
    ids = [outcome.pk for outcome in outcomes]
    assignments = [f"status = CASE id {' '.join(['WHEN %s THEN %s'] * len(outcomes))} END"]
    params: list = [value for outcome in outcomes for value in (outcome.pk, outcome.status)]
    for column in ("last_error", "ses_message_id", "sent_at"):
        given = [
            (outcome.pk, getattr(outcome, column))
            for outcome in outcomes
            if getattr(outcome, column) is not None
        ]
        if given:
            assignments.append(
                f"{column} = CASE id {' '.join(['WHEN %s THEN %s'] * len(given))} ELSE {column} END"
            )
            params += [
                item for pk, value in given for item in (pk, adapt(value) if column == "sent_at" else value)
            ]
    assignments += ["lease_expires_at = NULL", "updated_at = %s"]
    params.append(adapt(timezone.now()))
    # Proof of sending (an SES MessageId) also beats an `unknown` the sweeper wrote meanwhile.
    sent = [outcome.pk for outcome in outcomes if outcome.status == Status.SENT]
    condition = f"status = %s OR (status = %s AND id IN ({_placeholders(sent)}))" if sent else "status = %s"
    params += [*ids, Status.SENDING, *([Status.UNKNOWN, *sent] if sent else [])]
    table = connection.ops.quote_name(StepExecution._meta.db_table)
    statement = (
        f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608 - constants; values are parameters
        f"WHERE id IN ({_placeholders(ids)}) AND ({condition}) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        written = {pk for (pk,) in cursor.fetchall()}
    return [pk in written for pk in ids]


def _start_send_write(ids: list[int]) -> list[bool]:
    """Mark several claimed rows' SES calls as begun, in one statement; return which were still ours."""
    table = connection.ops.quote_name(StepExecution._meta.db_table)
    statement = (
        f"UPDATE {table} SET send_started_at = %s "  # noqa: S608 - constants; values are parameters
        f"WHERE id IN ({_placeholders(ids)}) AND status = %s RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement, [connection.ops.adapt_datetimefield_value(timezone.now()), *ids, Status.SENDING]
        )
        started = {pk for (pk,) in cursor.fetchall()}
    return [pk in started for pk in ids]


# Sending threads' ledger writes, grouped: one statement for every thread waiting at that moment.
_settles = GroupCommit(_settle_write)
_start_sends = GroupCommit(_start_send_write)


def step_execution_settle(
    *,
    execution: StepExecution,
    status: str,
    last_error: str | None = None,
    ses_message_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """Commit a claimed row's outcome; a row someone else already settled is left alone.

    The one exception is proof of sending: an SES MessageId beats an `unknown` that the sweeper
    wrote because this worker was slower than its lease. Concurrent settles share one statement.
    """
    outcome = _Outcome(execution.pk, status, last_error, ses_message_id, sent_at)
    if not _settles.submit(outcome):
        logger.warning("Row %s was no longer sending when its outcome (%s) arrived.", execution.pk, status)


def step_execution_release(*, executions: list[StepExecution], reason: str) -> None:
    """Return claimed rows to pending, untouched by SES, so a later claim sends them."""
    StepExecution.objects.filter(pk__in=[e.pk for e in executions], status=Status.SENDING).update(
        status=Status.PENDING,
        lease_expires_at=None,
        send_started_at=None,
        last_error=reason,
        updated_at=timezone.now(),
    )


def step_execution_reconcile(*, tracking_id: UUID | str, ses_message_id: str, accepted_at: datetime) -> bool:
    """Settle a row as sent on SES's word (its Send or Delivery event); return whether it changed.

    This is how an `unknown` row (a timeout, a worker killed mid-call) learns it went out; a row
    still `sending` whose worker is slow settles too. Idempotent: a row already sent stays as it is.
    """
    changed = StepExecution.objects.filter(
        tracking_id=tracking_id, status__in=[Status.UNKNOWN, Status.SENDING]
    ).update(
        status=Status.SENT,
        ses_message_id=ses_message_id,
        sent_at=accepted_at,
        lease_expires_at=None,
        last_error="",
        updated_at=timezone.now(),
    )
    if changed:
        logger.info("Row %s reconciled as sent from an SES event (%s).", tracking_id, ses_message_id)
        return True
    other = (
        StepExecution.objects.filter(tracking_id=tracking_id, status=Status.SENT)
        .exclude(ses_message_id=ses_message_id)
        .values_list("ses_message_id", flat=True)
        .first()
    )
    if other:
        # One row, two SES messages: the exactly-once promise broke somewhere. Say so loudly.
        logger.error("Row %s was sent as %s and again as %s.", tracking_id, other, ses_message_id)
    return False


_OUTCOME_ORDER = list(StepExecution.Outcome.values)


def step_execution_record_outcome(*, execution_id: int, outcome: str) -> bool:
    """Record what SES reported after accepting a row's email; return whether it changed.

    The outcome only climbs (delayed < delivered < rejected < bounced < complained), so events
    applied in any order end the same: a Delivery that arrives after its Bounce changes nothing.
    """
    lower = _OUTCOME_ORDER[: _OUTCOME_ORDER.index(outcome)]
    return bool(
        StepExecution.objects.filter(pk=execution_id, outcome__in=lower).update(
            outcome=outcome, updated_at=timezone.now()
        )
    )


def step_execution_start_send(*, execution: StepExecution) -> bool:
    """Commit that this row's SES call is about to begin; False if the row is no longer ours.

    After this, a lapsed claim means "maybe sent" (unknown), not "never sent" (pending).
    Concurrent marks share one statement.
    """
    return _start_sends.submit(execution.pk)


# SES message tags Campanile adds to every email; they come back on SES events to find the row.
# Prefixed, because integrators send tags of their own ("campaign" in the AWS load-test sample).
TAG_PREFIX = "campanile_"
TAG_CAMPAIGN = f"{TAG_PREFIX}campaign"
TAG_STEP = f"{TAG_PREFIX}step"
TAG_STEP_EXECUTION = f"{TAG_PREFIX}step_execution"
TAG_MESSAGE = f"{TAG_PREFIX}message"


@dataclass(frozen=True)
class Envelope:
    """Everything about a row's email that is not the per-contact rendering."""

    from_email: str
    reply_to: str
    configuration_set: str
    #: SES message tags; they come back on every SES event for this email.
    tags: dict[str, str]
    template: Template


def step_execution_envelope(*, execution: StepExecution) -> Envelope:
    """Return the envelope of a ledger row, from its campaign step or its transactional message."""
    if execution.message_id is not None:
        message = execution.message
        return Envelope(
            from_email=message.from_email,
            reply_to="",
            configuration_set=message.configuration_set or settings.SES_CONFIGURATION_SET,
            tags={
                **message.tags,
                TAG_MESSAGE: str(message.pk),
                TAG_STEP_EXECUTION: str(execution.tracking_id),
            },
            template=message.template,
        )
    step = execution.step
    campaign = step.campaign
    return Envelope(
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        configuration_set=campaign.configuration_set or settings.SES_CONFIGURATION_SET,
        tags={
            TAG_CAMPAIGN: str(campaign.pk),
            TAG_STEP: str(step.pk),
            TAG_STEP_EXECUTION: str(execution.tracking_id),
        },
        template=step.template,
    )


def step_execution_unsubscribe_url(*, execution: StepExecution) -> str:
    """Return the row's signed one-click unsubscribe URL (served by tracking)."""
    token = tokens.step_execution_token(tracking_id=execution.tracking_id, purpose=tokens.UNSUBSCRIBE)
    return settings.PUBLIC_BASE_URL + reverse("unsubscribe", args=[token])


# Link ids by (step, URL): every recipient of a step shares its links, so the database is asked
# once per link and process.
_link_ids: dict[tuple[int, str], int] = {}
_link_ids_lock = threading.Lock()
_LINK_CACHE_SIZE = 10_000


def step_link_id(*, step_id: int, url: str) -> int:
    """Return the id of a step's link to `url`, recording the link the first time."""
    key = (step_id, url)
    with _link_ids_lock:
        found = _link_ids.get(key)
    if found is not None:
        return found
    digest = hashlib.sha256(url.encode()).hexdigest()
    link, _ = TrackedLink.objects.get_or_create(step_id=step_id, url_hash=digest, defaults={"url": url})
    with _link_ids_lock:
        if len(_link_ids) >= _LINK_CACHE_SIZE:
            _link_ids.clear()
        _link_ids[key] = link.pk
    return link.pk


@functools.cache
def _tracking_prefixes(base: str) -> tuple[str, ...]:
    """Return our own link prefixes (click, open, unsubscribe): links that are never tracked again."""
    return tuple(base + reverse(name, args=["x"])[:-1] for name in ("click", "open", "unsubscribe"))


def honeypot_url() -> str:
    """Return the target of the hidden link in tracked mail: only machines ever follow it."""
    return f"{settings.PUBLIC_BASE_URL}/?campanile-honeypot"


def step_execution_track(
    *, execution: StepExecution, rendered: campaign_services.RenderedEmail
) -> campaign_services.RenderedEmail:
    """Return a campaign row's email with its links tracked and an open pixel, as the campaign asks.

    Links of the text part go through the redirect too, so clicks from text-only readers count.
    """
    campaign = execution.step.campaign
    if not (campaign.track_clicks or campaign.track_opens):
        return rendered
    base = settings.PUBLIC_BASE_URL

    def click_url(url: str) -> str:
        link_id = step_link_id(step_id=execution.step_id, url=url)
        return base + reverse(
            "click", args=[tokens.click_token(tracking_id=execution.tracking_id, link_id=link_id)]
        )

    pixel_url = None
    if campaign.track_opens:
        token = tokens.step_execution_token(tracking_id=execution.tracking_id, purpose=tokens.OPEN)
        pixel_url = base + reverse("open", args=[token])
    keep = _tracking_prefixes(base)
    html, text = rendered.html, rendered.text
    if html:
        try:
            html = html_track(
                html,
                click_url=click_url if campaign.track_clicks else None,
                pixel_url=pixel_url,
                keep_prefixes=keep,
                honeypot_url=honeypot_url(),
            )
        except (etree.ParserError, ValueError) as exc:
            # Mail that lxml cannot parse still goes out, untracked, rather than not at all.
            logger.warning("Row %s: HTML not tracked, lxml could not parse it (%s).", execution.pk, exc)
    if campaign.track_clicks and text:
        text = text_track(text, click_url=click_url, keep_prefixes=keep)
    return replace(rendered, html=html, text=text)


def _list_unsubscribe_headers(*, unsubscribe_url: str) -> dict[str, str]:
    """Return RFC 8058 one-click unsubscribe headers, which Gmail and Yahoo require of bulk mail."""
    targets = [f"<{unsubscribe_url}>"]
    if settings.UNSUBSCRIBE_MAILTO:
        # The token names the row, so whoever reads the mailbox can tell who wrote.
        subject = quote(f"unsubscribe {unsubscribe_url.rsplit('/', 1)[-1]}")
        targets.append(f"<mailto:{settings.UNSUBSCRIBE_MAILTO}?subject={subject}>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def step_execution_build_message(
    *,
    execution: StepExecution,
    envelope: Envelope,
    rendered: campaign_services.RenderedEmail,
    unsubscribe_url: str = "",
) -> EmailMultiAlternatives:
    """Build a fresh message for one row: django-ses writes its status into the message it sends.

    Campaign mail carries one-click unsubscribe headers; transactional mail (`unsubscribe_url`
    empty) does not, as marketing unsubscribes do not stop it.
    """
    # SES strips both X-SES headers before delivery.
    headers = {"X-SES-MESSAGE-TAGS": ", ".join(f"{name}={value}" for name, value in envelope.tags.items())}
    if envelope.configuration_set:
        headers["X-SES-CONFIGURATION-SET"] = envelope.configuration_set
    if unsubscribe_url:
        headers.update(_list_unsubscribe_headers(unsubscribe_url=unsubscribe_url))
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=envelope.from_email,
        to=[execution.email],
        reply_to=[envelope.reply_to] if envelope.reply_to else None,
        headers=headers,
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    return message


# How long before its send slot a row's "call begins" mark is committed: the commit's round trip
# then falls before the slot instead of between the slot and the call.
SLOT_LEAD_SECONDS = 0.005


def step_execution_deliver(
    *, execution: StepExecution, envelope: Envelope, compiled: campaign_services.CompiledTemplate
) -> str:
    """Render and send one claimed row, commit its outcome and return it.

    SesRetryLater propagates with the row untouched, for the caller to release.
    """
    unsubscribe_url = step_execution_unsubscribe_url(execution=execution) if execution.step_id else ""
    try:
        rendered = campaign_services.template_render(
            compiled=compiled, contact=execution.contact, extra={"unsubscribe_url": unsubscribe_url}
        )
    except TemplateRenderError as exc:
        step_execution_settle(execution=execution, status=Status.FAILED, last_error=str(exc))
        return Status.FAILED
    if execution.step_id:
        rendered = step_execution_track(execution=execution, rendered=rendered)
    message = step_execution_build_message(
        execution=execution, envelope=envelope, rendered=rendered, unsubscribe_url=unsubscribe_url
    )
    lane = throttle.LANE_TRANSACTIONAL if execution.message_id is not None else throttle.LANE_BULK
    moment = throttle.send_slot_wait(lane=lane, lead=SLOT_LEAD_SECONDS)
    if not step_execution_start_send(execution=execution):
        # Swept or cancelled while waiting for a slot: someone else decides this row now.
        logger.warning("Row %s was no longer claimed when its turn came; not sent.", execution.pk)
        return Status.SKIPPED
    while not throttle.send_slot_reach(moment=moment):
        moment = throttle.send_slot_wait(lane=lane)  # The commit stalled past the slot: a new one.
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
    #: Rows lost to a sweep or a cancel while waiting for a send slot; not ours to settle.
    skipped: int = 0
    #: Failures since the batch's last success (SES rejections, render errors).
    failures_in_a_row: int = 0
    #: SES stopped all sending (daily quota, paused account): a hold is in place.
    held: bool = False
    #: Put off by the campaign's send window or the frequency cap: pending again, for later.
    postponed: int = 0


def _postpone_outside_limits(*, executions: list[StepExecution], result: BatchResult) -> list[StepExecution]:
    """Hand back, pending until their time, claimed rows outside their send window or over the cap.

    Return the rows to send now.
    """
    now = timezone.now()
    later = drip.frequency_cap_until(executions=executions, now=now)
    for row in executions:
        campaign = row.step.campaign
        if campaign.send_window_start or campaign.send_weekdays:
            opening = drip.send_window_next(campaign=campaign, tz_name=row.contact.timezone, now=now)
            if opening is not None:
                later[row.pk] = max(opening, later.get(row.pk, opening))
    by_time: dict[datetime, list[int]] = {}
    for pk, moment in later.items():
        by_time.setdefault(moment, []).append(pk)
    for moment, ids in by_time.items():
        StepExecution.objects.filter(pk__in=ids, status=Status.SENDING).update(
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


def _suppressed_emails(executions: list[StepExecution]) -> set[str]:
    return set(
        Suppression.objects.filter(email__in=[e.email for e in executions]).values_list("email", flat=True)
    )


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
    if honour_unsubscribe:  # Campaign mail: send windows and the frequency cap apply.
        executions = _postpone_outside_limits(executions=executions, result=result)
    suppressed = _suppressed_emails(executions)
    compiled: dict[int, campaign_services.CompiledTemplate] = {}
    work = []
    for execution in executions:
        # Checked at claim time, not only when queued: an unsubscribe or bounce that arrived since
        # must still stop this email. Transactional mail heeds suppressions, not unsubscribes.
        unsubscribed = honour_unsubscribe and execution.contact.status != Contact.Status.SUBSCRIBED
        if execution.email in suppressed or unsubscribed:
            step_execution_settle(execution=execution, status=Status.SUPPRESSED)
            metrics.EMAILS.inc(outcome="suppressed")
            result.suppressed += 1
            continue
        envelope = step_execution_envelope(execution=execution)
        template = envelope.template
        try:
            if template.pk not in compiled:
                compiled[template.pk] = campaign_services.template_compile(template=template)
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
        throttled = _back_off_if_throttled(result=result, throttled=throttled, deadline=deadline)
    return True


# Waits after SES throttling: doubling from the first, capped, each scaled by a random 0.5–1.5 so
# workers throttled together do not come back together.
THROTTLE_BACKOFF_FIRST = 0.5
THROTTLE_BACKOFF_CAP = 16.0


def _back_off_if_throttled(*, result: BatchResult, throttled: int, deadline: float) -> int:
    """Sleep with jitter after a throttled batch; return how many batches in a row were throttled."""
    if not result.released:
        return 0
    jitter = random.uniform(0.5, 1.5)  # noqa: S311 - spreads retries out; no secret here
    delay = min(THROTTLE_BACKOFF_FIRST * 2**throttled, THROTTLE_BACKOFF_CAP) * jitter
    sleep(max(0.0, min(delay, deadline - monotonic())))
    return throttled + 1


def step_execution_sweep_stalled(*, now: datetime | None = None) -> tuple[int, int]:
    """Settle rows whose claim lease ran out; return (back to pending, now unknown).

    A row whose SES call never began goes back to pending for another worker. One whose call had
    begun may have been sent, and SES has no idempotency token, so it is never re-sent blindly: it
    becomes unknown, for SES events to reconcile.
    """
    now = now or timezone.now()
    stalled = StepExecution.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
    with transaction.atomic():
        requeued = stalled.filter(send_started_at__isnull=True).update(
            status=Status.PENDING,
            lease_expires_at=None,
            last_error="The claim lease expired before the SES call; queued again.",
            updated_at=now,
        )
        unknown = stalled.filter(send_started_at__isnull=False).update(
            status=Status.UNKNOWN,
            lease_expires_at=None,
            last_error="The claim lease expired during the SES call; waiting for SES events.",
            updated_at=now,
        )
    return requeued, unknown


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
            return False  # The tick starts sending again once the hold lifts.
        if not _campaign_heartbeat(campaign=campaign):
            return False  # No longer sending: paused, cancelled or completed.
        result = _campaign_send_batch(steps=steps)
        if result.held:
            return False
        if not result.claimed:
            break
        # Failures after the batch's last success, plus, if it had none, those before it.
        failures_in_a_row = result.failures_in_a_row + (0 if result.sent else failures_in_a_row)
        if failures_in_a_row >= settings.SEND_MAX_CONSECUTIVE_ERRORS:
            _campaign_pause_for_errors(campaign=campaign, failures=failures_in_a_row)
            return False
        throttled = _back_off_if_throttled(result=result, throttled=throttled, deadline=deadline)
    else:
        return True
    campaign_complete_if_done(campaign=campaign)
    return False


def _campaign_send_batch(*, steps: list[CampaignStep]) -> BatchResult:
    """Send one batch from the first step, in order, that has rows to send now."""
    for step in steps:
        result = step_send_batch(step=step)
        if result.claimed:
            return result
    return BatchResult()


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


@dataclass(frozen=True)
class MessageRequest:
    """A validated request to send one templated email, as the API received it."""

    from_email: str
    to: str
    template_name: str
    user_id: str = ""
    config_set: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    unique_code: str = ""

    def fingerprint(self) -> str:
        """Return a digest of everything but the idempotency code, to recognise a true retry."""
        canonical = {
            "from": self.from_email,
            "to": email_normalize(self.to),
            "template_name": self.template_name,
            "user_id": self.user_id,
            "config_set": self.config_set,
            "tags": sorted(self.tags),
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _message_by_code(*, api_key: ApiKey, unique_code: str) -> TransactionalMessage | None:
    if not unique_code:
        return None
    return TransactionalMessage.objects.filter(api_key=api_key, unique_code=unique_code).first()


def _message_replay(*, message: TransactionalMessage, request: MessageRequest) -> TransactionalMessage:
    if message.fingerprint != request.fingerprint():
        raise IdempotencyConflict(
            f"unique_code {request.unique_code!r} was already used with a different request "
            f"(message {message.pk}); use a new code for a new email."
        )
    return message


@functools.cache
def _insert_plan(model, source: str, computed: tuple[tuple[str, str], ...], with_pk: bool):
    """Return the INSERT statement for a model and the fields whose values it takes, built once."""
    meta = model._meta
    expressions = dict(computed)
    columns, values, fields = [], [], []
    for field in meta.local_concrete_fields:
        if field is meta.auto_field and not with_pk:
            continue  # Left to the database.
        columns.append(connection.ops.quote_name(field.column))
        if field.column in expressions:
            values.append(expressions[field.column])
        else:
            values.append("%s")
            fields.append(field)
    into = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({', '.join(columns)})"
    if source:
        # Names come from model metadata and callers' constants; every value is a parameter.
        return f"{into} SELECT {', '.join(values)} FROM {source}", fields  # noqa: S608
    return f"{into} VALUES ({', '.join(values)})", fields


def _insert_sql(obj, *, source: str = "", computed: tuple[tuple[str, str], ...] = ()) -> tuple[str, list]:
    """Return an INSERT of one new model instance and its parameters, without Django's compiler.

    Values are prepared by each field, as Django's own INSERT does. `computed` gives some columns
    an SQL expression over `source`, the relation the row is selected from, instead of a value.
    """
    sql, fields = _insert_plan(type(obj), source, computed, obj.pk is not None)
    return sql, [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def rows_insert_together(*objs) -> None:
    """Insert new model instances all or none; on PostgreSQL in one statement, one round trip.

    Rows that others point at need their primary key set already (UUIDv7 defaults are); an
    auto-incremented id is left to the database and not read back. PostgreSQL runs the INSERTs as
    data-modifying CTEs of a single statement (its foreign keys are checked at the end of it).
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for obj in objs:
                obj.save(force_insert=True)
        return
    parts, params = [], []
    for obj in objs:
        sql, values = _insert_sql(obj)
        parts.append(sql)
        params.extend(values)
    *first, last = parts
    statement = "WITH " + ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(first)) + " " + last
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
    for obj in objs:
        obj._state.adding = False


@dataclass(frozen=True)
class _MessageLookups:
    existing_id: UUID | None
    template_id: int | None
    contact_id: int | None
    suppressed: bool
    inserted: bool = False


# Every question a new message asks, as four scalar subqueries. Written out by hand because it
# runs on every API request, where the ORM spent a millisecond building it (BENCHMARKS.md). An
# absent code is NULL, and `= NULL` matches nothing, so no special case.
_MESSAGE_LOOKUPS = (
    "SELECT (SELECT id FROM {messages} WHERE api_key_id = %s AND unique_code = %s) AS existing_id, "
    "(SELECT id FROM {templates} WHERE name = %s) AS template_id, "
    "(SELECT id FROM {contacts} WHERE {contact_key} = %s{contact_key_set}) AS contact_id, "
    "EXISTS (SELECT 1 FROM {suppressions} WHERE email = %s) AS suppressed"
)


# Transactional mail ignores marketing unsubscribes but never goes to a suppressed address.
_ACCEPTED_STATUS_SQL = f"CASE WHEN suppressed THEN '{Status.SUPPRESSED}' ELSE '{Status.PENDING}' END"


def _message_lookups_sql(*, api_key: ApiKey, request: MessageRequest) -> tuple[str, list]:
    to = email_normalize(request.to)
    contact_key, contact_value = ("external_id", request.user_id) if request.user_id else ("email", to)
    statement = _MESSAGE_LOOKUPS.format(
        messages=TransactionalMessage._meta.db_table,
        templates=Template._meta.db_table,
        contacts=Contact._meta.db_table,
        suppressions=Suppression._meta.db_table,
        contact_key=contact_key,
        # Restates the partial unique index's condition, so a prepared statement's generic plan
        # can use the index: it cannot know the parameter is not ''.
        contact_key_set=" AND NOT external_id = ''" if request.user_id else "",
    )
    return statement, [api_key.pk, request.unique_code or None, request.template_name, contact_value, to]


def _message_lookups_read(row) -> _MessageLookups:
    existing_id, template_id, contact_id, suppressed, *inserted = row
    return _MessageLookups(
        # SQLite hands back the UUID as text; the field turns either form into a UUID.
        existing_id=TransactionalMessage._meta.pk.to_python(existing_id),
        template_id=template_id,
        contact_id=contact_id,
        suppressed=bool(suppressed),
        inserted=bool(inserted and inserted[0]),
    )


def _message_lookups(*, api_key: ApiKey, request: MessageRequest) -> _MessageLookups:
    """Return the code's message if any, the template, the contact, and whether `to` is suppressed."""
    statement, params = _message_lookups_sql(api_key=api_key, request=request)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return _message_lookups_read(cursor.fetchone())


def _message_insert_if_new(
    *, message: TransactionalMessage, execution: StepExecution, request: MessageRequest
) -> _MessageLookups:
    """Look up and, when the code is new and template and contact exist, insert: one statement.

    PostgreSQL only. The message and its ledger row are data-modifying CTEs selected from the
    lookups, so the common request costs one round trip; anything else inserts nothing and
    returns the lookups for message_queue to decide.
    """
    lookups, params = _message_lookups_sql(api_key=message.api_key, request=request)
    message_sql, message_params = _insert_sql(
        message,
        source="found WHERE existing_id IS NULL AND template_id IS NOT NULL AND contact_id IS NOT NULL",
        computed=(
            ("template_id", "template_id"),
            ("contact_id", "contact_id"),
            ("accepted_status", _ACCEPTED_STATUS_SQL),
        ),
    )
    execution_sql, execution_params = _insert_sql(
        execution,
        source="new_message",
        computed=(("contact_id", "new_message.contact_id"), ("status", "new_message.accepted_status")),
    )
    statement = (
        f"WITH found AS ({lookups}), "  # noqa: S608 - built from constants; values are parameters
        f"new_message AS ({message_sql} RETURNING contact_id, accepted_status), "
        f"new_execution AS ({execution_sql} RETURNING 1) "
        "SELECT found.*, EXISTS (SELECT 1 FROM new_execution) FROM found"
    )
    # Prepared once per connection: planning this statement cost as much as running it.
    with server_bound_cursor() as cursor:
        cursor.execute(statement, [*params, *message_params, *execution_params], prepare=True)
        return _message_lookups_read(cursor.fetchone())


def message_queue(*, api_key: ApiKey, request: MessageRequest) -> tuple[TransactionalMessage, bool]:
    """Queue one transactional email idempotently; return it and whether this was a replay.

    A code seen before with the same request replays the first answer and sends nothing more; with
    another request it raises IdempotencyConflict. The unique constraint on (key, code) settles
    concurrent first requests: the losers fall through to the replay.
    """
    to = email_normalize(request.to)
    message = TransactionalMessage(
        api_key=api_key,
        unique_code=request.unique_code or None,
        fingerprint=request.fingerprint(),
        to_email=to,
        from_email=request.from_email,
        configuration_set=request.config_set,
        tags=dict(request.tags),
    )
    execution = StepExecution(message=message, email=to)
    try:
        if connection.vendor == "postgresql":
            found = _message_insert_if_new(message=message, execution=execution, request=request)
        else:
            found = _message_lookups(api_key=api_key, request=request)
        if found.existing_id is not None:
            existing = TransactionalMessage.objects.get(pk=found.existing_id)
            return _message_replay(message=existing, request=request), True
        if found.template_id is None:
            raise ObjectNotFound(f"No template is named {request.template_name!r}.")
        # Transactional mail ignores marketing unsubscribes but never goes to a suppressed address.
        status = Status.SUPPRESSED if found.suppressed else Status.PENDING
        message.template_id = found.template_id
        message.accepted_status = execution.status = status
        if found.inserted:
            message.contact_id = execution.contact_id = found.contact_id
            message._state.adding = execution._state.adding = False
            return message, False
        contact_id = found.contact_id
        if contact_id is None:
            if request.user_id:
                raise ObjectNotFound(f"No contact has user_id (external_id) {request.user_id!r}.")
            # Without a user_id the recipient is the contact, added (on no list) for personalization;
            # a load-test key's traffic makes load-test contacts, kept out of the marketer's way.
            contact_id = Contact.objects.get_or_create(
                email=to, defaults={"is_load_test": api_key.is_load_test}
            )[0].pk
        message.contact_id = execution.contact_id = contact_id
        rows_insert_together(message, execution)
    except IntegrityError:
        existing = _message_by_code(api_key=api_key, unique_code=request.unique_code)
        if existing is None:
            raise
        return _message_replay(message=existing, request=request), True
    # No broker message per request: the transactional dispatcher, ticking every
    # MESSAGE_DISPATCH_SECONDS, claims pending rows in batches. The ledger row is the queue.
    if execution.status == Status.PENDING:
        metrics.QUEUED.inc(kind="transactional")
    return message, False


def step_executions_retry(*, rows: QuerySet[StepExecution]) -> int:
    """Put the failed ones of these rows back in their queues; return how many. Completed
    campaigns among theirs reopen; transactional rows go back to the dispatcher.

    Only `failed` rows move: `unknown` rows may have been delivered and wait for SES events.
    """
    with transaction.atomic():
        failed = rows.filter(status=Status.FAILED)
        campaigns = set(failed.exclude(step=None).values_list("step__campaign", flat=True))
        closed = Campaign.objects.filter(pk__in=campaigns).exclude(
            status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED]
        )
        if closed.exists():
            names = ", ".join(
                f"“{campaign.name}” ({campaign.get_status_display().lower()})" for campaign in closed
            )
            raise InvalidTransition(f"Nothing to retry in {names}.")
        retried = failed.update(status=Status.PENDING, lease_expires_at=None, updated_at=timezone.now())
        for campaign in Campaign.objects.filter(pk__in=campaigns, status=Campaign.Status.COMPLETED):
            campaign_services.campaign_reopen(campaign=campaign)
    return retried


def campaign_retry_failed(*, campaign: Campaign) -> int:
    """Put a campaign's failed rows back in its queue; return how many. A completed campaign reopens."""
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED):
        state = campaign.get_status_display().lower()
        raise InvalidTransition(f"Campaign “{campaign.name}” is {state}: there is nothing to retry.")
    return step_executions_retry(rows=StepExecution.objects.filter(step__campaign=campaign))


# --- Test sends -----------------------------------------------------------------------------------

TEST_SEND_MAX = 10


def campaign_send_test(*, step: CampaignStep, contact: Contact, addresses: list[str]) -> list[str]:
    """Send one step's email, rendered for `contact`, to a few addresses now; return SES message ids.

    For a marketer's own eyes before scheduling: no ledger row, no tracking, "[Test]" in the
    subject, at the transactional lane's place in the fleet's rate. Raises TemplateRenderError or
    an SesError as the send would.
    """
    if not 1 <= len(addresses) <= TEST_SEND_MAX:
        raise ValueError(f"A test goes to 1 to {TEST_SEND_MAX} addresses.")
    campaign = step.campaign
    compiled = campaign_services.template_compile(template=step.template)
    rendered = campaign_services.template_render(
        compiled=compiled, contact=contact, extra={"unsubscribe_url": settings.PUBLIC_BASE_URL + "/u/test"}
    )
    envelope = Envelope(
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        configuration_set=campaign.configuration_set or settings.SES_CONFIGURATION_SET,
        tags={TAG_CAMPAIGN: str(campaign.pk), TAG_STEP: str(step.pk), "campanile_test": "1"},
        template=step.template,
    )
    ids = []
    for address in addresses:
        message = step_execution_build_message(
            execution=StepExecution(email=address),
            envelope=envelope,
            rendered=replace(rendered, subject=f"[Test] {rendered.subject}"),
        )
        throttle.send_slot_wait(lane=throttle.LANE_TRANSACTIONAL)
        ids.append(ses_send(message=message))
    return ids
