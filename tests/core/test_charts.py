"""Chart definitions: titled axes, values from zero, percentages, and numbers that match the bars."""

import json

from core.charts import Chart, Series


def _chart(**fields) -> Chart:
    values = {
        "key": "k",
        "title": "Opens",
        "labels": ["09:00", "09:05"],
        "series": [Series("Opens", [3, 1001], "#000"), Series("Clicks", [0, 2], "#111")],
        "x_title": "Time (UTC)",
        "y_title": "Count per 5 minutes",
    } | fields
    return Chart(**values)


def test_both_axes_are_titled_and_values_start_at_zero_in_whole_numbers():
    options = json.loads(_chart().options_json())
    assert options["scales"]["x"]["title"] == {"display": True, "text": "Time (UTC)"}
    assert options["scales"]["y"]["title"] == {"display": True, "text": "Count per 5 minutes"}
    assert options["scales"]["y"]["beginAtZero"] is True
    assert options["scales"]["y"]["ticks"]["precision"] == 0
    assert options["plugins"]["legend"]["display"] is True  # Two series: a legend says which is which.


def test_a_horizontal_chart_puts_the_values_along_x():
    options = json.loads(_chart(horizontal=True).options_json())
    assert options["indexAxis"] == "y"
    assert options["scales"]["x"]["title"]["text"] == "Count per 5 minutes"
    assert options["scales"]["y"]["title"]["text"] == "Time (UTC)"


def test_a_chart_of_percentages_reads_up_to_a_hundred():
    options = json.loads(_chart(percent=True).options_json())
    assert options["scales"]["y"]["suggestedMax"] == 100


def test_the_numbers_and_the_csv_hold_what_the_bars_draw():
    chart = _chart(
        extra=[("Note", ["a", "b"])], csv_labels=["2026-11-02T09:00:00+00:00", "2026-11-02T09:05:00+00:00"]
    )
    data = json.loads(chart.data_json())
    assert [dataset["data"] for dataset in data["datasets"]] == [[3, 1001], [0, 2]]
    assert chart.rows() == [["09:00", 3, 0, "a"], ["09:05", 1001, 2, "b"]]
    assert chart.csv_rows() == [
        ["Time (UTC)", "Opens", "Clicks", "Note"],
        ["2026-11-02T09:00:00+00:00", 3, 0, "a"],
        ["2026-11-02T09:05:00+00:00", 1001, 2, "b"],
    ]
