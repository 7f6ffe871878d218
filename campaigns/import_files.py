"""Reading an uploaded contact file: CSV (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or
bar) or the text kept of an XLSX workbook (campaigns.import_workbooks), as a header and numbered
rows of text cells."""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.utils.translation import gettext

from campaigns.exceptions import ImportFileUnreadable
from core.text import grouped

#: What the admin's import takes: bytes of one file, rows after the header, columns.
IMPORT_MAX_BYTES = 50 * 1024 * 1024
IMPORT_MAX_ROWS = 1_000_000
IMPORT_MAX_COLUMNS = 200
#: Separators one row may hold, over all its lines: its columns, and room to spare for separators
#: quoted in its cells (a row wider than the header is reported, not refused).
_MAX_SEPARATORS_PER_ROW = 50 * IMPORT_MAX_COLUMNS
_DELIMITERS = (",", ";", "\t", "|")
_ZIP_MAGIC = b"PK\x03\x04"  # An XLSX file is a zip archive.
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}
#: A letter beyond ASCII as UTF-8 writes it: two to four bytes no Windows-1252 text holds in a row.
_UTF8_LETTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_LINE_END = re.compile(r"\r\n?|\n")
#: What the "surrogateescape" decoding makes of a byte that does not decode.
_NOT_TEXT = re.compile("[\x00\udc80-\udcff]")

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


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: How far into a file its header line is looked for.
_HEADER_SCAN_CHARS = 1024 * 1024


def table_is_workbook(*, head: bytes, file_name: str = "") -> bool:
    """Tell whether a file is an Excel workbook: by its zip signature, or by its name if given."""
    return head.startswith(_ZIP_MAGIC) or file_name.lower().endswith(".xlsx")


def table_format_detect(*, data: bytes, file_name: str) -> TableFormat:
    """Tell how to read an uploaded file: XLSX by its zip signature, else a CSV whose encoding is
    UTF-16 (by its byte-order mark), UTF-8 if it decodes so, else Windows-1252 (Excel's CSV on a
    Western European Windows); its delimiter is the candidate the header line holds most of."""
    if len(data) > IMPORT_MAX_BYTES:
        limit = IMPORT_MAX_BYTES // (1024 * 1024)
        raise ImportFileUnreadable(gettext("The file is larger than %(n)d MB: split it.") % {"n": limit})
    if table_is_workbook(head=data, file_name=file_name):
        return TableFormat(kind="xlsx", encoding="", delimiter="")
    encoding = _encoding_detect(data)
    text = data.decode(encoding)
    # The header is the first line that holds anything: the reader skips blank lines before it.
    lines = _LINE_BREAK.split(text[:_HEADER_SCAN_CHARS])
    header_line = next((line for line in lines if line.strip()), "")
    counts = {delimiter: _unquoted(header_line).count(delimiter) for delimiter in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda candidate: counts[candidate])
    return TableFormat(kind="csv", encoding=encoding, delimiter=delimiter if counts[delimiter] else ",")


def _encoding_detect(data: bytes) -> str:
    """Return the encoding a CSV file's bytes are in, or refuse it naming the line at fault.

    UTF-16 by its byte-order mark; else UTF-8 when it decodes so; else Windows-1252, unless the
    file is UTF-8 with a damaged line: its UTF-8 letters outnumber the bytes that do not decode
    (Windows-1252 would garble every name: é as Ã©). A Windows-1252 file holds byte pairs that
    read as UTF-8 letters too ("ß" then a no-break space), but fewer than its letters that do not.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif data.startswith(codecs.BOM_UTF8) or len(_UTF8_LETTER.findall(data)) > _not_utf8(data):
        # A UTF-8 byte-order mark says UTF-8, whatever a damaged line says.
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8-sig", "cp1252"]
    for encoding in candidates:
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            problem = exc
        else:
            return encoding
    line = _line_at(data, problem.start, candidates[-1])
    if candidates == ["utf-8-sig"]:
        said = gettext("Line %(line)d is not UTF-8 text, though the rest of the file is: correct that line.")
    elif candidates == ["utf-16"]:
        said = gettext("Line %(line)d is not UTF-16 text: save the file as UTF-8.")
    else:
        said = gettext("Line %(line)d is neither UTF-8 nor Windows-1252 text: save the file as UTF-8.")
    raise ImportFileUnreadable(said % {"line": line})


def _not_utf8(data: bytes) -> int:
    """Count the places where the bytes are not UTF-8."""
    return data.decode("utf-8", errors="replace").count("\ufffd")


def _line_at(data: bytes, offset: int, encoding: str) -> int:
    """Return the line (as the CSV reader counts them: CR, LF or CRLF ends one) of a byte offset."""
    before = data[:offset].decode(encoding, errors="replace")
    return len(_LINE_END.findall(before)) + 1


def _unquoted(line: str) -> str:
    """Return a CSV line without its quoted parts (a delimiter inside quotes separates nothing)."""
    return "".join(part for index, part in enumerate(line.split('"')) if index % 2 == 0)


def table_read(*, stream: BinaryIO, table_format: TableFormat) -> tuple[list[str], Rows]:
    """Return a file's header (its first non-empty row, names stripped) and an iterator of
    (line number, cells) for the rows after it, blank rows left out. A workbook is read from the
    text kept of it (campaigns.import_workbooks.upload_prepare), never as uploaded.

    Raises ImportFileUnreadable for a file without a header, with more than IMPORT_MAX_COLUMNS
    columns, or (while iterating) one that stops being readable.
    """
    rows = _workbook_rows(stream) if table_format.kind == "xlsx" else _csv_rows(stream, table_format)
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


def _workbook_rows(stream: BinaryIO) -> Rows:
    """Read a workbook's rows back from the text campaigns.import_workbooks made of them (each led
    by its number in the sheet); the workbook itself is never read again."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    for number, *cells in csv.reader(text, strict=True):
        yield int(number), cells


