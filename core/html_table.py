"""Which cells of an HTML table its collapsed columns hide (`visibility: collapse` on a <col> or its
<colgroup>): a browser gives such a column no width, so it draws nothing of a cell all of whose
columns are collapsed, whatever the cell holds (table_cells_collapsed). Read from a tree of either
parser (lxml's, lexbor's) through the three functions given."""

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import TypeVar

from core.css import style_display, style_visibility
from core.html_text import HTML_BLANK

Element = TypeVar("Element")

#: HTML's rules for parsing non-negative integers: blanks (HTML's five), a `+`, ASCII digits; what
#: follows the digits is ignored (`span="2.9"` is 2).
_INTEGER = re.compile(rf"[{HTML_BLANK}]*\+?([0-9]+)")
#: The cells laid out in a table's grid, and its row groups (HTML's parser gives each <tr> one; a
#: run of <tr> children outside one, as lxml leaves them, is one too).
_CELLS = ("td", "th")
_ROW_GROUPS = ("thead", "tbody", "tfoot")
#: A table's rows and row groups: one whose `visibility` is `collapse` takes no room, and a cell
#: inside it shows nothing, even one `visible` of its own.
TABLE_ROWS = frozenset({"tr", *_ROW_GROUPS})


def table_cells_collapsed(
    table: Element,
    *,
    children: Callable[[Element], Iterable[Element]],
    tag: Callable[[Element], str],
    attribute: Callable[[Element, str], str | None],
) -> list[Element]:
    """Return the cells of a table that its collapsed columns hide: those whose columns are all
    collapsed, laid out as HTML's table model lays cells out (each `colspan` wide, a `rowspan`
    taking the columns of the rows below, to its group's end for 0). Laying out takes steps in
    line with the table's size: past them (rowspans built to cost more), the cells left count as
    hidden, so none is offered or counted unseen."""
    runs = _collapsed_columns(table, children=children, tag=tag, attribute=attribute)
    if not runs:
        return []
    groups = []
    loose: list[list[Element]] | None = None  # The group of <tr> children outside any.
    for child in children(table):
        if tag(child) in _ROW_GROUPS:
            loose = None
            rows = [row for row in children(child) if tag(row) == "tr"]
            groups.append([[cell for cell in children(row) if tag(cell) in _CELLS] for row in rows])
        elif tag(child) == "tr":
            if loose is None:
                loose = []
                groups.append(loose)
            loose.append([cell for cell in children(child) if tag(cell) in _CELLS])
    budget = 10_000 + 32 * sum(len(row) + 1 for group in groups for row in group)
    placed = []  # Each cell laid out, with its first column and its colspan.
    late = []  # The cells left past the budget.
    for group in groups:
        reached: dict[int, int] = {}  # By column: the row a rowspan above holds it until (excluded).
        for index, row in enumerate(group):
            column = 0
            for cell in row:
                if budget < 0:
                    late.append(cell)
                    continue
                while reached.get(column, 0) > index:
                    column, budget = column + 1, budget - 1
                colspan = html_integer(attribute(cell, "colspan"), low=1, high=1000)
                rowspan = html_integer(attribute(cell, "rowspan"), low=0, high=65534) or len(group) - index
                placed.append((cell, column, colspan))
                if rowspan > 1:
                    for taken in range(column, column + colspan):
                        reached[taken] = index + rowspan
                    budget -= colspan
                column += colspan
    # The table's columns end with the last one a cell starts in: a span past it takes no room
    # (as Chromium lays a table out), so a cell shows if a column it spans up to there does.
    end = max((column for _cell, column, _colspan in placed), default=0) + 1
    starts = [start for start, _end in runs]
    hidden = []
    for cell, column, colspan in placed:
        run = bisect_right(starts, column) - 1
        if run >= 0 and runs[run][1] >= min(column + colspan, end):
            hidden.append(cell)
    return hidden + late


def _collapsed_columns(
    table: Element,
    *,
    children: Callable[[Element], Iterable[Element]],
    tag: Callable[[Element], str],
    attribute: Callable[[Element, str], str | None],
) -> list[tuple[int, int]]:
    """Return a table's collapsed columns, as runs of them (start, end), in order. A <col> or
    <colgroup> that is no column (`hidden`, or given another `display`) takes no place in the
    count, and a group holding no <col> that is one spans its own `span`; a <col> takes its own
    `visibility` or its group's (inherited)."""
    groups: list[tuple[Element | None, list[Element]]] = []  # Each group, with the <col>s it holds.
    implied: list[Element] | None = None  # <col>s outside a <colgroup>, as lxml leaves them.
    for child in children(table):
        if tag(child) == "col" and implied is None:
            # HTML's parser puts a run of them in a <colgroup> of its own, with no attributes.
            implied = [child]
            groups.append((None, implied))
        elif tag(child) == "col" and implied is not None:
            implied.append(child)
        else:
            implied = None
            if tag(child) == "colgroup" and _a_column(child, "colgroup", attribute):
                groups.append((child, [col for col in children(child) if tag(col) == "col"]))
    runs: list[tuple[int, int]] = []
    at = 0
    for group, cols in groups:
        visibility = style_visibility(attribute(group, "style") or "") if group is not None else ""
        columns = [
            (attribute(col, "span"), style_visibility(attribute(col, "style") or "") or visibility)
            for col in cols
            if _a_column(col, "col", attribute)
        ] or [(attribute(group, "span") if group is not None else None, visibility)]
        for span_written, seen in columns:
            span = html_integer(span_written, low=1, high=1000)
            if seen == "collapse" and runs and runs[-1][1] == at:
                runs[-1] = (runs[-1][0], at + span)  # Next to the run before: one run.
            elif seen == "collapse":
                runs.append((at, at + span))
            at += span
    return runs


def _a_column(element: Element, name: str, attribute: Callable[[Element, str], str | None]) -> bool:
    """Tell whether a <col> or <colgroup> is laid out as one: neither `hidden` nor given a `display`
    other than its own (one set back to a browser's own is its own)."""
    display = style_display(attribute(element, "style") or "")
    own = "table-column" if name == "col" else "table-column-group"
    return attribute(element, "hidden") is None and display in ("", own, "revert", "revert-layer")


def html_integer(value: str | None, *, low: int, high: int) -> int:
    """Return an attribute's non-negative integer (HTML's rules: `span="2.9"` is 2), within low and
    high (1 when it holds none)."""
    match = _INTEGER.match(value or "")
    if match is None:
        return 1
    digits = match.group(1).lstrip("0") or "0"
    return high if len(digits) > 6 else min(max(int(digits), low), high)
