"""Reading an uploaded contact file: CSV (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or
bar) or XLSX (its first sheet, through openpyxl), as a header and numbered rows of text cells."""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import BinaryIO

from django.utils.translation import gettext

from campaigns.exceptions import ImportFileUnreadable

#: What the admin's import takes: bytes of one file, rows after the header, columns.
IMPORT_MAX_BYTES = 50 * 1024 * 1024
IMPORT_MAX_ROWS = 1_000_000
IMPORT_MAX_COLUMNS = 200
_DELIMITERS = (",", ";", "\t", "|")
_ZIP_MAGIC = b"PK\x03\x04"  # An XLSX file is a zip archive.
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}
#: What the "surrogateescape" decoding makes of a byte that does not decode.
_UNDECODABLE = re.compile("[\udc80-\udcff]")

#: (line number, cells) of a file's rows.
Rows = Iterator[tuple[int, list[str]]]


@dataclass(frozen=True)
class TableFormat:
    """How a file is read: csv or xlsx; for a CSV, its text encoding and cell delimiter."""

    kind: str = "csv"
    encoding: str = "utf-8-sig"
    delimiter: str = ","

    def describe(self) -> str:
        """Say in words how the file is read, for the marketer to check."""
        if self.kind == "xlsx":
            return gettext("Excel workbook (its first sheet)")
        names = {
            ",": gettext("commas"),
            ";": gettext("semicolons"),
            "\t": gettext("tabs"),
            "|": gettext("bars"),
        }
        words = {"encoding": self.encoding_name(), "delimiter": names[self.delimiter]}
        return gettext("CSV, %(encoding)s, cells separated by %(delimiter)s") % words

    def encoding_name(self) -> str:
        """Name the text encoding as a spreadsheet's "Save as" names it."""
        return _ENCODING_NAMES.get(self.encoding, self.encoding)


def table_format_detect(*, data: bytes, file_name: str) -> TableFormat:
    """Tell how to read an uploaded file: XLSX by its zip signature, else a CSV whose encoding is
    UTF-16 (by its byte-order mark), UTF-8 if it decodes so, else Windows-1252 (Excel's CSV on a
    Western European Windows); its delimiter is the candidate the header line holds most of."""
    if len(data) > IMPORT_MAX_BYTES:
        limit = IMPORT_MAX_BYTES // (1024 * 1024)
        raise ImportFileUnreadable(gettext("The file is larger than %(n)d MB: split it.") % {"n": limit})
    if data.startswith(_ZIP_MAGIC) or file_name.lower().endswith(".xlsx"):
        return TableFormat(kind="xlsx", encoding="", delimiter="")
    utf8_problem = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            encoding, utf8_problem = "cp1252", exc
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        # Named where UTF-8 fails: the encoding a file should be saved in (a Windows-1252 failure
        # may sit on a good UTF-8 line, whose letters use the bytes Windows-1252 leaves undefined).
        problem = utf8_problem or exc
        said = gettext(
            "Line %(line)d is not UTF-8 text, nor is the file Windows-1252 text: save it as UTF-8."
        )
        raise ImportFileUnreadable(said % {"line": data.count(b"\n", 0, problem.start) + 1}) from None
    header_line = text.split("\n", 1)[0]
    counts = {delimiter: _unquoted(header_line).count(delimiter) for delimiter in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda candidate: counts[candidate])
    return TableFormat(kind="csv", encoding=encoding, delimiter=delimiter if counts[delimiter] else ",")


def _unquoted(line: str) -> str:
    """Return a CSV line without its quoted parts (a delimiter inside quotes separates nothing)."""
    return "".join(part for index, part in enumerate(line.split('"')) if index % 2 == 0)


def table_read(*, stream: BinaryIO, table_format: TableFormat) -> tuple[list[str], Rows]:
    """Return a file's header (its first non-empty row, names stripped) and an iterator of
    (line number, cells) for the rows after it, blank rows left out.

    Raises ImportFileUnreadable for a file without a header, with more than IMPORT_MAX_COLUMNS
    columns, or (while iterating) one that stops being readable.
    """
    rows = _without_nul(
        _xlsx_rows(stream) if table_format.kind == "xlsx" else _csv_rows(stream, table_format)
    )
    for _number, cells in rows:
        if any(cell.strip() for cell in cells):
            header = [cell.strip() for cell in cells]
            break
    else:
        raise ImportFileUnreadable(gettext("The file is empty: its first line must name the columns."))
    while header and not header[-1]:
        header.pop()  # Spreadsheets often carry empty columns on the right.
    if len(header) > IMPORT_MAX_COLUMNS:
        said = gettext("The file has more than %(n)d columns.")
        raise ImportFileUnreadable(said % {"n": IMPORT_MAX_COLUMNS})
    return header, (row for row in rows if any(cell.strip() for cell in row[1]))


def _without_nul(rows: Rows) -> Rows:
    """Pass rows on; a NUL character, which no text column can store and no contact file holds
    unless it is damaged, refuses the file, naming its line."""
    for number, cells in rows:
        if any("\x00" in cell for cell in cells):
            said = gettext("Line %(line)d holds a NUL character: the file looks damaged.")
            raise ImportFileUnreadable(said % {"line": number})
        yield number, cells


def _csv_rows(stream: BinaryIO, table_format: TableFormat) -> Rows:
    # Undecodable bytes become lone surrogates (which no decoded text holds), so they are found
    # on their own line: the decoder reads thousands of lines ahead of the CSV reader.
    text = io.TextIOWrapper(stream, encoding=table_format.encoding, errors="surrogateescape", newline="")
    # Strict: a quote left open would otherwise swallow every line after it into one cell.
    reader = csv.reader(text, delimiter=table_format.delimiter, strict=True)
    first_line = 1
    try:
        for cells in reader:
            _decoded(cells, first_line, table_format)
            yield reader.line_num, cells
            first_line = reader.line_num + 1
    except csv.Error as exc:
        said = gettext("Line %(line)d cannot be read (%(problem)s).")
        raise ImportFileUnreadable(said % {"line": reader.line_num, "problem": exc}) from exc


def _decoded(cells: list[str], first_line: int, table_format: TableFormat) -> None:
    """Refuse a row holding bytes its encoding does not decode, naming their line (a row's quoted
    cell may span several)."""
    before = 0
    for cell in cells:
        undecodable = _UNDECODABLE.search(cell)
        if undecodable:
            line = first_line + before + cell.count("\n", 0, undecodable.start())
            said = gettext(
                "Line %(line)d holds bytes that are not %(encoding)s text: save the file as UTF-8."
            )
            raise ImportFileUnreadable(said % {"line": line, "encoding": table_format.encoding_name()})
        before += cell.count("\n")


def _xlsx_rows(stream: BinaryIO) -> Rows:
    from openpyxl import load_workbook  # Only imports pay for it.

    # openpyxl raises a zoo of errors for a damaged workbook (zip, XML, key, value errors).
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()  # A sheet pads each row to its widest; those cells hold nothing.
            yield number, cells
    except ImportFileUnreadable:
        raise
    except Exception as exc:
        raise ImportFileUnreadable(gettext("The file is not a readable Excel workbook.")) from exc


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
