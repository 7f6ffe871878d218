"""The operator's Prometheus endpoint: the fleet's counters plus gauges read from the ledger."""

import ipaddress
import secrets

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

import delivery.metrics  # noqa: F401 - registers the fleet's sending metrics
import tracking.metrics  # noqa: F401 - registers the fleet's tracking metrics
from core.fleet_metrics import FleetCollector, metrics_flush
from core.http import client_address
from delivery.selectors import ledger_queue_depth, sending_hold_active


class LedgerCollector:
    """Gauges read from the database at each scrape: the queue and the sending hold."""

    def collect(self):
        depth = GaugeMetricFamily(
            "campanile_queue_depth",
            "Ledger rows waiting or in flight, by kind (campaign, transactional) and status.",
            labels=("kind", "status"),
        )
        for (kind, status), n in sorted(ledger_queue_depth().items()):
            depth.add_metric([kind, status], n)
        yield depth
        hold = GaugeMetricFamily("campanile_sending_hold", "1 while all sending is on hold (quota, SES).")
        hold.add_metric([], 1 if sending_hold_active() is not None else 0)
        yield hold


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(FleetCollector())
REGISTRY.register(LedgerCollector())


def _allowed(request) -> bool:
    header = request.headers.get("Authorization", "")
    # Compared as bytes: compare_digest refuses text that is not ASCII ("Bearer sécret").
    expected = f"Bearer {settings.METRICS_TOKEN}".encode()
    if settings.METRICS_TOKEN and secrets.compare_digest(header.encode(errors="replace"), expected):
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_NETWORKS)


@never_cache
@require_safe
def metrics_view(request):
    """Answer the Prometheus text format to a scraper with the token or from an allowed network."""
    if not _allowed(request):
        return HttpResponseForbidden(
            "Metrics need METRICS_TOKEN or an address in METRICS_ALLOWED_NETWORKS.\n"
        )
    try:
        metrics_flush()  # This process's latest counts first.
        body = generate_latest(REGISTRY)
    except (RedisError, DatabaseError) as exc:
        # The fleet's figures live in the store: without it a scrape fails plainly (Prometheus's
        # `up` goes to 0), and this process keeps its counts for the next flush.
        return HttpResponse(
            f"The metrics store is unavailable: {exc.__class__.__name__}.\n",
            status=503,
            content_type="text/plain",
        )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
