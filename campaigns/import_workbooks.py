"""Reading an uploaded Excel workbook once, at upload, into the text an import keeps of it.

openpyxl reads some parts of a workbook whole before its first row (its shared texts, its
stylesheet), and a hand-made file of a few megabytes can make those parts cost minutes and
gigabytes. The checks below refuse the shapes found so far before openpyxl reads anything; the
bound on every other is the process: a workbook is read once, when it is uploaded, in a child
process whose CPU time and memory the kernel limits (campaigns.render_sandbox), into CSV text
with each row led by its number in the sheet. Everything after (the mapping page, the run, an
erasure's search) reads that text, never the workbook.
"""

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any, BinaryIO

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from campaigns.exceptions import ImportFileUnreadable, SandboxBusy
from campaigns.import_files import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_COLUMNS,
    Rows,
    TableFormat,
    table_format_detect,
)
from campaigns.render_sandbox import Stopped, workbook_sandbox
from core.text import grouped

#: What a workbook may unpack to, and by how much one of its parts may shrink in the zip: a file
#: judged by its packed size alone could unpack to gigabytes (a zip bomb); a workbook of 100,000
#: real rows unpacks to a few times a CSV of them, and its parts shrink some ten to fiftyfold.
IMPORT_MAX_UNPACKED_BYTES = 256 * 1024 * 1024
_XLSX_MAX_RATIO = 200
#: Excel's last row: a workbook naming a row past it is no workbook Excel wrote.
_XLSX_MAX_ROWS = 1_048_576
#: Distinct texts a workbook may hold (its shared strings): about what a million rows of one
#: column of addresses need, and about ten seconds and 200 MB to read.
_XLSX_MAX_TEXTS = 1_000_000
#: How long an upload waits for the process's workbook reader to be free.
_WAIT_FOR_READER_SECONDS = 10
#: XML elements (rows, cells, values) a workbook may hold: a million rows of five filled columns,
#: about a minute and a half to read. Each costs openpyxl microseconds, an empty cell too.
_XLSX_MAX_ELEMENTS = 15_000_000
#: The text a workbook's cells may make: what a CSV upload may hold, and the rows' numbers (one
#: shared text repeated in every cell would otherwise make gigabytes of a small file, and the
#: text comes back to the web process).
_XLSX_MAX_TEXT_BYTES = IMPORT_MAX_BYTES + 8 * 1024 * 1024


def upload_prepare(*, data: bytes, file_name: str) -> tuple[TableFormat, bytes]:
    """Return how an upload is read and the bytes to keep of it: a CSV file as it came, a workbook
    as the text of its first sheet (workbook_text). Raises ImportFileUnreadable."""
    table_format = table_format_detect(data=data, file_name=file_name)
    if table_format.kind == "xlsx":
        data = workbook_text(data)
    return table_format, data


def workbook_text(data: bytes) -> bytes:
    """Return a workbook's first sheet as an import keeps it, read in a bounded child process.

    Raises ImportFileUnreadable for a workbook that cannot be read, or whose read would take more
    than IMPORT_WORKBOOK_MAX_SECONDS of CPU or IMPORT_WORKBOOK_MAX_MEMORY_MB of memory.
    """
    seconds = settings.IMPORT_WORKBOOK_MAX_SECONDS
    job = (data, translation.get_language())
    try:
        (answer,) = workbook_sandbox().run(
            _workbook_job, [job], cpu_seconds=seconds, wait_seconds=_WAIT_FOR_READER_SECONDS
        )
    except SandboxBusy:  # One reader per process: a second upload is not held behind the first.
        said = gettext("Another workbook is being read: try again in a few minutes, or upload it as CSV.")
        raise ImportFileUnreadable(said) from None
    if isinstance(answer, Stopped):
        said = gettext(
            "Reading the workbook would take more than %(seconds)d seconds or %(mb)d MB of memory: "
            "save it as CSV, or split it."
        )
        raise ImportFileUnreadable(said % {"seconds": seconds, "mb": settings.IMPORT_WORKBOOK_MAX_MEMORY_MB})
    if isinstance(answer, ImportFileUnreadable):
        raise answer
    return answer


