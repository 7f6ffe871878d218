"""Importing contacts from a file: the API's CSV import in one request, and the admin's import job,
which a person maps and checks, then a worker runs in chunks on the same bulk upsert."""

import codecs
import logging
from functools import partial
from typing import BinaryIO

from django.db import transaction
from django.utils.translation import gettext, gettext_lazy, ngettext

from campaigns.audience import CONTACT_BULK_MAX, BulkUpsertResult, contact_bulk_upsert
from campaigns.consent import ConsentActor
from campaigns.contact_rows import RowInvalid, contact_rows_validate
from campaigns.exceptions import ImportFileUnreadable
from campaigns.import_files import Rows, TableFormat, table_is_workbook, table_read
from campaigns.models import Contact, ContactImport
from core.exports import json_cell_text, spreadsheet_cell_read
from core.text import grouped

logger = logging.getLogger(__name__)

Target = ContactImport.Target
#: At most this many rows in one API request; the admin's import takes IMPORT_MAX_ROWS.
CSV_MAX_ROWS = 100_000
#: What the API's import reads, said when a file is something else.
_API_READS = gettext_lazy(
    'The API reads CSV files in UTF-8 with cells separated by commas: save it as "CSV UTF-8", or '
    "import it in the admin (Contacts → Import contacts), which reads workbooks and other encodings too."
)
#: Targets a column may have at most once (attributes may be many, each under its own name).
_SINGLE_TARGETS = (
    Target.EMAIL,
    Target.FIRST_NAME,
    Target.LAST_NAME,
    Target.EXTERNAL_ID,
    Target.TIMEZONE,
    Target.STATUS,
)
#: The columns the API's CSV import knows by name; any other column is an attribute.
_NAMED_COLUMNS = {target.value: target.value for target in _SINGLE_TARGETS}
# Header names a person writes for each field (compared lower-case, without spaces, _ or -).
_SYNONYMS = {
    Target.EMAIL: {"email", "emailaddress", "mail", "emailadresse", "courriel"},
    Target.FIRST_NAME: {"firstname", "givenname", "forename", "vorname", "prenom", "prénom"},
    Target.LAST_NAME: {"lastname", "surname", "familyname", "nachname", "nom"},
    Target.EXTERNAL_ID: {"externalid", "userid", "customerid", "kundennummer"},
    Target.TIMEZONE: {"timezone", "tz", "zeitzone"},
    Target.STATUS: {"status"},
}
#: The columns an error report adds: a report re-imported maps them to nothing.
REPORT_COLUMNS = ("campanile_line", "campanile_problem")
#: Columns of Campanile's own contact export that an import does not write.
_EXPORT_ONLY = ("unsubscribed_at", "lists", "created_at")
#: How the export names an attribute's column: attributes.<key>.
ATTRIBUTE_PREFIX = "attributes."


def mapping_by_name(header: list[str]) -> list[dict]:
    """Map a header the API's way: a known column by its name in any case; Campanile's own
    export maps back (its `attributes.<key>` columns to those attributes, its read-only columns
    and an error report's to nothing); any other column to an attribute of its name."""
    mapping = []
    for name in header:
        target = _NAMED_COLUMNS.get(name.lower())
        if target:
            mapping.append({"target": target, "attribute": ""})
        elif not name or name in _EXPORT_ONLY or name in REPORT_COLUMNS or name == ATTRIBUTE_PREFIX:
            mapping.append({"target": Target.SKIP, "attribute": ""})
        else:
            mapping.append({"target": Target.ATTRIBUTE, "attribute": name.removeprefix(ATTRIBUTE_PREFIX)})
    return mapping


def mapping_guess(header: list[str]) -> list[dict]:
    """Guess each column's target for the admin: as the last import mapped a column of that name,
    else by the name's usual spellings, else an attribute of its name; an empty name, not at all."""
    last = ContactImport.objects.exclude(status=ContactImport.Status.MAPPING).exclude(mapping=[]).first()
    remembered = {}
    if last is not None:
        remembered = {name.lower(): column for name, column in zip(last.header, last.mapping, strict=False)}
    mapping = []
    for name in header:
        squeezed = "".join(char for char in name.lower() if char not in " _-.")
        guessed = next((target for target, names in _SYNONYMS.items() if squeezed in names), None)
        if name.lower() in remembered:
            mapping.append(dict(remembered[name.lower()]))
        elif guessed is not None:
            mapping.append({"target": guessed, "attribute": ""})
        elif not name or name in REPORT_COLUMNS or name in _EXPORT_ONLY or name == ATTRIBUTE_PREFIX:
            mapping.append({"target": Target.SKIP, "attribute": ""})
        else:
            attribute = name.removeprefix(ATTRIBUTE_PREFIX)
            mapping.append({"target": Target.ATTRIBUTE, "attribute": attribute})
    return mapping


