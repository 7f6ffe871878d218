"""The audience: contacts, one by one or upserted in bulk, list memberships, unsubscribes, suppressions."""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.consent import (
    CONSENT_SYSTEM,
    STATUS_NOT_GIVEN,
    ConsentActor,
    consent_changes_record,
    reason_given,
)
from campaigns.erasure import addresses_erased, erased_refusal, erasures_hold_off
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.memberships import contacts_kept_off_lists, list_add_contacts
from campaigns.models import (
    Contact,
)
from core.addresses import mailbox_parse
from core.db import server_bound_cursor


def address_validate(*, value: str, field: str) -> None:
    """Raise ValidationError on `field` unless value is one sender mailbox (core.addresses' rule)."""
    try:
        mailbox_parse(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


#: Most rows one bulk upsert takes; larger imports go in several requests (or a CSV, chunked).
CONTACT_BULK_MAX = 10_000

# Fields a row may set besides its email; the email is the upsert key.
CONTACT_UPSERT_FIELDS = ("first_name", "last_name", "external_id", "attributes", "timezone", "status")


@dataclass
class BulkUpsertResult:
    created: int = 0
    updated: int = 0
    #: Existing contacts the rows matched field for field: nothing was written for them.
    unchanged: int = 0
    #: One entry per refused row: {"row": n, "email": ..., "errors": {field: [messages]}}.
    errors: list[dict] = field(default_factory=list)
    #: Rows that would have subscribed a contact who unsubscribed, without `resubscribe`: their
    #: other fields were written, the status kept. {"row": n, "email": ...}.
    kept_unsubscribed: list[dict] = field(default_factory=list)
    #: The same for a contact who has yet to confirm a signup: they stay pending. {"row": n, "email": ...}.
    kept_pending: list[dict] = field(default_factory=list)
    #: Rows whose contact left some of the lists given themselves: kept off those (only they rejoin
    #: them), the rest written. {"row": n, "email": ..., "lists": [list ids]}.
    kept_off_lists: list[dict] = field(default_factory=list)


def contact_bulk_upsert(
    *,
    rows: list[tuple[int, dict]],
    list_ids: tuple[int, ...] = (),
    actor: ConsentActor = CONSENT_SYSTEM,
    resubscribe: bool = False,
    reason: str = "",
    attributes_merge: bool = False,
    seen: dict[str, int] | None = None,
    may_read_contacts: bool = False,
) -> BulkUpsertResult:
    """Create or update contacts by email in a few set-based statements; refuse bad rows one by one.

    rows are (row number, validated fields) with a normalized email. A field a row leaves out keeps
    its stored value; attributes, when given, replace the stored ones, or with attributes_merge
    (a file's rows, whose empty cells and absent columns say nothing) are set over them. A row
    that changes nothing writes nothing: re-importing the same export costs reads, not row
    versions. A row is refused when its email or external_id repeats an earlier row, or its
    external_id belongs to another contact, or its address was erased. list_ids: lists every
    accepted contact joins, but one they left themselves. seen: the addresses earlier calls for the
    same file took, with their rows, so a file upserted chunk by chunk refuses a repeat across
    chunks too; filled in here. may_read_contacts: whether the caller may read contacts (a key with
    `read`, staff who see contacts): only then does a refusal name the contact an external_id is
    another's; to any other it says the id is taken, and nothing stored of that contact.

    A row never subscribes a contact who unsubscribed, or has yet to confirm a signup, unless
    resubscribe is set with a reason: it keeps its status and is reported in kept_unsubscribed, or
    kept_pending. Nor does it put a contact back on a list they left themselves (resubscribe or
    not: only they rejoin it): reported in kept_off_lists.
    Each status change is audited (actor, reason), in one INSERT.
    """
    with transaction.atomic():
        # Checked under the erasures' lock, held to the end: none lands between check and write.
        erasures_hold_off()
        erased = addresses_erased(emails=[row["email"] for _number, row in rows])
        consent = {"actor": actor, "resubscribe": resubscribe, "reason": reason}
        return _contact_bulk_upsert(
            rows=rows,
            erased=erased,
            list_ids=list_ids,
            attributes_merge=attributes_merge,
            seen={} if seen is None else seen,
            may_read_contacts=may_read_contacts,
            **consent,
        )


def _contact_bulk_upsert(
    *,
    rows,
    erased: set[str],
    list_ids,
    actor,
    resubscribe,
    reason,
    attributes_merge,
    seen: dict[str, int],
    may_read_contacts: bool,
) -> BulkUpsertResult:
    result = BulkUpsertResult()
    accepted: dict[str, tuple[int, dict]] = {}
    external_ids: dict[str, str] = {}
    for number, row in rows:
        email, external_id = row["email"], row.get("external_id", "")
        problem = None
        if email in erased:
            problem = {"email": [erased_refusal()]}
        elif email in accepted or email in seen:
            earlier = accepted[email][0] if email in accepted else seen[email]
            problem = {"email": [gettext("Repeats row %(row)s.") % {"row": earlier}]}
        elif external_id and external_id in external_ids:
            said = gettext("Repeats the external_id of %(email)s.")
            problem = {"external_id": [said % {"email": external_ids[external_id]}]}
        if problem:
            result.errors.append({"row": number, "email": email, "errors": problem})
            continue
        accepted[email] = (number, row)
        if external_id:
            external_ids[external_id] = email
    seen.update((email, number) for email, (number, _row) in accepted.items())
    matching = _contacts_matching(emails=list(accepted), external_ids=list(external_ids))
    _refuse_taken_external_ids(
        accepted=accepted,
        external_ids=external_ids,
        matching=matching,
        result=result,
        owner_named=may_read_contacts,
    )
    statuses = {email: status for email, _external_id, status in matching}
    _flow_status_refuse(accepted=accepted, statuses=statuses, result=result)
    may_resubscribe = resubscribe and reason_given(reason)
    changing = _status_changes_settle(
        accepted=accepted, statuses=statuses, resubscribe=may_resubscribe, result=result
    )
    known = set(statuses)
    # In email order, whatever the request's: two upserts of the same contacts lock them alike, so
    # neither waits for a row the other holds while holding one it wants (a deadlock).
    in_order = sorted(accepted.items())
    new = [(email, row) for email, (_number, row) in in_order if email not in known]
    existing = [(email, row) for email, (_number, row) in in_order if email in known]
    if connection.vendor == "postgresql":
        if new and not _contacts_copy(new=new, result=result):
            # Another writer added one of these addresses meanwhile: what is stored now decides
            # their statuses, under lock, as for a known contact's, so an unsubscribe in a row is
            # applied and audited (or a subscribe kept out), never dropped by the upsert's keeping.
            raced = [email for email, _row in new]
            now_stored = {
                email: status for email, _id, status in _contacts_matching(emails=raced, external_ids=[])
            }
            changing |= _status_changes_settle(
                accepted=accepted, statuses=now_stored, resubscribe=may_resubscribe, result=result
            )
            existing = sorted([(email, accepted[email][1]) for email in raced] + existing)
        _contact_upsert_copy(existing=existing, result=result, changing=set(changing), merge=attributes_merge)
    else:
        _contact_upsert_orm(new=new, existing=existing, result=result, merge=attributes_merge)
    consent_changes_record(
        changes=[
            (contact_id, stored, accepted[email][1]["status"])
            for email, (contact_id, stored) in changing.items()
        ],
        actor=actor,
        reason=reason,
    )
    result.unchanged = len(accepted) - result.created - result.updated
    # Each row taken names a contact the caller holds as theirs, written or matched as it is; only
    # one on file already (or added meanwhile) can be a load test's.
    contacts_load_test_clear(emails=[email for email, _row in existing])
    if list_ids:
        list_add_contacts(list_ids=list_ids, emails=list(accepted))
        kept = contacts_kept_off_lists(list_ids=list_ids, emails=list(accepted))
        result.kept_off_lists = sorted(
            ({"row": accepted[email][0], "email": email, "lists": lists} for email, lists in kept.values()),
            key=lambda kept_off: kept_off["row"],
        )
    result.errors.sort(key=lambda error: error["row"])
    return result


def _contacts_matching(*, emails: list[str], external_ids: list[str]) -> list[tuple[str, str, str]]:
    """Return (email, external_id, status) of the contacts that have one of the emails or external ids."""
    if connection.vendor != "postgresql":
        matching = Contact.objects.filter(Q(email__in=emails) | Q(external_id__in=external_ids))
        return list(matching.values_list("email", "external_id", "status"))
    # Two array parameters: 10,000 placeholders cost more to build than the query takes to run.
    statement = (
        f"SELECT email, external_id, status FROM {Contact._meta.db_table} "  # noqa: S608
        "WHERE email = ANY(%s) OR external_id = ANY(%s)"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(statement, [emails, external_ids])
        return cursor.fetchall()


def _refuse_taken_external_ids(
    *,
    accepted,
    external_ids: dict[str, str],
    matching: list[tuple[str, str, str]],
    result: BulkUpsertResult,
    owner_named: bool,
) -> None:
    """Drop rows whose external_id another contact owns; external_ids maps each to its row's email.
    owner_named: whether the refusal may name that contact's address."""
    for owner, external_id, _status in matching:
        email = external_ids.get(external_id)
        if email is not None and email != owner and email in accepted:
            number, _row = accepted.pop(email)
            if owner_named:
                message = gettext("Belongs to another contact (%(email)s).") % {"email": owner}
            else:
                # The owner's address is a contact's data, which this caller may not read.
                message = gettext("Taken by another contact.")
            result.errors.append({"row": number, "email": email, "errors": {"external_id": [message]}})


def _flow_status_refuse(*, accepted, statuses: dict[str, str], result: BulkUpsertResult) -> None:
    """Drop rows that would make a contact pending or transactional-only: only a signup form or a
    transactional email does. A row that says so of a contact so already (a re-imported export)
    changes nothing and stays."""
    for email, (number, row) in list(accepted.items()):
        status = row.get("status")
        if status is not None and status not in Contact.STATUSES_GIVEN and statuses.get(email) != status:
            accepted.pop(email)
            said = gettext(STATUS_NOT_GIVEN)
            result.errors.append({"row": number, "email": email, "errors": {"status": [said]}})


def _status_changes_settle(
    *,
    accepted: dict[str, tuple[int, dict]],
    statuses: dict[str, str],
    resubscribe: bool,
    result: BulkUpsertResult,
) -> dict[str, tuple[int, str]]:
    """Decide the rows that change a known contact's status; return {email: (id, stored status)}.

    Only those contacts are locked (usually none), and the decision is taken on their locked
    status, so a concurrent unsubscribe is neither undone nor audited twice. A re-subscribe without
    the flag loses its status (reported in kept_unsubscribed, or kept_pending), nothing else.
    """
    asked = [
        email
        for email, (_number, row) in accepted.items()
        if "status" in row and email in statuses and row["status"] != statuses[email]
    ]
    if not asked:
        return {}
    changing: dict[str, tuple[int, str]] = {}
    for email, contact_id, stored in _contacts_lock(emails=asked):
        number, row = accepted[email]
        if row["status"] == stored:
            continue
        if (
            row["status"] == Contact.Status.SUBSCRIBED
            and stored in Contact.SUBSCRIBING_NEEDS_REASON
            and not resubscribe
        ):
            # Someone who unsubscribed, or has yet to confirm a signup, is never subscribed silently.
            accepted[email] = (number, {name: value for name, value in row.items() if name != "status"})
            kept = result.kept_pending if stored == Contact.Status.PENDING else result.kept_unsubscribed
            kept.append({"row": number, "email": email})
            continue
        changing[email] = (contact_id, stored)
    result.kept_unsubscribed.sort(key=lambda kept: kept["row"])
    result.kept_pending.sort(key=lambda kept: kept["row"])
    return changing


def _contacts_lock(*, emails: list[str]) -> list[tuple[str, int, str]]:
    """Lock the contacts with the given emails, in email order; return (email, id, status) of each."""
    if connection.vendor != "postgresql":
        return list(
            Contact.objects.select_for_update().filter(email__in=emails).values_list("email", "pk", "status")
        )
    statement = (
        f"SELECT email, id, status FROM {Contact._meta.db_table} "  # noqa: S608
        "WHERE email = ANY(%s) ORDER BY email FOR UPDATE"
    )
    with server_bound_cursor() as cursor:
        cursor.execute(statement, [emails])
        return cursor.fetchall()


def _contact_fields(row: dict, before: dict | None, now) -> dict:
    """Return what a row writes: its own fields, and when it sets status, unsubscribed_at."""
    fields = {name: row[name] for name in CONTACT_UPSERT_FIELDS if name in row}
    if "status" in fields:
        if before is not None and before["status"] == fields["status"]:
            fields["unsubscribed_at"] = before["unsubscribed_at"]  # Keep when they left.
        else:
            fields["unsubscribed_at"] = now if fields["status"] == Contact.Status.UNSUBSCRIBED else None
    return fields


def _contact_upsert_orm(*, new, existing, result: BulkUpsertResult, merge: bool) -> None:
    """Upsert with the ORM's bulk_create, for databases without COPY (SQLite)."""
    now = timezone.now()
    stored = {
        contact["email"]: contact
        for contact in Contact.objects.filter(email__in=[email for email, _row in existing]).values(
            "email", "unsubscribed_at", *CONTACT_UPSERT_FIELDS
        )
    }
    # One statement per shape of row (usually one): each updates only the fields its rows carry.
    by_shape: dict[tuple[str, ...], list[Contact]] = {}
    for email, row in new + existing:
        before = stored.get(email)
        fields = _contact_fields(row, before, now)
        if merge and before is not None and "attributes" in fields:
            fields["attributes"] = {**before["attributes"], **fields["attributes"]}
        if before is None:
            result.created += 1
        elif any(before[name] != value for name, value in fields.items()):
            result.updated += 1
        else:
            continue  # Changes nothing.
        by_shape.setdefault(tuple(fields), []).append(
            Contact(email=email, created_at=now, updated_at=now, **fields)
        )
    for shape, contacts in by_shape.items():
        Contact.objects.bulk_create(
            contacts,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=[*shape, "updated_at"],
        )


# Columns of a new contact as COPY writes them, and the SQL of the PostgreSQL upsert of the rest.
_CONTACT_COPY_COLUMNS = (
    "email",
    *CONTACT_UPSERT_FIELDS,
    "unsubscribed_at",
    "created_at",
    "updated_at",
)

_UPSERT_TEMP_TABLE = (
    "CREATE TEMP TABLE contact_upsert (email text, shape int, first_name text, last_name text, "
    "external_id text, attributes jsonb, timezone text, status text, unsubscribed_at timestamptz) "
    "ON COMMIT DROP"
)

# {contacts} is the table, {updates} and {changed} the SET list and its condition for one row shape.
# Values always travel as parameters.
_UPSERT_WRITE = (
    "INSERT INTO {contacts} (email, first_name, last_name, external_id, attributes, timezone, status, "
    "unsubscribed_at, created_at, updated_at) "
    "SELECT email, COALESCE(first_name, ''), COALESCE(last_name, ''), COALESCE(external_id, ''), "
    "COALESCE(attributes, '{{}}'::jsonb), COALESCE(timezone, ''), COALESCE(status, %(subscribed)s), "
    "unsubscribed_at, %(now)s, %(now)s "
    "FROM contact_upsert WHERE shape = %(shape)s ORDER BY email ON CONFLICT (email) DO UPDATE SET {updates} "
    # Rows that would change nothing are left alone: no new row version, no index entries.
    "WHERE {changed} "
    # xmax is 0 on a row version this statement inserted, and set on one it updated: the counts
    # come from the write itself, since another import may have run since the rows were sorted.
    "RETURNING (xmax = 0) AS inserted"
)

# Status and the time the contact left change only for the contacts _status_changes_settle locked
# and audited, which go in shapes of their own: in the others an existing contact keeps both, so a
# status that stays the same keeps its time, and an unsubscribe that lands meanwhile is never undone.
_CONSENT_COLUMNS = ("status", "unsubscribed_at")

_UPSERT_COUNTED = "WITH written AS ({write}) SELECT count(*) FILTER (WHERE inserted), count(*) FROM written"


def _contacts_copy(*, new, result: BulkUpsertResult) -> bool:
    """COPY new contacts straight into the table (the fastest way in); tell whether it could.

    Another writer may add one of the addresses meanwhile: then the COPY fails as a whole, in its
    savepoint, and writes nothing.
    """
    now = timezone.now()
    try:
        with transaction.atomic(), connection.wrap_database_errors, connection.cursor() as cursor:
            columns = ", ".join(_CONTACT_COPY_COLUMNS)
            table = Contact._meta.db_table
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for email, row in new:
                    fields = _contact_fields(row, None, now)
                    copy.write_row(
                        (
                            email,
                            fields.get("first_name", ""),
                            fields.get("last_name", ""),
                            fields.get("external_id", ""),
                            json.dumps(fields.get("attributes", {})),
                            fields.get("timezone", ""),
                            fields.get("status", Contact.Status.SUBSCRIBED),
                            fields.get("unsubscribed_at"),
                            now,
                            now,
                        )
                    )
    except IntegrityError:
        return False
    result.created += len(new)
    return True


def _contact_upsert_copy(
    *, existing, result: BulkUpsertResult, changing: set[str], merge: bool = False
) -> None:
    """Upsert contacts on PostgreSQL: COPY the rows into a temporary table and write them with one
    INSERT … ON CONFLICT per row shape, skipping rows equal to what is stored; a row whose address
    is gone meanwhile is inserted. Runs inside a transaction (the table drops on commit)."""
    now = timezone.now()
    rows = existing
    if not rows:
        return
    contacts = Contact._meta.db_table
    # (fields a row sets, whether it changes a status) -> shape number.
    shapes: dict[tuple[tuple[str, ...], bool], int] = {}
    with connection.cursor() as cursor:
        # The table drops on commit; an enclosing transaction (a test, a caller's atomic block) may
        # not have committed since the last upsert, so clear any leftover first.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.contact_upsert")
        cursor.execute(_UPSERT_TEMP_TABLE)
        with cursor.cursor.copy("COPY contact_upsert FROM STDIN") as copy:
            for email, row in rows:
                # Stored values are not known here; the upsert keeps unsubscribed_at in SQL.
                fields = _contact_fields(row, None, now)
                shape_number = shapes.setdefault((tuple(fields), email in changing), len(shapes))
                attributes = json.dumps(fields["attributes"]) if "attributes" in fields else None
                names = (fields.get("first_name"), fields.get("last_name"), fields.get("external_id"))
                copy.write_row(
                    (
                        email,
                        shape_number,
                        *names,
                        attributes,
                        fields.get("timezone"),
                        fields.get("status"),
                        fields.get("unsubscribed_at"),
                    )
                )

        def given_sql(name: str) -> str:
            if merge and name == "attributes":
                return f"{contacts}.attributes || EXCLUDED.attributes"  # Keys given win, others stay.
            return f"EXCLUDED.{name}"

        for (shape, consents), number in shapes.items():
            updates = ", ".join(
                f"{name} = {contacts}.{name}"
                if name in _CONSENT_COLUMNS and not consents
                else f"{name} = {given_sql(name)}"
                for name in (*shape, "updated_at")
            )
            # unsubscribed_at follows status; comparing it would count every unsubscribe as new.
            compared = [
                name for name in shape if name not in _CONSENT_COLUMNS or (consents and name == "status")
            ]
            stored = ", ".join(f"{contacts}.{name}" for name in compared)
            given = ", ".join(given_sql(name) for name in compared)
            # A row of just an email changes nothing on a contact that exists.
            changed_sql = f"ROW({stored}) IS DISTINCT FROM ROW({given})" if compared else "false"
            write = _UPSERT_WRITE.format(contacts=contacts, updates=updates, changed=changed_sql)
            parameters: dict[str, datetime | int | str | list[str]] = {
                "now": now,
                "shape": number,
                "subscribed": Contact.Status.SUBSCRIBED,
            }
            cursor.execute(_UPSERT_COUNTED.format(write=write), parameters)
            inserted, written = cursor.fetchone()
            result.created += inserted
            result.updated += written - inserted
