"""Transactional messages from the API: queued idempotently, one ledger row each, in one statement."""

import hashlib
import json
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from campaigns.erasure import address_digests_all, address_erasure, address_erasure_return
from campaigns.exceptions import IdempotencyConflict
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.models import Contact, ErasedAddress, Suppression, Template, email_normalize
from campaigns.suppressions import addresses_suppressed
from core.db import row_insert_sql, rows_insert_together, server_bound_cursor
from core.digests import keyed_digests
from core.exceptions import ObjectNotFound
from core.models import ApiKey
from delivery import metrics
from delivery.models import IdempotencyRecord, StepExecution, TransactionalMessage

Status = StepExecution.Status


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


def _code_replay(*, api_key: ApiKey, request: MessageRequest) -> TransactionalMessage | None:
    """Return the first answer to the request's code: its message's, or, once the message went
    with its contact, its IdempotencyRecord's; None if the code is new. IdempotencyConflict if the
    code was used for another request."""
    code = request.unique_code
    if not code:
        return None
    message = TransactionalMessage.objects.filter(api_key=api_key, unique_code=code).first()
    if message is not None:
        return _message_replay(message=message, request=request)
    # Written in the transaction that took the message's code away (deletion, erasure).
    record = IdempotencyRecord.objects.filter(api_key=api_key, code_digest__in=_code_digests(code)).first()
    return _record_replay(record=record, request=request) if record is not None else None


def _code_digests(code: str) -> list[str]:
    return keyed_digests(purpose="idempotency-code", value=code)


def _fingerprint_digests(fingerprint: str) -> list[str]:
    return keyed_digests(purpose="idempotency-fingerprint", value=fingerprint)


def message_codes_keep(*, messages: QuerySet[TransactionalMessage]) -> int:
    """Keep the idempotency codes of messages about to leave the record (their contact deleted,
    or erased) as IdempotencyRecords, so a retry of their requests replays instead of sending
    again; return how many were kept."""
    given = messages.filter(unique_code__isnull=False, api_key__isnull=False)
    records = [
        IdempotencyRecord(
            api_key_id=api_key_id,
            code_digest=_code_digests(cast(str, code))[0],
            fingerprint_digest=_fingerprint_digests(fingerprint)[0],
            message_id=pk,
            accepted_status=accepted_status,
        )
        for api_key_id, code, fingerprint, pk, accepted_status in given.values_list(
            "api_key_id", "unique_code", "fingerprint", "pk", "accepted_status"
        )
    ]
    return len(IdempotencyRecord.objects.bulk_create(records, ignore_conflicts=True))


def _record_replay(*, record: IdempotencyRecord, request: MessageRequest) -> TransactionalMessage:
    """Replay the first answer to a code whose message is gone; its request must be the same."""
    if record.fingerprint_digest not in _fingerprint_digests(request.fingerprint()):
        raise IdempotencyConflict(
            f"unique_code {request.unique_code!r} was already used with a different request "
            f"(message {record.message_id}); use a new code for a new email."
        )
    # The answer alone: the message went with its contact.
    return TransactionalMessage(
        pk=record.message_id, accepted_status=record.accepted_status, unique_code=request.unique_code
    )


def _message_replay(*, message: TransactionalMessage, request: MessageRequest) -> TransactionalMessage:
    if message.fingerprint != request.fingerprint():
        raise IdempotencyConflict(
            f"unique_code {request.unique_code!r} was already used with a different request "
            f"(message {message.pk}); use a new code for a new email."
        )
    return message


@dataclass(frozen=True)
class _MessageLookups:
    existing_id: UUID | None
    template_id: int | None
    contact_id: int | None
    suppressed: bool
    #: The IdempotencyRecord the code left when its message went with its contact.
    kept_id: int | None = None
    inserted: bool = False


# Every question a new message asks, as five scalar subqueries. Written out by hand because it
# runs on every API request, where the ORM spent a millisecond building it (docs/benchmarks). An
# absent code is NULL, and `= NULL` matches nothing, so no special case. An erased address is
# suppressed by the bounce or complaint its entry keeps (campaigns.erasure), found by its digests.
_MESSAGE_LOOKUPS = (
    "SELECT (SELECT id FROM {messages} WHERE api_key_id = %s AND unique_code = %s) AS existing_id, "
    "(SELECT id FROM {templates} WHERE name = %s) AS template_id, "
    "(SELECT id FROM {contacts} WHERE {contact_key} = %s{contact_key_set}) AS contact_id, "
    "(EXISTS (SELECT 1 FROM {suppressions} WHERE email = %s AND reason <> '{unsubscribe}') "
    "OR EXISTS (SELECT 1 FROM {erased} WHERE digest IN ({address_digests}) "
    "AND suppression_reason NOT IN ('', '{unsubscribe}'))) AS suppressed, "
    "(SELECT id FROM {records} WHERE api_key_id = %s AND code_digest IN ({code_digests})) AS kept_id"
)