def _csv_rows(stream: BinaryIO, table_format: TableFormat) -> Rows:
    # Undecodable bytes become lone surrogates (which no decoded text holds), so they are found
    # on their own line: the decoder reads thousands of lines ahead of the CSV reader.
    text = io.TextIOWrapper(stream, encoding=table_format.encoding, errors="surrogateescape", newline="")
    # Strict: a quote left open would otherwise swallow every line after it into one cell.
    lines = _LinesBounded(text, table_format.delimiter)
    reader = csv.reader(lines, delimiter=table_format.delimiter, strict=True)
    first_line = 1  # A row is named by the line it starts on: a quoted cell may span several.
    try:
        for cells in reader:
            lines.row_done()
            _readable(cells, first_line, table_format)
            yield first_line, cells
            first_line = reader.line_num + 1
    except csv.Error as exc:
        said = gettext("Line %(line)d cannot be read (%(problem)s).")
        raise ImportFileUnreadable(said % {"line": first_line, "problem": _csv_problem(exc)}) from exc


class _LinesBounded:
    """Pass a file's lines on to the CSV reader, refusing a row with more separators than a row of
    a file may hold, quoted ones counted too, before the reader builds it (a million commas in
    1 MB would make a row of a million cells, built and walked on every read of the file). A row
    is counted over all its lines: quoted line breaks spread one over many."""

    def __init__(self, text: Iterator[str], delimiter: str):
        self.text, self.delimiter = text, delimiter
        self.number = self.row_start = self.separators = 0
        self.fresh = True  # The next line starts a row.

    def __iter__(self) -> "_LinesBounded":
        return self

    def __next__(self) -> str:
        line = next(self.text)
        self.number += 1
        if self.fresh:
            self.row_start, self.fresh = self.number, False
        self.separators += line.count(self.delimiter)
        if self.separators > _MAX_SEPARATORS_PER_ROW:
            said = gettext("Line %(line)d holds more than %(n)s separators: no row has that many cells.")
            raise ImportFileUnreadable(said % {"line": self.row_start, "n": grouped(_MAX_SEPARATORS_PER_ROW)})
        return line

    def row_done(self) -> None:
        """Start counting the next row's separators."""
        self.separators, self.fresh = 0, True


def _csv_problem(exc: csv.Error) -> str:
    """Say what the CSV reader found, in the reader's language where it is a common case."""
    said = str(exc)
    if "unexpected end of data" in said:
        return gettext("a quote opened on it is never closed")
    if "field larger than field limit" in said:
        return gettext("a cell is longer than %(n)s characters: is a quote left open?") % {
            "n": grouped(csv.field_size_limit())
        }
    if "expected after" in said:
        return gettext("a quote is followed by other characters before the next separator")
    return said


def _readable(cells: list[str], first_line: int, table_format: TableFormat) -> None:
    """Refuse a row holding a NUL (which no text column can store and no contact file holds unless
    it is damaged) or bytes its encoding does not decode, naming their own line."""
    before = 0
    for cell in cells:
        found = _NOT_TEXT.search(cell)
        if found:
            line = first_line + before + len(_LINE_END.findall(cell, 0, found.start()))
            if found.group() == "\x00":
                said = gettext("Line %(line)d holds a NUL character: the file looks damaged.")
            else:
                said = gettext(
                    "Line %(line)d holds bytes that are not %(encoding)s text: save the file as UTF-8."
                )
            raise ImportFileUnreadable(said % {"line": line, "encoding": table_format.encoding_name()})
        before += len(_LINE_END.findall(cell))
