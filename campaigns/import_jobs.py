"""The admin's contact import as a job: upload (read and counted), map and check, start, then run by
a worker chunk by chunk, each chunk committed with the job's progress so a stopped job resumes."""

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from campaigns.admin_access import user_sees_contacts
from campaigns.audience import CONTACT_BULK_MAX, BulkUpsertResult, contact_bulk_upsert
from campaigns.consent import ConsentActor, reason_given
from campaigns.contact_rows import RowInvalid, contact_row_validate
from campaigns.erasure import addresses_erased, erased_refusal, erasures_hold_off
from campaigns.exceptions import ImportFileUnreadable, ImportNotStartable
from campaigns.import_files import IMPORT_MAX_ROWS, Rows, TableFormat, table_read
from campaigns.import_workbooks import upload_prepare
from campaigns.imports import (
    REPORT_COLUMNS,
    bulk_results_add,
    mapping_guess,
    mapping_problems,
    row_from_cells,
    rows_checked,
)
from campaigns.models import ConsentChange, Contact, ContactConsent, ContactImport, ContactList
from core.addresses import address_mentions, email_normalize
from core.db import server_bound_cursor
from core.text import grouped

logger = logging.getLogger(__name__)

Status = ContactImport.Status
#: A job whose progress has not moved for this long is taken to have lost its worker.
IMPORT_STALE_AFTER = timedelta(minutes=2)
#: Rows the mapping page checks and shows.
PREVIEW_ROWS = 10


def _problem_words(name: str, messages: list[str]) -> str:
    """Say a row's problem with one field (or with the whole row) as the marketer names it."""
    said = " ".join(messages)
    if name in ContactImport.Target.values:
        return f"{ContactImport.Target(name).label}: {said}"
    return said if name == "non_field_errors" else f"{name}: {said}"


def _format_of(job: ContactImport) -> TableFormat:
    return TableFormat(kind=job.file_kind, encoding=job.encoding, delimiter=job.delimiter)


def _rows_of(job: ContactImport) -> tuple[list[str], Rows]:
    return table_read(stream=io.BytesIO(bytes(job.data)), table_format=_format_of(job))


def contact_import_create(*, file_name: str, data: bytes, user) -> ContactImport:
    """Read an uploaded file through once (its format, header and rows counted) and keep it as a
    job waiting for its columns' mapping: a CSV file as it came, a workbook as the text of its
    first sheet. Raises ImportFileUnreadable, before anything is kept, for a file that cannot be
    read to its end, has no rows or more than IMPORT_MAX_ROWS."""
    table_format, data = upload_prepare(data=data, file_name=file_name)
    header, rows = table_read(stream=io.BytesIO(data), table_format=table_format)
    total = 0
    for _row in rows:
        total += 1
        if total > IMPORT_MAX_ROWS:
            said = gettext("The file has more than %(n)s rows: split it.")
            raise ImportFileUnreadable(said % {"n": grouped(IMPORT_MAX_ROWS)})
    if not total:
        raise ImportFileUnreadable(gettext("The file has a header but no rows."))
    return ContactImport.objects.create(
        file_name=file_name[:255],
        data=data,
        file_kind=table_format.kind,
        encoding=table_format.encoding,
        delimiter=table_format.delimiter,
        header=header,
        mapping=mapping_guess(header),
        rows_total=total,
        created_by=user,
    )


@dataclass
class PreviewRow:
    """One of the first rows as the import would take it."""

    number: int
    cells: list[str]
    email: str = ""
    errors: list[str] = field(default_factory=list)
    #: Whether a contact with its address is on file (the import would update or keep it).
    exists: bool = False


def contact_import_preview(*, job: ContactImport, mapping: list[dict]) -> list[PreviewRow]:
    """Check the file's first rows under a mapping: what each would write, or why it would fail."""
    _header, rows = _rows_of(job)
    preview = []
    for number, cells in rows:
        row = PreviewRow(number=number, cells=cells)
        try:
            row.email = contact_row_validate(row_from_cells(cells, mapping))["email"]
        except RowInvalid as exc:
            row.errors = [_problem_words(name, messages) for name, messages in exc.errors.items()]
        preview.append(row)
        if len(preview) == PREVIEW_ROWS:
            break
    known = set(
        Contact.objects.filter(email__in=[row.email for row in preview]).values_list("email", flat=True)
    )
    erased = addresses_erased(emails=[row.email for row in preview if row.email])
    for row in preview:
        row.exists = row.email in known
        if row.email in erased:  # Refused when the import runs: said now, as any row's problem.
            row.errors.append(_problem_words("email", [erased_refusal()]))
    return preview


