"""Reading an uploaded Excel workbook: once, at upload, within bounds, into the text kept of it."""

import io
import re
import sys
import zipfile

import pytest
from openpyxl import Workbook

from campaigns.exceptions import ImportFileUnreadable
from campaigns.import_files import TableFormat, table_read
from campaigns.import_workbooks import workbook_csv
from tests.campaigns.test_imports import _table

pytestmark = pytest.mark.django_db


def _xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _workbook_here(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a workbook in this process, as its upload's child does: what it reads can be watched."""
    header, rows = table_read(stream=io.BytesIO(workbook_csv(data)), table_format=TableFormat(kind="xlsx"))
    return header, list(rows)


def _xlsx_inflated(data: bytes, *, megabytes: int) -> bytes:
    """Return the workbook with its second row's note made an inline text of that many megabytes
    of one letter: a few kilobytes packed (as a hand-made file can be; Excel caps a cell)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as made:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                inline = f'<c r="B2" t="inlineStr"><is><t>{"A" * megabytes * 1024 * 1024}</t></is></c>'
                content = re.sub(rb'<c r="B2"[^>]*>.*?</c>', inline.encode(), content, flags=re.DOTALL)
            made.writestr(member, content)
    return out.getvalue()


def test_a_workbook_that_would_unpack_far_past_its_size_is_refused_before_it_is_read():
    bomb = _xlsx_inflated(_xlsx([["email", "note"], ["ada@example.com", "short"]]), megabytes=20)
    many = _xlsx([["email", "plan"], *[[f"person{n}@example.com", "pro"] for n in range(20_000)]])

    with pytest.raises(ImportFileUnreadable, match="holds far more than its size shows"):
        _table(bomb, "notes.xlsx")
    assert len(_table(many, "team.xlsx")[1]) == 20_000  # Real rows, however alike, are read.


def _xlsx_declaring(data: bytes, *, dimension: str, rows: str) -> bytes:
    """Return the workbook declaring another size for its sheet, with these rows' XML added: a
    few kilobytes, as a hand-made file can be."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as made:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(
                    rb'<dimension ref="[^"]*"/>', f'<dimension ref="{dimension}"/>'.encode(), content
                )
                content = content.replace(b"</sheetData>", rows.encode() + b"</sheetData>")
            made.writestr(member, content)
    return out.getvalue()


def test_a_workbook_declaring_a_huge_sheet_is_read_by_the_cells_it_holds(monkeypatch):
    from campaigns import import_workbooks

    data = _xlsx_declaring(
        _xlsx([["email"], ["a@example.com"]]),
        dimension="A1:XFD50",
        rows='<row r="50"><c r="A50" t="inlineStr"><is><t>b@example.com</t></is></c></row>',
    )
    read = []
    monkeypatch.setattr(import_workbooks, "_xlsx_text", lambda value: read.append(value) or str(value or ""))

    header, rows = _workbook_here(data)

    assert (header, rows) == (["email"], [(2, ["a@example.com"]), (50, ["b@example.com"])])
    # Three rows of one cell each, not 50 rows of 16,384 cells.
    assert len(read) == 3


def test_a_workbook_whose_rows_hold_empty_cells_far_right_is_read_by_its_values(monkeypatch):
    from campaigns import import_workbooks

    empty_far_right = "".join(f'<row r="{n}"><c r="XFD{n}"/></row>' for n in range(3, 53))
    data = _xlsx_declaring(_xlsx([["email"], ["a@example.com"]]), dimension="A1:A2", rows=empty_far_right)
    read = []
    monkeypatch.setattr(import_workbooks, "_xlsx_text", lambda value: read.append(value) or str(value or ""))

    assert _workbook_here(data) == (["email"], [(2, ["a@example.com"])])
    assert len(read) == 2  # Two values; no row padded out to its empty cell in column 16,384.


def _xlsx_with_texts(data: bytes, count: int, prefix: str = "") -> bytes:
    """Return the workbook with a table of `count` shared texts of one letter each (a few bytes
    each, packed), the part openpyxl reads whole before any row."""
    import random

    out = io.BytesIO()
    letters = random.Random(0).choices(b"abcdefghijklmnopqrstuvwxyz", k=count)  # Packs under 200-fold.
    named = prefix.encode() + b":" if prefix else b""
    texts = b"".join(
        b"<%bsi><%bt>%c</%bt></%bsi>" % (named, named, letter, named, named) for letter in letters
    )
    space = b"xmlns" + (b":" + prefix.encode() if prefix else b"")
    table = b'<%bsst %b="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' % (named, space)
    table += texts + b"</%bsst>" % named
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as made:
        for member in source.infolist():
            made.writestr(member, source.read(member))
        made.writestr("xl/sharedStrings.xml", table)
    return out.getvalue()