# Transactional mail ignores marketing unsubscribes (kept as suppressions too, when a contact who
# unsubscribed is deleted) but never goes to an address suppressed for any other reason.
_ACCEPTED_STATUS_SQL = f"CASE WHEN suppressed THEN '{Status.SUPPRESSED}' ELSE '{Status.PENDING}' END"


def _message_lookups_sql(*, api_key: ApiKey, request: MessageRequest) -> tuple[str, list]:
    to = email_normalize(request.to)
    contact_key, contact_value = ("external_id", request.user_id) if request.user_id else ("email", to)
    address_digests = address_digests_all(email=to)
    # No code: NULLs, which match nothing, keep the statement's shape (it is prepared once).
    code = request.unique_code
    code_digests: list[str | None] = [*_code_digests(code)] if code else [None] * len(address_digests)
    statement = _MESSAGE_LOOKUPS.format(
        messages=TransactionalMessage._meta.db_table,
        templates=Template._meta.db_table,
        contacts=Contact._meta.db_table,
        suppressions=Suppression._meta.db_table,
        erased=ErasedAddress._meta.db_table,
        records=IdempotencyRecord._meta.db_table,
        unsubscribe=Suppression.Reason.UNSUBSCRIBE,
        contact_key=contact_key,
        # Restates the partial unique index's condition, so a prepared statement's generic plan
        # can use the index: it cannot know the parameter is not ''.
        contact_key_set=" AND NOT external_id = ''" if request.user_id else "",
        address_digests=", ".join(["%s"] * len(address_digests)),
        code_digests=", ".join(["%s"] * len(code_digests)),
    )
    params = [api_key.pk, request.unique_code or None, request.template_name, contact_value, to]
    return statement, [*params, *address_digests, api_key.pk, *code_digests]


def _message_lookups_read(row) -> _MessageLookups:
    existing_id, template_id, contact_id, suppressed, kept_id, *inserted = row
    return _MessageLookups(
        # SQLite hands back the UUID as text; the field turns either form into a UUID.
        existing_id=TransactionalMessage._meta.pk.to_python(existing_id),
        template_id=template_id,
        contact_id=contact_id,
        suppressed=bool(suppressed),
        kept_id=kept_id,
        inserted=bool(inserted and inserted[0]),
    )


def _message_lookups(*, api_key: ApiKey, request: MessageRequest) -> _MessageLookups:
    """Return the code's message if any, the template, the contact, and whether `to` is suppressed."""
    statement, params = _message_lookups_sql(api_key=api_key, request=request)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return _message_lookups_read(cursor.fetchone())


# A message through a key that is no load test's makes the contact the marketer's, as
# campaigns.load_test_contacts.contacts_load_test_clear does, in the insert's own statement: no round trip
# more. It writes nothing unless the contact was a load test's; run whether or not it is read.
_LOAD_TEST_CLEARED = (
    "cleared AS (UPDATE {contacts} SET is_load_test = false "
    "WHERE id = (SELECT contact_id FROM new_message) AND is_load_test AND %s)"
)


def _message_insert_if_new(
    *, message: TransactionalMessage, execution: StepExecution, request: MessageRequest
) -> _MessageLookups:
    """Look up and, when the code is new and template and contact exist, insert: one statement.

    PostgreSQL only. The message and its ledger row are data-modifying CTEs selected from the
    lookups, so the common request costs one round trip; anything else inserts nothing and
    returns the lookups for message_queue to decide.
    """
    lookups, params = _message_lookups_sql(api_key=cast(ApiKey, message.api_key), request=request)
    message_sql, message_params = row_insert_sql(
        message,
        source=(
            "found WHERE existing_id IS NULL AND kept_id IS NULL "
            "AND template_id IS NOT NULL AND contact_id IS NOT NULL"
        ),
        computed=(
            ("template_id", "template_id"),
            ("contact_id", "contact_id"),
            ("accepted_status", _ACCEPTED_STATUS_SQL),
        ),
    )
    execution_sql, execution_params = row_insert_sql(
        execution,
        source="new_message",
        computed=(("contact_id", "new_message.contact_id"), ("status", "new_message.accepted_status")),
    )
    statement = (
        f"WITH found AS ({lookups}), "  # noqa: S608 - built from constants; values are parameters
        f"new_message AS ({message_sql} RETURNING contact_id, accepted_status), "
        f"new_execution AS ({execution_sql} RETURNING 1), "
        f"{_LOAD_TEST_CLEARED.format(contacts=Contact._meta.db_table)} "
        "SELECT found.*, EXISTS (SELECT 1 FROM new_execution) FROM found"
    )
    cleared = [not cast(ApiKey, message.api_key).is_load_test]
    # Prepared once per connection: planning this statement cost as much as running it.
    with server_bound_cursor() as cursor:
        cursor.execute(statement, [*params, *message_params, *execution_params, *cleared], prepare=True)
        return _message_lookups_read(cursor.fetchone())