@transaction.atomic
def contact_import_start(
    *, job: ContactImport, mapping: list[dict], lists: list[ContactList], **options
) -> None:
    """Take a job's mapping and options and queue it for a worker. options: consent_basis,
    consent_note, existing, unsubscribed, resubscribe_reason (the model's fields).

    Raises ImportNotStartable for a job already started, a mapping with problems, no consent basis,
    or subscribing again without a reason.
    """
    locked = ContactImport.objects.select_for_update().get(pk=job.pk)
    if locked.status != Status.MAPPING:
        raise ImportNotStartable(gettext("This import has already started."))
    problems = mapping_problems(mapping)
    if len(mapping) != len(locked.header):
        problems.append(gettext("Map every column of the file."))
    if options.get("consent_basis") not in ContactConsent.Basis.values:
        problems.append(gettext("Say why you may email these contacts."))
    resubscribing = options.get("unsubscribed") == ContactImport.Unsubscribed.RESUBSCRIBE
    if resubscribing and not reason_given(options.get("resubscribe_reason", "")):
        problems.append(gettext("Say why those who unsubscribed may be mailed again."))
    if problems:
        raise ImportNotStartable(" ".join(problems))
    for name, value in options.items():
        setattr(locked, name, value)
    locked.mapping, locked.status = mapping, Status.QUEUED
    locked.language = translation.get_language() or ""
    locked.save()
    locked.lists.set(lists)
    job.refresh_from_db()
    transaction.on_commit(lambda: _enqueue(job.pk))


def _enqueue(job_id: int) -> None:
    from campaigns.tasks import contact_import_run  # The tasks module imports this one.

    contact_import_run.delay(job_id)


def contact_import_run(*, job_id: int) -> None:
    """Run a queued job, or resume a running one from its last committed chunk; idempotent.

    Two runners of one job (a task delivered twice, a resume racing a slow worker) never both
    write a chunk: each chunk checks, under the job's lock, that the job is where it left it.
    """
    with transaction.atomic():
        job = ContactImport.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (Status.QUEUED, Status.RUNNING):
            return
        if job.status == Status.QUEUED:
            job.status, job.started_at = Status.RUNNING, timezone.now()
            job.save(update_fields=["status", "started_at", "updated_at"])
    # A worker has no language of its own: the problems are written in the starter's.
    with translation.override(job.language or None):
        try:
            _chunks_run(job)
        except ImportFileUnreadable as exc:  # Read through at upload; only a changed file gets here.
            _finish(job.pk, status=Status.FAILED, problem=str(exc))
        except Exception as exc:
            logger.exception("Contact import %s failed.", job.pk)
            said = gettext("It stopped on an error: %(e)s") % {"e": exc}
            _finish(job.pk, status=Status.FAILED, problem=said)
            raise


def _chunks_run(job: ContactImport) -> None:
    _header, rows = _rows_of(job)
    done, chunk, committed = 0, [], []
    seen: dict[str, int] = {}  # The file's addresses so far: a repeat is refused across chunks too.
    for row in rows:
        done += 1
        if done <= job.rows_done:
            committed.append(row)  # By an earlier run: read again only for the addresses it took.
            if len(committed) == CONTACT_BULK_MAX or done == job.rows_done:
                _addresses_seen(job, committed, seen)
                committed = []
            continue
        chunk.append(row)
        if len(chunk) == CONTACT_BULK_MAX:
            if not _chunk_commit(job, start=done - len(chunk), chunk=chunk, seen=seen):
                return
            chunk = []
    if chunk and not _chunk_commit(job, start=done - len(chunk), chunk=chunk, seen=seen):
        return
    _finish(job.pk, status=Status.DONE)


