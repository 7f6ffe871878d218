"""The delivery dashboard: per-minute flows from the fleet's counters, SES call times, retries."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from core import fleet_metrics as fleet
from core.models import MetricSnapshot
from delivery import metrics
from delivery.models import StepExecution
from delivery.selectors import delivery_dashboard
from tests.factories import StepExecutionFactory

pytestmark = pytest.mark.django_db


def test_flows_per_minute_and_ses_call_times_come_from_the_snapshots():
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    for minute, (sent, throttled, seconds) in enumerate(
        [(0, 0, ()), (5, 1, (0.04,) * 5), (2, 0, (0.2, 0.2))]
    ):
        metrics.EMAILS.inc(sent, outcome="sent")
        metrics.SES_ERRORS.inc(throttled, kind="throttled")
        for value in seconds:
            metrics.SES_SECONDS.observe(value)
        fleet.metrics_snapshot(now=start + timedelta(minutes=minute))
    board = delivery_dashboard()
    assert [n for _minute, n in board["sent"]] == [0, 5, 2]
    assert [n for _minute, n in board["throttled"]] == [0, 1, 0]
    assert 0.025 < board["latency_p50"] <= 0.05  # Five of seven calls took 40 ms.
    assert 0.15 < board["latency_p95"] <= 0.25
    assert MetricSnapshot.objects.count() == 3


def test_the_first_minute_after_start_is_counted():
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=2)
    metrics.EMAILS.inc(7, outcome="sent")  # Sent before beat took its first snapshot.
    fleet.metrics_snapshot(now=start)
    metrics.EMAILS.inc(3, outcome="sent")
    fleet.metrics_snapshot(now=start + timedelta(minutes=1))
    assert delivery_dashboard()["sent"] == [(start, 7), (start + timedelta(minutes=1), 3)]


def test_a_window_starts_from_the_snapshot_before_it_not_from_zero():
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=90)
    metrics.EMAILS.inc(100, outcome="sent")
    fleet.metrics_snapshot(now=start)  # Before the dashboard's hour.
    metrics.EMAILS.inc(4, outcome="sent")
    fleet.metrics_snapshot(now=start + timedelta(minutes=80))
    assert [n for _minute, n in delivery_dashboard()["sent"]] == [4]


def test_snapshots_older_than_a_day_are_dropped():
    old = timezone.now() - timedelta(days=2)
    MetricSnapshot.objects.create(at=old, values={})
    fleet.metrics_snapshot()
    assert not MetricSnapshot.objects.filter(at=old).exists()


def test_the_dashboard_page_renders_with_charts_and_the_failed_rows_link(admin_client):
    StepExecutionFactory(status="failed")
    page = admin_client.get(reverse("admin:delivery_dashboard")).content.decode()
    for key in ("queued", "processed", "sent", "throttled"):
        assert f'id="chart-{key}"' in page, key
    assert "Emails sent per minute" in page
    assert "status__exact=failed" in page
    assert 'http-equiv="refresh"' in page
    assert reverse("admin:delivery_dashboard") in admin_client.get(reverse("admin:index")).content.decode()


def test_retry_selected_requeues_only_the_failed_rows_and_reopens_their_campaign(admin_client):
    failed = StepExecutionFactory(status="failed")
    Campaign.objects.filter(pk=failed.step.campaign_id).update(status="completed")
    unknown = StepExecutionFactory(step=failed.step, status="unknown")
    response = admin_client.post(
        reverse("admin:delivery_stepexecution_changelist"),
        {"action": "retry_selected", "_selected_action": [failed.pk, unknown.pk]},
    )
    assert response.status_code == 302
    assert StepExecution.objects.get(pk=failed.pk).status == "pending"
    assert StepExecution.objects.get(pk=unknown.pk).status == "unknown"  # May have been delivered.
    assert Campaign.objects.get(pk=failed.step.campaign_id).status == "sending"


def test_snapshots_are_taken_every_minute_by_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["metrics-snapshot"]
    assert (entry["task"], entry["schedule"]) == ("core.tasks.metrics_snapshot", 60.0)
    with time_machine.travel(timezone.now()):
        from core.tasks import metrics_snapshot

        metrics_snapshot()
    assert MetricSnapshot.objects.exists()
