"""CSV downloads: streamed line by line, with cells a spreadsheet would run as formulas defused."""

import csv
import json
from collections.abc import Iterable

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like sink for csv.writer that hands back each line for streaming."""

    def write(self, value):
        return value


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); text that
# starts with the apostrophe itself is quoted too, so reading a cell back is never ambiguous.
_QUOTED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_cell(value):
    """Return a value as a spreadsheet should show it: text that looks like a formula is quoted
    with a leading apostrophe (OWASP's advice for CSV exports); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_QUOTED_STARTS):
        return "'" + value
    return value


def spreadsheet_cell_read(text: str) -> str:
    """Return what a cell stood for before spreadsheet_cell quoted it: an import reads an export
    back unchanged. As in a spreadsheet, an apostrophe before a formula's start is not text."""
    if text.startswith("'") and text[1:2] and text[1:2] in _QUOTED_STARTS:
        return text[1:]
    return text


def csv_response(rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """Stream rows as a CSV download named filename, every cell through spreadsheet_cell."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([spreadsheet_cell(value) for value in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_cell_text(value) -> str:
    """Write a JSON value (an attribute) as a cell: text as it is, anything else as JSON, absent as
    empty. The export, the import's reading back and the pages that show attributes agree on it."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