def _addresses_seen(job: ContactImport, rows: list[tuple[int, list[str]]], seen: dict[str, int]) -> None:
    """Note the addresses of rows an earlier run committed, with their rows, as that run saw them."""
    checked, _errors = rows_checked(rows, job.mapping)
    for number, row in checked:
        seen.setdefault(row["email"], number)


def _finish(job_id: int, *, status: str, problem: str = "") -> None:
    """End a running job; its file goes, as it holds personal data the contacts now hold."""
    ContactImport.objects.filter(pk=job_id, status=Status.RUNNING).update(
        status=status, problem=problem, data=b"", finished_at=timezone.now(), updated_at=timezone.now()
    )


def _chunk_commit(
    job: ContactImport, *, start: int, chunk: list[tuple[int, list[str]]], seen: dict[str, int] | None = None
) -> bool:
    """Import one chunk and move the job's progress past it in one transaction; False when the
    job is no longer where this runner left it (another runner moved it)."""
    with transaction.atomic():
        erasures_hold_off()  # First, as an erasure takes it, before this job's row lock.
        locked = ContactImport.objects.select_for_update().get(pk=job.pk)
        if locked.status != Status.RUNNING or locked.rows_done != start:
            return False
        rows, errors = rows_checked(chunk, locked.mapping)
        # The file's people may be mailed: a row that says no status subscribes. Never silently:
        # one who unsubscribed stays so, reported, unless the job subscribes them again with a reason.
        rows = [(number, {"status": Contact.Status.SUBSCRIBED, **row}) for number, row in rows]
        list_ids = tuple(locked.lists.values_list("pk", flat=True))
        upsert = partial(
            _upserted,
            list_ids=list_ids,
            actor=_actor(locked),
            resubscribe=locked.unsubscribed == ContactImport.Unsubscribed.RESUBSCRIBE,
            reason=locked.resubscribe_reason,
            attributes_merge=True,
            seen=seen,
            # The report names whose an external_id is only if its starter may see contacts.
            may_read_contacts=locked.created_by is not None and user_sees_contacts(locked.created_by),
        )
        if locked.existing == ContactImport.Existing.KEEP:
            result, kept = _existing_kept(rows, upsert=upsert)
            locked.kept += kept
        else:
            result = upsert(rows=rows)
        refused = {error["row"] for error in result.errors}
        consenting = [row["email"] for number, row in rows if number not in refused]
        _consents_record(job=locked, emails=consenting)
        cells = dict(chunk)
        reported = [{**error, "cells": cells[error["row"]]} for error in errors + result.errors]
        # A refusal of an erased address is kept without it: its line number says which it was.
        erased = addresses_erased(emails=[error["email"] for error in result.errors])
        reported = [
            {**error, "email": "", "cells": []} if error["email"] in erased else error for error in reported
        ]
        reported += _kept_rows(result, cells=cells, list_ids=list_ids)
        locked.errors = sorted(locked.errors + reported, key=lambda error: error["row"])
        locked.created += result.created
        locked.updated += result.updated
        locked.unchanged += result.unchanged
        locked.failed += len(errors) + len(result.errors)
        locked.kept_unsubscribed += len(result.kept_unsubscribed)
        locked.kept_pending += len(result.kept_pending)
        locked.kept_off_lists += len(result.kept_off_lists)
        locked.rows_done = start + len(chunk)
        locked.save()
    job.rows_done = locked.rows_done
    return True


def _kept_rows(result: BulkUpsertResult, *, cells: dict, list_ids) -> list[dict]:
    """Return the report's rows of the contacts the import kept as they were: unsubscribed, yet to
    confirm a signup, or off lists they left themselves (only they rejoin those), one row each,
    saying both when both."""
    unsubscribed = gettext("Unsubscribed: kept so, and not mailed.")
    pending = gettext(
        "Yet to confirm their signup: kept awaiting confirmation, and not mailed until they do."
    )
    kept = {
        row["row"]: {**row, "errors": {"status": [said]}, "cells": cells[row["row"]]}
        for rows, said in ((result.kept_unsubscribed, unsubscribed), (result.kept_pending, pending))
        for row in rows
    }
    names = dict(ContactList.objects.filter(pk__in=list_ids).values_list("pk", "name"))
    said = gettext(
        "Left these lists in their email preferences, so kept off them (only they rejoin): %(lists)s"
    )
    for row in result.kept_off_lists:
        blank = {"row": row["row"], "email": row["email"], "errors": {}, "cells": cells[row["row"]]}
        lists = ", ".join(names[pk] for pk in row["lists"] if pk in names)
        kept.setdefault(row["row"], blank)["errors"]["lists"] = [said % {"lists": lists}]
    return list(kept.values())