def _workbook_job(job: tuple[bytes, str | None]) -> bytes | ImportFileUnreadable:
    """Read a workbook in the child, in the uploader's language: its text, or why it is refused."""
    data, language = job
    with translation.override(language):
        try:
            return workbook_csv(data)
        except ImportFileUnreadable as exc:
            return exc
        except Exception as exc:  # Whatever else a damaged file raises: the child carries on.
            if _out_of_memory(exc):
                raise MemoryError from exc  # The child's own bound, which it reports.
            return ImportFileUnreadable(gettext("The file is not a readable Excel workbook."))


def _out_of_memory(exc: BaseException) -> bool:
    """Tell whether an error is the memory bound's: lxml, which openpyxl reads XML with, reports an
    allocation that failed as a syntax error of its own code."""
    from lxml import etree

    if isinstance(exc, etree.XMLSyntaxError):
        return exc.code == etree.ErrorTypes.ERR_NO_MEMORY
    return isinstance(exc, MemoryError)


def workbook_csv(data: bytes) -> bytes:
    """Return a workbook's first sheet as CSV (UTF-8, commas), each row that holds a value led by
    its number in the sheet, as campaigns.import_files reads it back. Runs in this process: callers
    go through workbook_text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, cells in _xlsx_rows(io.BytesIO(data)):
        if any("\x00" in cell for cell in cells):
            # No text column can store it, and no contact file holds one unless it is damaged.
            said = gettext("Line %(line)d holds a NUL character: the file looks damaged.")
            raise ImportFileUnreadable(said % {"line": number})
        if max(map(len, cells)) > csv.field_size_limit():  # As long as the CSV reader reads back.
            said = gettext("Line %(line)d holds a cell longer than %(n)s characters.")
            raise ImportFileUnreadable(said % {"line": number, "n": grouped(csv.field_size_limit())})
        writer.writerow([number, *cells])
        if out.tell() > _XLSX_MAX_TEXT_BYTES:  # Characters, fewer than their bytes: early.
            raise _text_too_long()
    text = out.getvalue().encode()
    if len(text) > _XLSX_MAX_TEXT_BYTES:
        raise _text_too_long()
    return text


def _text_too_long() -> ImportFileUnreadable:
    said = gettext("The workbook's cells hold more than %(n)d MB of text: split it.")
    return ImportFileUnreadable(said % {"n": IMPORT_MAX_BYTES // (1024 * 1024)})


def _xlsx_unpacked_check(stream: BinaryIO) -> None:
    """Refuse a workbook that would unpack past IMPORT_MAX_UNPACKED_BYTES, or one of whose parts
    shrinks past _XLSX_MAX_RATIO in the zip, before anything reads it. A zip's member sizes are
    declared; reading stops at the declared size, so a false one fails rather than grows."""
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            _xlsx_sizes_check(members)
            texts, elements = _xlsx_counts(archive, members)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise ImportFileUnreadable(gettext("The file is not a readable Excel workbook.")) from exc
    finally:
        stream.seek(0)
    if texts > _XLSX_MAX_TEXTS:
        # openpyxl reads the whole table of a workbook's texts before its first row, one Python
        # string each: fifteen million of one letter pack into 1.5 MB and cost minutes and 1.5 GB.
        said = gettext("The workbook holds more than %(n)s distinct texts: save it as CSV, or split it.")
        raise ImportFileUnreadable(said % {"n": grouped(_XLSX_MAX_TEXTS)})
    if elements > _XLSX_MAX_ELEMENTS:
        # Each costs openpyxl microseconds, empty or not: 45 million empty cells pack into 5 MB.
        said = gettext(
            "The workbook holds more than %(n)s cells and other elements: save it as CSV, or split it."
        )
        raise ImportFileUnreadable(said % {"n": grouped(_XLSX_MAX_ELEMENTS)})


def _xlsx_sizes_check(members: list[zipfile.ZipInfo]) -> None:
    """Refuse a workbook that would unpack past IMPORT_MAX_UNPACKED_BYTES, or one of whose parts
    shrinks past _XLSX_MAX_RATIO in the zip."""
    unpacked = sum(member.file_size for member in members)
    packed_tight = any(
        member.file_size > _XLSX_MAX_RATIO * max(member.compress_size, 1_000) for member in members
    )
    if unpacked > IMPORT_MAX_UNPACKED_BYTES or packed_tight:
        limit = IMPORT_MAX_UNPACKED_BYTES // (1024 * 1024)
        said = gettext(
            "The workbook unpacks to more than %(n)d MB, or holds far more than its size shows: "
            "save it as CSV, or split it."
        )
        raise ImportFileUnreadable(said % {"n": limit})


# A shared text's element (<si>, with or without a namespace prefix), wherever its part is: the
# workbook's content types, not its name, tell openpyxl where the table is.
# XML lets a prefix be any name, of any length and alphabet: anything up to a colon that ends no tag.
_SHARED_TEXT = re.compile(rb"<(?:[^\s/>!?:<]+:)?si[\s/>]")


def _xlsx_counts(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> tuple[int, int]:
    """Count the shared texts and the XML elements a workbook holds, in C, a megabyte of each part
    at a time, up to just past _XLSX_MAX_TEXTS or _XLSX_MAX_ELEMENTS."""
    texts = elements = 0
    for member in members:
        with archive.open(member) as part:
            tail = b""
            while chunk := part.read(1 << 20):
                data = tail + chunk
                # A match inside the tail was counted with the chunk before.
                texts += len(_SHARED_TEXT.findall(data)) - len(_SHARED_TEXT.findall(tail))
                # XML text writes "<" escaped: each one opens markup, and all but an end tag, a
                # comment, CDATA or a declaration open an element (one split across two chunks,
                # or inside CDATA, is counted too: an upper bound).
                ends = chunk.count(b"</") + chunk.count(b"<!") + chunk.count(b"<?")
                elements += chunk.count(b"<") - ends
                if texts > _XLSX_MAX_TEXTS or elements > _XLSX_MAX_ELEMENTS:
                    return texts, elements  # Enough to refuse it: the rest is not read.
                tail = data[-64:]
    return texts, elements


def _xlsx_rows(stream: BinaryIO) -> Rows:
    """Yield a workbook's first sheet's rows that hold a value, each as long as its last one."""
    _xlsx_unpacked_check(stream)
    # openpyxl raises a zoo of errors for a damaged workbook (zip, XML, key, value errors).
    try:
        for number, cells in _xlsx_cells(stream):
            if number > _XLSX_MAX_ROWS:
                raise ImportFileUnreadable(gettext("The workbook's rows go past Excel's last row."))
            held = [(cell["column"], cell["value"]) for cell in cells if cell["value"] not in (None, "")]
            if not held:
                continue  # A blank row, as table_read leaves out.
            width = max(column for column, _value in held)
            if width > IMPORT_MAX_COLUMNS:
                # Refused as the header's columns are: a value out there is never dropped unsaid.
                said = gettext("The file has more than %(n)d columns.")
                raise ImportFileUnreadable(said % {"n": IMPORT_MAX_COLUMNS})
            row = [""] * width
            for column, value in held:
                row[column - 1] = _xlsx_text(value)
            yield number, row
    except ImportFileUnreadable:
        raise
    except Exception as exc:
        if _out_of_memory(exc):
            raise
        raise ImportFileUnreadable(gettext("The file is not a readable Excel workbook.")) from exc


def _xlsx_cells(stream: BinaryIO) -> Iterator[tuple[int, list[dict]]]:
    """Yield each row of a workbook's first sheet as the file holds it: its number and its cells
    (`column`, `value`), none made up. openpyxl's own rows are padded to the sheet's declared size,
    or to each row's last cell: an empty cell in Excel's last column would make 16,384 of each
    row, a million times, from a file of 2 MB. So its sheet reader is used as its read-only
    worksheet uses it (openpyxl is pinned: a change there fails the import tests)."""
    from openpyxl import load_workbook  # Only imports pay for it.
    from openpyxl.worksheet._reader import WorkSheetParser

    # Typed as Any: the read-only sheet's and the workbook's private parts have no stubs.
    workbook: Any = load_workbook(stream, read_only=True, data_only=True)
    sheet: Any = workbook.worksheets[0]
    with sheet._get_source() as source:
        parser = WorkSheetParser(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        yield from parser.parse()


def _xlsx_text(value) -> str:
    """Return a cell as the text a person sees: 42 not 42.0, dates as ISO dates, empty as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
