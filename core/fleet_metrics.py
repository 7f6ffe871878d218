"""Fleet-wide Prometheus counters: summed over every web and worker process, on every machine.

A process counts in memory and a timer thread adds its counts, every METRICS_FLUSH_SECONDS, to one shared
store: a Redis hash with REDIS_URL, else a database table (the embedded setup, where web, worker
and beat are separate processes too). `/metrics` on any web process then reads the whole fleet's
totals. Counts in memory when a process is killed are lost: at most a second of them.
"""

import itertools
import json
import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from core.redis_client import redis_client

_METRICS: dict[str, "FleetCounter"] = {}
_pending: dict[str, float] = defaultdict(float)
# Gauges: the last value set, by series; the fleet's value is the last one any process stored.
_pending_sets: dict[str, float] = {}
_lock = threading.Lock()
_timer: threading.Timer | None = None


def series_name(name: str, **labels: str) -> str:
    """Return the stored key of one series: its name and labels."""
    return json.dumps([name, labels], sort_keys=True, separators=(",", ":"))


def _series(name: str, labels: dict[str, str]) -> str:
    return series_name(name, **labels)


def _add(series: str, amount: float, *, absolute: bool = False) -> None:
    if absolute:
        _add_many({}, {series: amount})
    else:
        _add_many({series: amount}, {})


def _add_many(counts: dict[str, float], sets: dict[str, float]) -> None:
    """Add counts and set values under one lock, and make sure a flush is coming."""
    global _timer
    with _lock:
        for series, amount in counts.items():
            _pending[series] += amount
        _pending_sets.update(sets)
        if settings.METRICS_FLUSH_SECONDS and (_timer is None or not _timer.is_alive()):
            _timer = threading.Timer(settings.METRICS_FLUSH_SECONDS, _flush_in_thread)
            _timer.daemon = True
            _timer.start()


class FleetCounter:
    """A counter whose value is the sum over the fleet.

    `known` lists the values its one label is known to take: each is exported at 0 until it
    happens, so a fresh install's alerts and dashboards find every series (Prometheus's
    instrumentation guidance). Other values still count when they happen.
    """

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...] = (), known: tuple[str, ...] = ()
    ):
        if known and len(labelnames) != 1:
            raise ValueError(f"{name}: known values are for a counter with one label.")
        self.name, self.documentation, self.labelnames, self.known = name, documentation, labelnames, known
        _METRICS[name] = self

    def inc(self, amount: float = 1, **labels: str) -> None:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes the labels {self.labelnames}, not {tuple(labels)}.")
        _add(_series(self.name, labels), amount)


class FleetGauge(FleetCounter):
    """A value the fleet shares, such as the limiter's rate: the last one any process set."""

    def set(self, value: float) -> None:
        _add(_series(self.name, {}), value, absolute=True)


class FleetHistogram(FleetCounter):
    """A histogram whose buckets, sum and count are fleet-wide counters."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]):
        super().__init__(name, documentation)
        self.buckets = buckets
        self._bounds = (*buckets, float("inf"))
        self._bucket_series = {bound: _series(f"{name}_bucket", {"le": str(bound)}) for bound in self._bounds}
        self._sum_series, self._count_series = _series(f"{name}_sum", {}), _series(f"{name}_count", {})

    def observe(self, value: float) -> None:
        # One lock for the whole observation: it is on the path of every SES call.
        counts = {self._bucket_series[bound]: 1 for bound in self._bounds if value <= bound}
        _add_many({**counts, self._sum_series: value, self._count_series: 1}, {})


def metrics_flush() -> None:
    """Add this process's counts to the shared store now (the timer does it every second)."""
    with _lock:
        counts, sets = dict(_pending), dict(_pending_sets)
        _pending.clear()
        _pending_sets.clear()
    if not counts and not sets:
        return
    try:
        _store_write(counts, sets)
    except Exception:
        with _lock:  # The store is down: keep the counts for the next try.
            for series, amount in counts.items():
                _pending[series] += amount
            _pending_sets.update(
                {series: value for series, value in sets.items() if series not in _pending_sets}
            )
        raise


def _flush_in_thread() -> None:
    try:
        metrics_flush()
    except Exception:  # noqa: S110 - kept for the next flush; a store outage must not spread
        pass
    finally:
        connection.close()  # This timer thread's own connection, if the table store opened one.