def test_a_workbook_holding_more_shared_texts_than_a_file_may_is_refused_before_it_is_read():
    from campaigns.import_workbooks import _XLSX_MAX_TEXTS

    fine = _xlsx_with_texts(_xlsx([["email"], ["a@example.com"]]), 1_000)
    assert _table(fine, "people.xlsx") == (["email"], [(2, ["a@example.com"])])
    # XML lets a namespace's prefix be any name: a long one, or one in another alphabet.
    for prefix in ("", "é", "abcdefghijklmnopqrstuvwxyzABCDEFGH"):
        bloated = _xlsx_with_texts(_xlsx([["email"], ["a@example.com"]]), _XLSX_MAX_TEXTS + 1, prefix)
        with pytest.raises(ImportFileUnreadable, match="distinct texts"):
            _table(bloated, "people.xlsx")


def test_a_workbook_with_a_value_past_the_last_column_or_row_a_file_may_have_is_refused():
    far_right = _xlsx_declaring(
        _xlsx([["email"], ["a@example.com"]]),
        dimension="A1:XFD3",
        rows='<row r="3"><c r="XFD3" t="inlineStr"><is><t>lost?</t></is></c></row>',
    )
    far_down = _xlsx_declaring(
        _xlsx([["email"], ["a@example.com"]]),
        dimension="A1:A1048577",
        rows='<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>b@example.com</t></is></c></row>',
    )

    with pytest.raises(ImportFileUnreadable, match="more than 200 columns"):
        _table(far_right, "people.xlsx")
    with pytest.raises(ImportFileUnreadable, match="past Excel's last row"):
        _table(far_down, "people.xlsx")


def test_an_excel_workbook_is_read_as_a_person_sees_its_cells():
    from datetime import datetime

    data = _xlsx([["Email", "Customer no", "Since", None], ["ada@example.com", 1042.0, datetime(2026, 3, 1)]])

    header, rows = _table(data, "people.xlsx")

    assert header == ["Email", "Customer no", "Since"]  # Empty columns on the right go.
    assert rows == [(2, ["ada@example.com", "1042", "2026-03-01"])]


def _xlsx_styled(data: bytes, count: int) -> bytes:
    """Return the workbook with `count` cell formats in its stylesheet (some 2 bytes each, packed:
    varied, so no part shrinks past what the zip check allows), which openpyxl reads whole."""
    import random

    pick = random.Random(0).randrange
    formats = "".join(
        f'<xf numFmtId="{pick(164)}" fontId="0" fillId="0" borderId="0" xfId="0"/>' for _ in range(count)
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as made:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/styles.xml":
                table = f'<cellXfs count="{count}">{formats}</cellXfs>'.encode()
                content = re.sub(rb'<cellXfs count="\d+">.*?</cellXfs>', table, content, flags=re.DOTALL)
            made.writestr(member, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("seconds", "memory_mb"),
    [(1, 1024), (120, 64)],  # Past the CPU bound; past the memory bound.
)
def test_a_workbook_whose_read_would_cost_past_its_bounds_is_refused_at_upload(settings, seconds, memory_mb):
    # 200,000 cell formats: some 5 s of CPU and 400 MB, in the process that reads them.
    styled = _xlsx_styled(_xlsx([["email"], ["a@example.com"]]), 200_000)
    settings.IMPORT_WORKBOOK_MAX_SECONDS, settings.IMPORT_WORKBOOK_MAX_MEMORY_MB = seconds, memory_mb

    with pytest.raises(ImportFileUnreadable, match=f"more than {seconds} seconds or {memory_mb} MB"):
        _table(styled, "people.xlsx")
    # The bounds are the child's: the next workbook is read as usual.
    plain = _xlsx([["email"], ["b@example.com"]])
    assert _table(plain, "people.xlsx") == (["email"], [(2, ["b@example.com"])])


def test_after_its_upload_a_workbooks_import_never_reads_the_workbook_again(monkeypatch):
    from campaigns import import_jobs
    from campaigns.models import Contact, ContactConsent, ContactImport

    data = _xlsx([["email", "first_name"], ["ada@example.com", "Ada"], [None], ["bo@example.com", "Bo"]])
    job = import_jobs.contact_import_create(file_name="fair.xlsx", data=data, user=None)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # Importing it now fails.

    preview = import_jobs.contact_import_preview(job=job, mapping=job.mapping)
    consent = {"consent_basis": ContactConsent.Basis.CONSENT, "consent_note": "Fair"}
    import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=[], **consent)
    import_jobs.contact_import_run(job_id=job.pk)

    assert [(row.number, row.email) for row in preview] == [(2, "ada@example.com"), (4, "bo@example.com")]
    assert ContactImport.objects.get(pk=job.pk).status == ContactImport.Status.DONE
    assert set(Contact.objects.values_list("first_name", flat=True)) == {"Ada", "Bo"}


