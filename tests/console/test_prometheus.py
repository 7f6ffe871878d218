"""The operator's /metrics: fleet-wide counters, ledger gauges, and who may read them."""

import json

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from campaigns import services as campaign_services
from core import fleet_metrics as fleet
from delivery import fan_out as delivery_fan_out
from delivery import sending as delivery_sending
from delivery import services as delivery_services
from tests.factories import StepExecutionFactory, sendable_campaign

pytestmark = pytest.mark.django_db


def _scrape(client=None, **headers) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_answer_only_the_token_or_an_allowed_network(settings):
    settings.METRICS_TOKEN = "s3cret"
    settings.METRICS_NETWORKS = ()
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s\u00e9cret").status_code == 403  # Not ASCII.
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403  # No token: no entry.
    from config.settings import METRICS_NETWORKS

    settings.METRICS_NETWORKS = METRICS_NETWORKS  # Loopback, the default.
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403


def test_with_the_metrics_store_down_a_scrape_is_a_plain_503(redis_down):
    delivery_sending.metrics.EMAILS.inc(outcome="sent")  # A count waiting for the store.
    redis_down()
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 503
    assert "The metrics store is unavailable" in response.content.decode()


def test_sends_errors_throttles_and_ses_latency_are_counted(ses, inject_ses_error):
    campaign = sendable_campaign(contacts=4)
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_fan_out.step_fan_out(step=campaign.steps.get())
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.", status=400)
    delivery_sending.step_send_batch(step=campaign.steps.get())  # Throttled: all handed back.
    inject_ses_error(code="MessageRejected", message="Email address is not verified.")
    delivery_sending.step_send_batch(step=campaign.steps.get())  # One rejected, three sent.

    samples = _scrape()
    assert samples["campanile_emails_total", (("outcome", "sent"),)] == 3
    assert samples["campanile_emails_total", (("outcome", "failed"),)] == 1
    assert samples["campanile_emails_total", (("outcome", "released"),)] == 4
    assert samples["campanile_ses_errors_total", (("kind", "throttled"),)] == 1
    assert samples["campanile_ses_errors_total", (("kind", "rejected"),)] == 1
    assert samples["campanile_ses_send_seconds_count", ()] == 5
    assert samples["campanile_ses_send_seconds_bucket", (("le", "+Inf"),)] == 5
    assert samples["campanile_send_rate_per_second", ()] > 0


def test_the_queue_depth_and_the_hold_come_from_the_ledger():
    for status in ("pending", "pending", "sending", "unknown", "sent"):
        row = StepExecutionFactory(status=status)
        row.step.campaign.status = "sending"
        row.step.campaign.save()
    samples = _scrape()
    assert samples["campanile_queue_depth", (("kind", "campaign"), ("status", "pending"))] == 2
    assert samples["campanile_queue_depth", (("kind", "campaign"), ("status", "unknown"))] == 1
    assert samples["campanile_queue_depth", (("kind", "transactional"), ("status", "pending"))] == 0
    assert samples["campanile_sending_hold", ()] == 0


def test_counts_of_every_process_add_up_in_the_shared_store():
    from tracking import metrics

    metrics.TRACKING_HITS.inc(kind="open")
    fleet.metrics_flush()
    # Another process (a worker, another web server) flushed its own counts to the same store.
    series = json.dumps(["campanile_tracking_hits", {"kind": "open"}], sort_keys=True, separators=(",", ":"))
    fleet._store_write({series: 2}, {})
    metrics.TRACKING_HITS.inc(kind="open")  # Not flushed yet: /metrics flushes its own first.
    assert _scrape()["campanile_tracking_hits_total", (("kind", "open"),)] == 4
    with pytest.raises(ValueError, match="labels"):
        metrics.TRACKING_HITS.inc(kind="open", extra="x")


def test_every_known_series_is_exported_at_zero_before_anything_happens():
    fleet.metrics_reset()
    samples = _scrape()
    for name, label, value in (
        ("campanile_ses_errors_total", "kind", "throttled"),
        ("campanile_ses_errors_total", "kind", "retryable"),
        ("campanile_emails_total", "outcome", "unknown"),
        ("campanile_rows_queued_total", "kind", "transactional"),
        ("campanile_ses_events_total", "type", "complaint"),
        ("campanile_sns_refused_total", "status", "403"),
        ("campanile_reputation_pauses_total", "scope", "campaign"),
        ("campanile_tracking_hits_total", "kind", "click"),
        ("campanile_alerts_total", "kind", "bounce_rate"),
    ):
        assert samples[name, ((label, value),)] == 0, (name, value)