def _upserted(*, rows: list[tuple[int, dict]], **options) -> BulkUpsertResult:
    return contact_bulk_upsert(rows=rows, **options) if rows else BulkUpsertResult()


def _existing_kept(
    rows: list[tuple[int, dict]], *, upsert: Callable[..., BulkUpsertResult]
) -> tuple[BulkUpsertResult, int]:
    """Upsert rows keeping the contacts on file as they are: their rows reduced to address and
    status (they still join the lists, and an opt-out in the file still counts). Return the result,
    each row counted once, and how many contacts on file it kept as they were: neither refused nor
    changed, so never in its other counts."""
    emails = [row["email"] for _number, row in rows]
    known = set(Contact.objects.filter(email__in=emails).values_list("email", flat=True))
    # New rows first, as one upsert writes them before the contacts on file it locks.
    result = upsert(rows=[(number, row) for number, row in rows if row["email"] not in known])
    # Upserted apart, so what it leaves unchanged is what was kept (a row it refuses, an erased
    # address or a repeat, is in its errors alone). A repeat's rows share an address, so one call
    # sees both, in the file's order.
    reduced = upsert(
        rows=[
            (number, {"email": row["email"], "status": row["status"]})
            for number, row in rows
            if row["email"] in known
        ]
    )
    kept, reduced.unchanged = reduced.unchanged, 0
    bulk_results_add(result, reduced)
    return result, kept


def _actor(job: ContactImport) -> ConsentActor:
    name = job.created_by.get_username() if job.created_by else "system"
    return ConsentActor(
        by=ConsentChange.By.STAFF, name=name, via=ConsentChange.Via.ADMIN_IMPORT, user=job.created_by
    )


# One INSERT for a chunk's consents: the subscribed contacts among the chunk's addresses.
_CONSENT_INSERT = (
    "INSERT INTO {consents} (contact_id, basis, source, detail, at) "
    "SELECT id, %s, %s, %s, %s FROM {contacts} WHERE email = ANY(%s) AND status = %s"
)


def _consents_record(*, job: ContactImport, emails: list[str]) -> None:
    """Record the job's consent basis for each subscribed contact among emails."""
    if not emails:
        return
    detail = gettext("Import %(id)d (%(file)s)") % {"id": job.pk, "file": job.file_name}
    if job.consent_note:
        detail = f"{detail}: {job.consent_note}"
    values = (job.consent_basis, ContactConsent.Source.IMPORT, detail[:500], timezone.now())
    if connection.vendor != "postgresql":
        ContactConsent.objects.bulk_create(
            ContactConsent(contact_id=pk, basis=values[0], source=values[1], detail=values[2], at=values[3])
            for pk in Contact.objects.filter(email__in=emails, status=Contact.Status.SUBSCRIBED).values_list(
                "pk", flat=True
            )
        )
        return
    tables = {"consents": ContactConsent._meta.db_table, "contacts": Contact._meta.db_table}
    with server_bound_cursor() as cursor:
        cursor.execute(_CONSENT_INSERT.format(**tables), [*values, emails, Contact.Status.SUBSCRIBED])


def contact_imports_resume(*, now=None) -> list[int]:
    """Queue again the jobs whose worker went away: queued or running, untouched for
    IMPORT_STALE_AFTER (a chunk commits in seconds). Return their ids."""
    stale = (now or timezone.now()) - IMPORT_STALE_AFTER
    ids = list(
        ContactImport.objects.filter(
            status__in=[Status.QUEUED, Status.RUNNING], updated_at__lt=stale
        ).values_list("pk", flat=True)
    )
    for job_id in ids:
        _enqueue(job_id)
    return ids