def test_a_workbook_whose_cells_make_more_text_than_an_import_may_hold_is_refused(monkeypatch):
    from campaigns import import_workbooks

    monkeypatch.setattr(import_workbooks, "_XLSX_MAX_TEXT_BYTES", 2 * 1024 * 1024)
    import random

    note = "".join(random.Random(0).choices("abcdefghijklmnopqrstuvwxyz", k=30_000))
    # Kept once, among the workbook's shared texts: 100 cells name it.
    one_text_everywhere = _xlsx([["email", "note"], *[[f"p{n}@example.com", note] for n in range(100)]])

    with pytest.raises(ImportFileUnreadable, match="more than 50 MB of text"):
        workbook_csv(one_text_everywhere)


def test_a_workbooks_refusal_reads_in_the_language_of_whoever_uploaded_it():
    from django.utils import translation

    with translation.override("de"), pytest.raises(ImportFileUnreadable) as refused:
        _table(b"PK\x03\x04 not really a workbook", "x.xlsx")

    assert "Excel" in str(refused.value)
    assert str(refused.value) != "The file is not a readable Excel workbook."


def test_an_unfinished_imports_workbook_is_kept_as_its_text_by_the_migration():
    import importlib

    from django.apps import apps

    from campaigns.models import ContactImport

    module = importlib.import_module("campaigns.migrations.0033_workbook_imports_as_text")
    data = _xlsx([["email"], ["ada@example.com"], [None], ["bo@example.com"]])
    waiting = ContactImport.objects.create(file_name="a.xlsx", data=data, file_kind="xlsx", header=["email"])
    damaged = ContactImport.objects.create(file_name="b.xlsx", data=b"PK\x03\x04 no", file_kind="xlsx")

    module.workbooks_as_text(apps, None)

    waiting.refresh_from_db()
    _header, rows = table_read(stream=io.BytesIO(bytes(waiting.data)), table_format=TableFormat(kind="xlsx"))
    assert list(rows) == [(2, ["ada@example.com"]), (4, ["bo@example.com"])]
    damaged.refresh_from_db()
    assert (damaged.status, bytes(damaged.data)) == (ContactImport.Status.FAILED, b"")
    assert "not a readable Excel workbook" in damaged.problem


def test_a_workbook_of_more_cells_than_a_read_may_take_is_refused_before_it_is_read(monkeypatch):
    from campaigns import import_workbooks

    monkeypatch.setattr(import_workbooks, "_XLSX_MAX_ELEMENTS", 5_000)

    # Empty cells cost openpyxl as much as filled ones, and the rows they are in go unread.
    def empty_rows(count: int) -> str:
        return "".join(f'<row r="{n}">' + "<c/>" * 20 + "</row>" for n in range(3, 3 + count))

    many = _xlsx_declaring(_xlsx([["email"], ["a@example.com"]]), dimension="A1:A2", rows=empty_rows(300))
    fewer = _xlsx_declaring(_xlsx([["email"], ["a@example.com"]]), dimension="A1:A2", rows=empty_rows(100))

    with pytest.raises(ImportFileUnreadable, match="more than 5,000 cells and other elements"):
        workbook_csv(many)
    assert workbook_csv(fewer) == b"1,email\n2,a@example.com\n"


def test_a_workbook_cell_longer_than_a_csv_cell_may_be_is_refused_naming_its_line():
    long_cell = '<row r="3"><c r="A3" t="inlineStr"><is><t>' + "A" * 140_000 + "</t></is></c></row>"
    data = _xlsx_declaring(_xlsx([["email"], ["a@example.com"]]), dimension="A1:A3", rows=long_cell)

    with pytest.raises(ImportFileUnreadable, match=r"^Line 3 holds a cell longer than 131,072 characters"):
        _table(data, "people.xlsx")


def test_a_second_workbook_upload_is_not_held_while_another_is_read(monkeypatch):
    import threading

    from campaigns import import_workbooks
    from campaigns.render_sandbox import workbook_sandbox

    monkeypatch.setattr(import_workbooks, "_WAIT_FOR_READER_SECONDS", 0.2)
    slow = _xlsx_styled(_xlsx([["email"], ["a@example.com"]]), 200_000)  # Some seconds to read.
    reader = threading.Thread(target=lambda: _table(slow, "slow.xlsx"))
    reader.start()
    try:
        while not workbook_sandbox()._slots.empty():  # Until the first read holds the reader.
            reader.join(0.01)

        with pytest.raises(ImportFileUnreadable, match="Another workbook is being read"):
            _table(_xlsx([["email"], ["b@example.com"]]), "quick.xlsx")
    finally:
        reader.join()
