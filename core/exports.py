"""CSV downloads: streamed line by line, with cells a spreadsheet would run as formulas defused."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like sink for csv.writer that hands back each line for streaming."""

    def write(self, value):
        return value


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """Return a value as a spreadsheet should show it: text that looks like a formula is quoted
    with a leading apostrophe (OWASP's advice for CSV exports); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """Stream rows as a CSV download named filename, every cell through spreadsheet_cell."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([spreadsheet_cell(value) for value in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
