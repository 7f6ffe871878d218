"""The send ledger's rows: made in SQL, claimed under a lease, settled once, swept, reconciled.

A row is claimed and committed as `sending` before SES is called, and its outcome is committed right
after: the ledger, not the queue, decides who has been mailed."""

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import CampaignStep
from delivery.group_commit import GroupCommit
from delivery.models import StepExecution

logger = logging.getLogger(__name__)
Status = StepExecution.Status

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


def claims_held(executions) -> Q:
    """Return the condition "still under these claims": each row sending, and claimed no later.

    A claim is (row, attempts): every claim adds one to `attempts`. A row whose lease lapsed may be
    swept and claimed again by another worker; then its first claimant must neither mark, settle
    nor release it, or two workers would send it.
    """
    held = Q(pk__in=[])
    for execution in executions:
        held |= Q(pk=execution.pk, attempts=execution.attempts)
    return held & Q(status=Status.SENDING)


# The rows this process has claimed, by id, with their claim's attempts. After a failed round or on
# shutdown, those it never began to send go back to pending at once instead of waiting out their
# lease.
_claimed: dict[int, int] = {}
_claimed_lock = threading.Lock()


def step_executions_release_claimed(*, reason: str) -> int:
    """Return to pending every row this process claimed and never began to send; return how many.

    Rows begun are left alone (SES may have them: their lease makes them unknown). The process
    forgets its claims only once the release is committed, so a failed one is tried again.
    """
    with _claimed_lock:
        held = [StepExecution(pk=pk, attempts=attempts) for pk, attempts in _claimed.items()]
    released = 0
    if held:
        released = StepExecution.objects.filter(claims_held(held), send_started_at__isnull=True).update(
            status=Status.PENDING, lease_expires_at=None, last_error=reason, updated_at=timezone.now()
        )
    with _claimed_lock:
        for execution in held:
            _claimed.pop(execution.pk, None)
    return released


def step_executions_forget_claimed() -> None:
    """Forget this process's claims after a round that settled every one of them."""
    with _claimed_lock:
        _claimed.clear()


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
    claimed = list(
        StepExecution.objects.filter(pk__in=ids).select_related("contact", "message__template").order_by("pk")
    )
    with _claimed_lock:
        _claimed.update((row.pk, row.attempts) for row in claimed)
    return claimed


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
    #: The claim's generation: a row claimed again since is another worker's to settle.
    attempts: int
    status: str
    last_error: str | None = None
    ses_message_id: str | None = None
    sent_at: datetime | None = None


def _placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _claims(pairs: list[tuple[int, int]]) -> tuple[str, list]:
    """Return "(id, attempts) IN (…)" for these claims, and its parameters."""
    return f"(id, attempts) IN ({', '.join(['(%s, %s)'] * len(pairs))})", [v for pair in pairs for v in pair]


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
    claims, claim_params = _claims([(outcome.pk, outcome.attempts) for outcome in outcomes])
    params += [*claim_params, Status.SENDING, *([Status.UNKNOWN, *sent] if sent else [])]
    table = connection.ops.quote_name(StepExecution._meta.db_table)
    statement = (
        f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608 - constants; values are parameters
        f"WHERE {claims} AND ({condition}) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        written = {pk for (pk,) in cursor.fetchall()}
    return [pk in written for pk in ids]


def _start_send_write(pairs: list[tuple[int, int]]) -> list[bool]:
    """Mark several claimed rows' SES calls as begun, in one statement; return which were still ours.

    Ours means under the same claim (id and attempts), not merely `sending`: a row swept and claimed
    by another worker meanwhile is theirs, and marking it would send it twice.
    """
    claims, params = _claims(pairs)
    table = connection.ops.quote_name(StepExecution._meta.db_table)
    statement = (
        f"UPDATE {table} SET send_started_at = %s "  # noqa: S608 - constants; values are parameters
        f"WHERE {claims} AND status = %s AND send_started_at IS NULL RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement, [connection.ops.adapt_datetimefield_value(timezone.now()), *params, Status.SENDING]
        )
        started = {pk for (pk,) in cursor.fetchall()}
    return [pk in started for pk, _attempts in pairs]


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
    outcome = _Outcome(execution.pk, execution.attempts, status, last_error, ses_message_id, sent_at)
    if not _settles.submit(outcome):
        logger.warning("Row %s was no longer sending when its outcome (%s) arrived.", execution.pk, status)


def step_execution_release(*, executions: list[StepExecution], reason: str) -> None:
    """Return claimed rows to pending, untouched by SES, so a later claim sends them."""
    StepExecution.objects.filter(claims_held(executions)).update(
        status=Status.PENDING,
        lease_expires_at=None,
        send_started_at=None,
        last_error=reason,
        updated_at=timezone.now(),
    )


def step_executions_seen(*, execution_ids: Collection[int]) -> int:
    """Settle as sent the `unknown` rows whose recipient was seen through the email's own signed
    links (its pixel, a click, the unsubscribe link): only an email SES took can be read. Return
    how many changed. The SES message id stays unknown; the send time is when the call began."""
    now = timezone.now()
    changed = StepExecution.objects.filter(pk__in=list(execution_ids), status=Status.UNKNOWN).update(
        status=Status.SENT,
        sent_at=Coalesce(F("send_started_at"), Value(now)),
        lease_expires_at=None,
        last_error="",
        updated_at=now,
    )
    if changed:
        logger.info(
            "%s unknown rows settled as sent: their recipients opened, clicked or unsubscribed.", changed
        )
    return changed


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


def step_execution_record_outcome(*, execution_id: int, outcome: str) -> bool:
    """Record what SES reported after accepting a row's email; return whether it changed.

    The outcome only climbs StepExecution.OUTCOME_RANK, so events applied in any order end the
    same: a Delivery that arrives after its Bounce changes nothing.
    """
    rank = StepExecution.OUTCOME_RANK
    lower = [other for other in rank if rank[other] < rank[StepExecution.Outcome(outcome)]]
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
    return _start_sends.submit((execution.pk, execution.attempts))


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