def _recipient_contact(*, api_key: ApiKey, email: str) -> int:
    """Return the id of the contact an address without one becomes; call it in the insert's transaction."""
    if address_erasure(email=email) is not None:
        # Mail the integrator sends brings an erased address back, as transactional only,
        # with the suppression it held (the lookups found it); imports still refuse it.
        address_erasure_return(email=email)
    # Without a user_id the recipient is the contact, added (on no list) for personalization;
    # a load-test key's traffic makes load-test contacts, kept out of the marketer's way.
    contact, created = Contact.objects.get_or_create(
        email=email,
        # Never asked for campaign mail: a segment must not find them mailable.
        defaults={"is_load_test": api_key.is_load_test, "status": Contact.Status.TRANSACTIONAL},
    )
    if not created and contact.is_load_test and not api_key.is_load_test:
        contacts_load_test_clear(contact_ids=[contact.pk])  # A load test's made it meanwhile.
    return contact.pk


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
        if found.existing_id is not None or found.kept_id is not None:
            # Read again, as it is now: its message may have gone with its contact since.
            replay = _code_replay(api_key=api_key, request=request)
            if replay is None:
                raise IdempotencyConflict(
                    f"unique_code {request.unique_code!r} changed while this request was read; retry it."
                )
            return replay, True
        if found.template_id is None:
            raise ObjectNotFound(f"No template is named {request.template_name!r}.")
        # Transactional mail ignores marketing unsubscribes but never goes to a suppressed address.
        status = Status.SUPPRESSED if found.suppressed else Status.PENDING
        message.template_id = found.template_id
        message.accepted_status = execution.status = status
        if found.inserted:
            # The statement inserts only when it found the contact.
            message.contact_id = execution.contact_id = cast(int, found.contact_id)
            message._state.adding = execution._state.adding = False
            return message, False
        if found.contact_id is None and request.user_id:
            raise ObjectNotFound(f"No contact has user_id (external_id) {request.user_id!r}.")
        # One transaction with the insert: a request that loses its code to a concurrent one
        # (IntegrityError) is refused, so it must leave no contact and bring back no erased
        # address. Rolled back before the replay below reads the winner's row.
        with transaction.atomic():
            contact_id = found.contact_id
            if contact_id is None:
                contact_id = _recipient_contact(api_key=api_key, email=to)
            elif not api_key.is_load_test:
                # On PostgreSQL the insert's own statement does it (_LOAD_TEST_CLEARED).
                contacts_load_test_clear(contact_ids=[contact_id])
            message.contact_id = execution.contact_id = contact_id
            rows_insert_together(message, execution)
    except IntegrityError:
        earlier = _code_replay(api_key=api_key, request=request)
        if earlier is None:
            raise
        return earlier, True
    # No broker message per request: the transactional dispatcher, ticking every
    # MESSAGE_DISPATCH_SECONDS, claims pending rows in batches. The ledger row is the queue.
    if execution.status == Status.PENDING:
        metrics.QUEUED.inc(kind="transactional")
    return message, False


def message_queue_own(
    *, template: Template, contact: Contact, from_email: str, context: dict[str, str]
) -> TransactionalMessage:
    """Queue an email Campanile sends itself, under no API key (a signup's confirmation).

    One ledger row, sent once as any transactional email is; `context` adds variables of this email
    to its template. Never to a suppressed address (a bounce or complaint, kept with an erasure
    too): its row is settled as suppressed at once. An opt-out kept as a suppression stops it no
    more than any transactional email: its owner must be able to confirm a signup to come back.
    """
    suppressed = bool(addresses_suppressed(emails=[contact.email], marketing=False))
    status = Status.SUPPRESSED if suppressed else Status.PENDING
    message = TransactionalMessage(
        api_key=None,
        fingerprint="",
        accepted_status=status,
        template=template,
        contact=contact,
        to_email=contact.email,
        from_email=from_email,
        context=context,
    )
    rows_insert_together(
        message, StepExecution(message=message, contact=contact, email=contact.email, status=status)
    )
    if status == Status.PENDING:
        metrics.QUEUED.inc(kind="transactional")
    return message