def mapping_problems(mapping: list[dict]) -> list[str]:
    """Return what is wrong with a mapping, in words: no email column, a field twice, an
    attribute without a name or named twice."""
    problems = []
    targets = [column["target"] for column in mapping]
    if Target.EMAIL not in targets:
        problems.append(gettext("Choose the column that holds the email addresses."))
    for target in _SINGLE_TARGETS:
        if targets.count(target) > 1:
            problems.append(gettext("Only one column can be “%(field)s”.") % {"field": target.label})
    # Names as the rows will store them: " plan" and "plan" are two attributes, so no clash.
    names = [column["attribute"] for column in mapping if column["target"] == Target.ATTRIBUTE]
    if any(not name.strip() for name in names):
        problems.append(gettext("Give every attribute column a name."))
    for name in sorted({name for name in names if name.strip() and names.count(name) > 1}):
        problems.append(gettext("Two columns are the attribute “%(name)s”.") % {"name": name})
    return problems


def row_from_cells(cells: list[str], mapping: list[dict]) -> dict:
    """Return the raw contact row (for contact_row_validate) that a file's cells make under a
    mapping. An empty cell sets nothing, so it keeps what is stored; cells past the mapped
    columns fail the row (RowInvalid), as nothing says what they are."""
    extra = len(cells) - len(mapping)
    while extra > 0 and not cells[len(mapping) + extra - 1].strip():
        extra -= 1
    if extra > 0:
        said = ngettext(
            "This line has %(n)d more cell than the header has named columns: is a comma unquoted, "
            "or does a column lack its name?",
            "This line has %(n)d more cells than the header has named columns: is a comma unquoted, "
            "or does a column lack its name?",
            extra,
        )
        raise RowInvalid({"non_field_errors": [said % {"n": extra}]})
    row: dict = {}
    attributes = {}
    for written, column in zip(cells, mapping, strict=False):
        cell = spreadsheet_cell_read(written)  # An export's quoted cells read back as they were.
        target, value = column["target"], cell.strip()
        if target == Target.EMAIL:
            if written.strip().lstrip('"').startswith("'"):
                # "'+ann@…" is an export's quote of "+ann@…", or a spreadsheet's mark of text, or
                # an address of its own (blanks or a quoted local part around it alike): none is
                # guessed, as a guess may mail someone who never gave the address.
                said = gettext(
                    "This address starts with an apostrophe, which a spreadsheet may have added: write "
                    "the address without it if so."
                )
                raise RowInvalid({"email": [said]})
            row["email"] = value
        elif target == Target.ATTRIBUTE:
            if value:
                attributes[column["attribute"]] = cell  # The mapping's name as it is: " city" stays.
        elif target == Target.STATUS:
            if value:
                row["status"] = value.lower()
        elif target != Target.SKIP and value:
            row[target] = value
    row.setdefault("email", "")
    if attributes:
        row["attributes"] = attributes
    return row


def rows_checked(rows: list[tuple[int, list[str]]], mapping: list[dict]) -> tuple[list, list]:
    """Return (number, fields) of the rows that pass every check, and the errors of the rest."""
    raw_rows, errors = [], []
    for number, cells in rows:
        try:
            raw_rows.append((number, row_from_cells(cells, mapping)))
        except RowInvalid as exc:
            email = next(
                (
                    cell
                    for cell, column in zip(cells, mapping, strict=False)
                    if column["target"] == Target.EMAIL
                ),
                "",
            )
            errors.append({"row": number, "email": email.strip()[:254], "errors": exc.errors})
    valid, invalid = contact_rows_validate(raw_rows)
    return _attributes_typed_as_stored(valid), errors + invalid