def _store_write(counts: dict[str, float], sets: dict[str, float]) -> None:
    if settings.REDIS_URL:
        pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
        for series, amount in counts.items():
            pipe.hincrbyfloat(settings.METRICS_REDIS_KEY, series, amount)
        if sets:
            # redis-py types mapping as Mapping[FieldT, …], invariant in its key: a dict[str, …] is
            # refused although str is one of FieldT's members.
            pipe.hset(settings.METRICS_REDIS_KEY, mapping=sets)  # type: ignore[arg-type]
        pipe.execute()
        return
    from core.models import MetricSeries

    table = connection.ops.quote_name(MetricSeries._meta.db_table)
    upsert = (
        f"INSERT INTO {table} (series, value) VALUES (%s, %s) "  # noqa: S608 - a model's own table
        f"ON CONFLICT (series) DO UPDATE SET value = {{}}"
    )
    add, replace = upsert.format(f"{table}.value + excluded.value"), upsert.format("excluded.value")
    with transaction.atomic(), connection.cursor() as cursor:
        # In order: two processes flushing at once never deadlock.
        for series, amount in sorted(counts.items()):
            cursor.execute(add, [series, amount])
        for series, value in sorted(sets.items()):
            cursor.execute(replace, [series, value])


def metrics_read() -> dict[str, float]:
    """Return every stored series of the fleet with its total."""
    if settings.REDIS_URL:
        client = redis_client(settings.REDIS_URL)
        # The client does not decode responses: names and values come back as bytes.
        stored = cast(dict[bytes, bytes], client.hgetall(settings.METRICS_REDIS_KEY))
        return {series.decode(): float(value) for series, value in stored.items()}
    from core.models import MetricSeries

    return dict(MetricSeries.objects.values_list("series", "value"))


def metrics_reset() -> None:
    """Forget every count, stored and pending (tests)."""
    with _lock:
        _pending.clear()
        _pending_sets.clear()
    if settings.REDIS_URL:
        redis_client(settings.REDIS_URL).delete(settings.METRICS_REDIS_KEY)
    from core.models import MetricSeries

    MetricSeries.objects.all().delete()


class FleetCollector:
    """Yield the fleet's counters and histograms, as stored, to a Prometheus registry."""

    def collect(self):
        values: dict[str, list[tuple[dict, float]]] = defaultdict(list)
        for series, value in metrics_read().items():
            name, labels = json.loads(series)
            values[name].append((labels, value))
        for metric in _METRICS.values():
            if isinstance(metric, FleetGauge):
                gauge = GaugeMetricFamily(metric.name, metric.documentation)
                for _labels, value in values[metric.name]:
                    gauge.add_metric([], value)
                yield gauge
                continue
            if isinstance(metric, FleetHistogram):
                buckets = sorted(
                    ((labels["le"], value) for labels, value in values[f"{metric.name}_bucket"]),
                    key=lambda bucket: float(bucket[0]),
                )
                total = sum(value for _labels, value in values[f"{metric.name}_sum"])
                histogram = HistogramMetricFamily(metric.name, metric.documentation)
                if buckets:
                    histogram.add_metric([], [(_le(le), value) for le, value in buckets], total)
                yield histogram
                continue
            family = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
            seen = set()
            for labels, value in values[metric.name]:
                family.add_metric([labels[name] for name in metric.labelnames], value)
                seen.add(tuple(labels[name] for name in metric.labelnames))
            for known in metric.known:
                if (known,) not in seen:
                    family.add_metric([known], 0.0)
            if not metric.labelnames and not seen:
                family.add_metric([], 0.0)
            yield family


def _le(bound: str) -> str:
    return "+Inf" if float(bound) == float("inf") else bound


SNAPSHOT_KEEP = timedelta(days=1)


def metrics_snapshot(*, now: datetime | None = None) -> None:
    """Keep the fleet's counters as they stand this minute (beat, every minute); drop day-old ones."""
    from core.models import MetricSnapshot

    now = (now or timezone.now()).replace(second=0, microsecond=0)
    metrics_flush()
    MetricSnapshot.objects.update_or_create(at=now, defaults={"values": metrics_read()})
    MetricSnapshot.objects.filter(at__lt=now - SNAPSHOT_KEEP).delete()


def metric_per_minute(snapshots, name: str, **labels: str) -> list[tuple[datetime, float]]:
    """Return how much one counter series grew in each minute between consecutive snapshots."""
    series = _series(name, labels)
    ordered = sorted(snapshots, key=lambda snapshot: snapshot.at)
    return [
        (later.at, max(later.values.get(series, 0.0) - earlier.values.get(series, 0.0), 0.0))
        for earlier, later in itertools.pairwise(ordered)
    ]


def histogram_quantile(snapshots, name: str, quantile: float) -> float | None:
    """Estimate a quantile of a fleet histogram over the snapshots' span, as Prometheus does."""
    ordered = sorted(snapshots, key=lambda snapshot: snapshot.at)
    if len(ordered) < 2:
        return None
    first, last = ordered[0].values, ordered[-1].values
    prefix = json.dumps([f"{name}_bucket"])[:-1]
    buckets = sorted(
        (float(json.loads(series)[1]["le"]), last[series] - first.get(series, 0.0))
        for series in last
        if series.startswith(prefix)
    )
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, below, lower = quantile * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        below, lower = count, bound
    return lower
