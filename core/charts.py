"""Charts for the admin: data and options built here, drawn by Chart.js (which django-unfold ships).

Each chart's numbers are also a table under it and a CSV download, so nothing is only a picture.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

#: One colour per meaning, the same on every chart.
COLOURS = {
    "sent": "#64748b",
    "delivered": "#16a34a",
    "opened": "#ea580c",
    "clicked": "#7c3aed",
    "unsubscribed": "#0891b2",
    "bounced": "#dc2626",
    "complained": "#be185d",
    "other": "#94a3b8",
}


@dataclass(frozen=True)
class Series:
    """One dataset: its legend, a value per label, and its colour (or one per bar)."""

    label: str
    values: Sequence[float | int | None]
    colour: str | Sequence[str]


@dataclass(frozen=True)
class Chart:
    """A bar or line chart, with titled axes and its numbers as rows."""

    key: str
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    x_title: str
    y_title: str
    kind: str = "bar"
    #: Bars along the x axis from the left (labels down the y axis).
    horizontal: bool = False
    #: Values are percentages: the value axis reads 0–100 %.
    percent: bool = False
    #: Columns shown in the table and the CSV only: (heading, a cell per label).
    extra: Sequence[tuple[str, Sequence[str | int | float]]] = field(default_factory=tuple)
    #: How the CSV names each label (ISO timestamps for charts over time); the labels if empty.
    csv_labels: Sequence[str] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to show: no labels, or nothing but zeros, in the series and in
        the table's counts (the domains of a campaign with no Delivery event drew none, yet sent)."""
        drawn = any(value for series in self.series for value in series.values)
        counted = any(
            isinstance(cell, int | float) and not isinstance(cell, bool) and cell
            for _name, cells in self.extra
            for cell in cells
        )
        return not (drawn or counted)

    def data_json(self) -> str:
        """Return Chart.js's `data`."""
        return json.dumps(
            {
                # Labels may be lazy translations (a choice's label), which json can't write.
                "labels": [str(label) for label in self.labels],
                "datasets": [
                    {
                        "label": str(series.label),
                        "data": list(series.values),
                        "backgroundColor": series.colour,
                        "borderColor": series.colour,
                        "maxBarThickness": 48,
                        **({"fill": False, "tension": 0.2, "pointRadius": 2} if self.kind == "line" else {}),
                    }
                    for series in self.series
                ],
            }
        )

    def options_json(self) -> str:
        """Return Chart.js's `options`: axes with titles and gridlines, values from 0, whole numbers."""
        value_axis: dict = {
            "beginAtZero": True,
            "title": {"display": True, "text": str(self.y_title)},
            "ticks": {"precision": 0 if not self.percent else 1},
        }
        if self.percent:
            value_axis["suggestedMax"] = 100
        label_axis: dict = {
            "title": {"display": True, "text": str(self.x_title)},
            "grid": {"display": False},
            "ticks": {"autoSkip": True, "maxRotation": 0},
        }
        x_axis, y_axis = (value_axis, label_axis) if self.horizontal else (label_axis, value_axis)
        return json.dumps(
            {
                "animation": False,
                "responsive": True,
                "maintainAspectRatio": False,
                "indexAxis": "y" if self.horizontal else "x",
                "plugins": {"legend": {"display": len(self.series) > 1, "position": "bottom"}},
                "scales": {"x": x_axis, "y": y_axis},
            }
        )

    def header(self) -> list[str]:
        """Return the table's and the CSV's first row."""
        return [self.x_title, *(series.label for series in self.series), *(name for name, _ in self.extra)]

    def rows(self) -> list[list]:
        """Return the chart's numbers, one row per label, as the table and the CSV show them."""
        return [
            [
                label,
                *(series.values[i] for series in self.series),
                *(cells[i] for _name, cells in self.extra),
            ]
            for i, label in enumerate(self.labels)
        ]

    def csv_rows(self) -> list[list]:
        """Return the header and the rows, labels as the CSV names them."""
        names = self.csv_labels or self.labels
        return [self.header(), *([names[i], *row[1:]] for i, row in enumerate(self.rows()))]