def _attributes_typed_as_stored(rows: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Keep a stored number, flag or list where a row's cell is the text the export writes for it.

    A cell has no type: without this, re-importing Campanile's own export would turn every
    attribute stored as 42, true or a list into its text, and change each contact it names.
    """
    maybe = {
        row["email"]
        for _number, row in rows
        for value in row.get("attributes", {}).values()
        if isinstance(value, str) and value[:1] in _JSON_STARTS
    }
    if not maybe:
        return rows
    stored = dict(Contact.objects.filter(email__in=maybe).values_list("email", "attributes"))
    typed = []
    for number, row in rows:
        before = stored.get(row["email"])
        if before and "attributes" in row:
            attributes = {
                key: before[key]
                if key in before and not isinstance(before[key], str) and json_cell_text(before[key]) == value
                else value
                for key, value in row["attributes"].items()
            }
            row = {**row, "attributes": attributes}
        typed.append((number, row))
    return typed


#: How the JSON of a number, true, false, a list or an object starts.
_JSON_STARTS = frozenset("-0123456789tf[{")


# --- The API: one request, all or nothing -------------------------------------------------------------

NOTHING_IMPORTED = gettext_lazy("Nothing was imported.")


@transaction.atomic
def contacts_import_csv(
    *,
    stream: BinaryIO,
    list_ids: tuple[int, ...],
    actor: ConsentActor,
    resubscribe: bool,
    reason: str,
    may_read_contacts: bool,
) -> BulkUpsertResult:
    """Upsert a UTF-8 CSV file's rows chunk by chunk, all or nothing for the file.

    A problem found further on (too many rows, bytes that are not UTF-8) rolls back the chunks
    already written (ImportFileUnreadable); a bad row is still only its own, reported by line.
    may_read_contacts: whether the caller may read contacts, so be told whose an external_id is.
    """
    header, rows = _utf8_csv_read(stream)
    keys = [name.lower() if name.lower() in _NAMED_COLUMNS else name for name in header]
    if "email" not in keys:
        said = gettext("The first line must be a header with an `email` column.")
        if any(separator in name for name in header for separator in (";", "\t", "|")):
            # The admin's import reads these; the API reads comma-separated UTF-8 alone.
            said += " " + gettext(
                "The API reads cells separated by commas: this file's look separated otherwise."
            )
        raise ImportFileUnreadable(said)
    if repeated := sorted({key for key in keys if keys.count(key) > 1}):
        # Two columns of one name: which one's cells would count is anyone's guess.
        names = ", ".join(f"`{key}`" for key in repeated)
        said = gettext("The header names %(names)s more than once.") % {"names": names}
        raise ImportFileUnreadable(f"{said} {NOTHING_IMPORTED}")
    mapping = mapping_by_name(header)
    if problems := mapping_problems(mapping):
        # Names the header spells apart yet that land on one attribute (`plan`, `attributes.plan`).
        raise ImportFileUnreadable(" ".join([*problems, str(NOTHING_IMPORTED)]))
    total = BulkUpsertResult()
    add = partial(
        _result_add,
        total,
        mapping=mapping,
        list_ids=list_ids,
        seen={},  # The file's addresses so far: a repeat is refused across chunks too.
        upsert={
            "actor": actor,
            "resubscribe": resubscribe,
            "reason": reason,
            "may_read_contacts": may_read_contacts,
        },
    )
    chunk: list[tuple[int, list[str]]] = []
    for count, (number, cells) in enumerate(rows, start=1):
        if count > CSV_MAX_ROWS:  # Rows, not lines: blank lines and multi-line cells are no rows.
            said = gettext("More than %(n)s rows: split the file.") % {"n": grouped(CSV_MAX_ROWS)}
            raise ImportFileUnreadable(f"{said} {NOTHING_IMPORTED}")
        chunk.append((number, cells))
        if len(chunk) == CONTACT_BULK_MAX:
            add(chunk)
            chunk = []
    add(chunk)
    return total


def _utf8_csv_read(stream: BinaryIO) -> tuple[list[str], Rows]:
    """Read a CSV upload as the API takes it (UTF-8, commas); say so when it is not."""

    def said(exc: ImportFileUnreadable) -> ImportFileUnreadable:
        # The file's own problem, then the promise: the API reads UTF-8 with commas alone.
        return ImportFileUnreadable(f"{exc} {NOTHING_IMPORTED}")

    head = stream.read(4)  # Enough for a zip signature and a byte-order mark.
    stream.seek(0)
    # By its bytes alone: a CSV file named .xlsx is still read as what it holds.
    if table_is_workbook(head=head):
        raise said(ImportFileUnreadable(gettext("This file is an Excel workbook.") + " " + _API_READS))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise said(ImportFileUnreadable(gettext("This file is UTF-16 text.") + " " + _API_READS))
    try:
        header, rows = table_read(stream=stream, table_format=TableFormat())
    except ImportFileUnreadable as exc:
        raise said(exc) from exc

    def checked() -> Rows:
        try:
            yield from rows
        except ImportFileUnreadable as exc:
            raise said(exc) from exc

    return header, checked()


def _result_add(total: BulkUpsertResult, chunk, *, mapping, list_ids, seen, upsert: dict) -> None:
    """Upsert one chunk of the file's rows and add what it did to total. upsert: who asks, and
    what they may read and subscribe again (contact_bulk_upsert's keywords)."""
    if not chunk:
        return
    rows, errors = rows_checked(chunk, mapping)
    result = contact_bulk_upsert(rows=rows, list_ids=list_ids, attributes_merge=True, seen=seen, **upsert)
    result.errors += errors
    bulk_results_add(total, result)


def bulk_results_add(total: BulkUpsertResult, result: BulkUpsertResult) -> None:
    """Add one bulk upsert's counts and reported rows to a running total, each report in row order."""
    total.created += result.created
    total.updated += result.updated
    total.unchanged += result.unchanged
    total.errors = _in_row_order(total.errors + result.errors)
    total.kept_unsubscribed = _in_row_order(total.kept_unsubscribed + result.kept_unsubscribed)
    total.kept_pending = _in_row_order(total.kept_pending + result.kept_pending)
    total.kept_off_lists = _in_row_order(total.kept_off_lists + result.kept_off_lists)


def _in_row_order(reported: list[dict]) -> list[dict]:
    return sorted(reported, key=lambda row: row["row"])