#: How long an uploaded file may wait for its columns before it is deleted: it holds personal data.
IMPORT_ABANDONED_AFTER = timedelta(days=1)


def contact_imports_abandoned_drop(*, now=None) -> int:
    """Delete the files of imports left waiting for their columns past IMPORT_ABANDONED_AFTER;
    return how many. The import stays, failed, saying so."""
    now = now or timezone.now()
    abandoned = ContactImport.objects.filter(
        status=Status.MAPPING, updated_at__lt=now - IMPORT_ABANDONED_AFTER
    )
    dropped = 0
    for job in abandoned.only("pk", "language"):
        with translation.override(job.language or None):  # As its other problems: its starter's.
            problem = gettext("Never started: its file was deleted after a day, as it holds personal data.")
        dropped += ContactImport.objects.filter(pk=job.pk, status=Status.MAPPING).update(
            status=Status.FAILED, problem=problem, data=b"", finished_at=now, updated_at=now
        )
    return dropped


def _names(value, emails: set[str]) -> bool:
    """Tell whether a cell names one of the addresses, however the file spelled it."""
    text = str(value)
    if any(address_mentions(email).search(text) for email in emails):
        return True
    return "@" in text and email_normalize(text) in emails


@transaction.atomic
def contact_imports_forget(*, emails: set[str]) -> None:
    """Take erased addresses out of the imports: the rows of error reports naming them, and the
    files of imports not finished, which stop, saying why (the address is in the file alone)."""
    locals_ = {email.split("@", 1)[0] for email in emails}
    maybe = Q()
    for local in locals_:  # Every spelling of an address holds its local part.
        maybe |= Q(errors__icontains=local) | Q(header__icontains=local)
    for job in ContactImport.objects.select_for_update().filter(maybe).order_by("pk"):
        kept = [row for row in job.errors if not any(_names(cell, emails) for cell in _row_cells(row))]
        changes: dict = {"errors": kept}
        if any(_names(cell, emails) for cell in job.header):
            # A file without a header row: its first line, a person's, named the columns.
            changes["header"] = [f"column {n}" for n in range(1, len(job.header) + 1)]
            named = set(job.header)
            changes["mapping"] = [
                column | {"attribute": ""} if column.get("attribute") in named else column
                for column in job.mapping
            ]
        ContactImport.objects.filter(pk=job.pk).update(**changes)
    holding = ContactImport.objects.select_for_update().exclude(data=b"").exclude(status__in=[Status.DONE])
    for job in holding.order_by("pk"):
        # Searched first as text, cheaply (a workbook is kept as the text of its cells).
        text = bytes(job.data).decode(job.encoding or "utf-8", errors="replace").lower()
        if not any(local in text for local in locals_):
            continue
        _header, rows = _rows_of(job)
        if any(_names(cell, emails) for _number, cells in rows for cell in cells):
            with translation.override(job.language or None):
                stopped = gettext(
                    "Stopped: someone in its file was erased at their request. Upload it again."
                )
            ContactImport.objects.filter(pk=job.pk).update(
                status=Status.FAILED, problem=stopped, data=b"", finished_at=timezone.now()
            )


def _row_cells(row: dict) -> list:
    return [row.get("email", ""), *row.get("cells", [])]


def contact_import_report_rows(*, job: ContactImport):
    """Yield the error report: the file's header with the line and the problem added, then each
    row not imported as it asked, its cells as they were, so it can be fixed and imported again."""
    yield [*job.header, *REPORT_COLUMNS]
    for error in job.errors:
        # In the language the problems were stored in (the starter's), whoever downloads it.
        with translation.override(job.language or None):
            problems = "; ".join(_problem_words(name, messages) for name, messages in error["errors"].items())
        # Cut to the header's width: a row with more cells than the header (its problem says so)
        # would push its line and problem out from under their headings.
        cells = list(error["cells"])[: len(job.header)]
        cells += [""] * (len(job.header) - len(cells))
        yield [*cells, error["row"], problems]
