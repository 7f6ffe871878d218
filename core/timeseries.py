"""Counts over time in buckets that fit the span: minutes for a young campaign, then hours, then days."""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

ZERO, MINUTE, HOUR, DAY = timedelta(), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
#: The bucket sizes a chart over time may use, smallest first.
BUCKETS = (MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY)
#: The most bars a chart over time draws, unless even days give more.
MAX_BUCKETS = 120


def bucket_for(*, start: datetime, end: datetime) -> timedelta:
    """Return the smallest bucket that draws `start`..`end` in at most MAX_BUCKETS bars (days at most)."""
    span = end - start
    for bucket in BUCKETS:
        if span < bucket * MAX_BUCKETS:
            return bucket
    return DAY


def bucket_floor(moment: datetime, bucket: timedelta) -> datetime:
    """Return the start of the bucket holding `moment`, in UTC: days start at local midnight; shorter
    buckets are counted from the epoch in UTC, so a clock change never makes two buckets one (in a
    zone of whole hours, hours and shorter buckets start on the local hour's multiples too)."""
    if bucket >= DAY:
        local = timezone.localtime(moment)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    seconds = int(bucket.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)


def buckets_fill(
    counts: Iterable[tuple[datetime, int]], *, bucket: timedelta, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    """Return (bucket start, total) for every bucket from `start`'s to `end`'s, empty ones as 0."""
    totals: dict[datetime, int] = {}
    for moment, n in counts:
        key = bucket_floor(moment, bucket)
        totals[key] = totals.get(key, 0) + n
    first, last = bucket_floor(start, bucket), bucket_floor(end, bucket)
    filled = []
    moment = first
    while moment <= last:
        filled.append((moment, totals.get(moment, 0)))
        # Two hours past a day, so a day 23 or 25 hours long still lands on the next local midnight.
        following = bucket_floor(moment + bucket + (2 * HOUR if bucket >= DAY else ZERO), bucket)
        moment = following if following > moment else moment + bucket  # Always forward.
    return filled


def bucket_label(moment: datetime, bucket: timedelta, *, one_day: bool) -> str:
    """Return how an axis names a bucket: its time of day (with the date unless all is one day)."""
    if bucket >= DAY:
        return date_format(moment, "M j")
    if one_day:
        return date_format(moment, "H:i")
    return date_format(moment, "M j H:i")


def bucket_name(bucket: timedelta) -> str:
    """Return a bucket's size in words, for an axis title: "per 5 minutes"."""
    minutes = int(bucket.total_seconds() // 60)
    if minutes >= 1440:
        return _("per day")
    if minutes >= 60:
        hours = minutes // 60
        return _("per hour") if hours == 1 else _("per %(n)d hours") % {"n": hours}
    return _("per minute") if minutes == 1 else _("per %(n)d minutes") % {"n": minutes}


#: The least a chart over time spans from its first count (unless that is in the future): a
#: campaign's first hour, minute by minute, even when its sending took one minute.
LEAST_SPAN = HOUR


def series_over_time(
    series: Mapping[str, Iterable[tuple[datetime, int]]], *, now: datetime, start: datetime | None = None
) -> tuple[timedelta, list[datetime], dict[str, list[int]]]:
    """Return the bucket, the bucket starts and each series' totals per bucket, from `start` (or
    the first moment counted) to the last moment counted (at least LEAST_SPAN, never past `now`);
    counts before `start` are left out. No bucket and no moments when nothing was counted."""
    points = {name: list(values) for name, values in series.items()}
    moments = [moment for values in points.values() for moment, n in values if n]
    if start is None and moments:
        start = min(moments)
    moments = [moment for moment in moments if start is not None and moment >= start]
    if start is None or not moments:
        return MINUTE, [], {name: [] for name in points}
    end = max(start, min(max(max(moments), start + LEAST_SPAN), now))
    bucket = bucket_for(start=start, end=end)
    filled = {
        name: buckets_fill(values, bucket=bucket, start=start, end=end) for name, values in points.items()
    }
    starts = [moment for moment, _n in next(iter(filled.values()))]
    return bucket, starts, {name: [n for _moment, n in values] for name, values in filled.items()}
