"""Counts over time: the bucket fits the span, empty buckets are drawn, days start at local midnight."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.timeseries import (
    DAY,
    HOUR,
    MINUTE,
    bucket_for,
    bucket_label,
    bucket_name,
    buckets_fill,
    series_over_time,
)

NINE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (timedelta(minutes=40), MINUTE),  # A campaign's first hour: minute by minute.
        (timedelta(hours=3), 5 * MINUTE),
        (timedelta(hours=20), 15 * MINUTE),
        (timedelta(days=3), HOUR),
        (timedelta(days=20), 6 * HOUR),
        (timedelta(days=90), DAY),
        (timedelta(days=900), DAY),  # Never coarser than a day.
    ],
)
def test_the_bucket_grows_with_the_span_and_keeps_the_bars_few(span, bucket):
    assert bucket_for(start=NINE, end=NINE + span) == bucket


def test_empty_buckets_are_drawn_as_zero_and_counts_add_up_within_a_bucket():
    counts = [
        (NINE + timedelta(minutes=1), 2),
        (NINE + timedelta(minutes=4), 3),
        (NINE + timedelta(minutes=16), 1),
    ]
    filled = buckets_fill(counts, bucket=5 * MINUTE, start=NINE, end=NINE + timedelta(minutes=16))
    assert filled == [
        (NINE, 5),
        (NINE + timedelta(minutes=5), 0),
        (NINE + timedelta(minutes=10), 0),
        (NINE + timedelta(minutes=15), 1),
    ]


def test_days_start_at_local_midnight_across_a_daylight_saving_change():
    berlin = ZoneInfo("Europe/Berlin")
    # Clocks went back on 2026-10-25 in Berlin: that day had 25 hours.
    start = datetime(2026, 10, 24, 23, 30, tzinfo=berlin)
    counts = [(start, 1), (datetime(2026, 10, 25, 23, 30, tzinfo=berlin), 1)]
    with timezone.override(berlin):
        filled = buckets_fill(
            counts, bucket=DAY, start=start, end=datetime(2026, 10, 26, 1, 0, tzinfo=berlin)
        )
        local = [(timezone.localtime(moment), n) for moment, n in filled]
        assert [(moment.date().isoformat(), moment.hour, n) for moment, n in local] == [
            ("2026-10-24", 0, 1),
            ("2026-10-25", 0, 1),
            ("2026-10-26", 0, 0),
        ]


def test_series_start_at_the_first_count_and_never_run_past_now():
    now = NINE + timedelta(minutes=30)
    bucket, starts, values = series_over_time(
        {"sent": [(NINE, 4)], "opens": [(NINE + timedelta(minutes=12), 1), (now + timedelta(hours=1), 9)]},
        now=now,
    )
    assert bucket == MINUTE
    assert (starts[0], starts[-1]) == (NINE, now)
    assert (sum(values["sent"]), sum(values["opens"])) == (4, 1)  # A count from the future is not drawn.


def test_nothing_counted_draws_nothing():
    assert series_over_time({"sent": []}, now=NINE) == (MINUTE, [], {"sent": []})


def test_axes_name_buckets_as_a_person_reads_them():
    assert [bucket_name(size) for size in (MINUTE, 5 * MINUTE, HOUR, 6 * HOUR, DAY)] == [
        "per minute",
        "per 5 minutes",
        "per hour",
        "per 6 hours",
        "per day",
    ]
    assert bucket_label(NINE, 5 * MINUTE, one_day=True) == "09:00"
    assert bucket_label(NINE, HOUR, one_day=False) == "Nov 2 09:00"
    assert bucket_label(NINE, DAY, one_day=False) == "Nov 2"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_buckets_across_a_clock_change_end_and_count_each_hour_once(zone):
    # Two weeks around the clocks going back (Berlin on Oct 25, New York on Nov 1, 2026).
    opens = [(datetime(2026, 10, 20, 12, tzinfo=UTC), 1), (datetime(2026, 11, 3, 12, tzinfo=UTC), 1)]
    with timezone.override(ZoneInfo(zone)):
        bucket, starts, values = series_over_time({"opens": opens}, now=datetime(2027, 1, 1, tzinfo=UTC))
        assert bucket == 6 * HOUR
        assert len(starts) == len(set(starts)) < 120
        assert starts == sorted(starts)
        assert sum(values["opens"]) == 2


def test_the_hour_the_clocks_go_back_is_two_hours_each_counted_once():
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    with timezone.override(ZoneInfo("Europe/Berlin")):  # Both are 02:30 on Berlin's clocks.
        filled = buckets_fill([(first, 1), (second, 10)], bucket=HOUR, start=first, end=second)
    assert [n for _moment, n in filled] == [1, 10]
