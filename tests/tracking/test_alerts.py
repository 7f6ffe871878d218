"""Alerts: rates over their limits, and engagement that fell against the sender's average."""

import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from tests.factories import CampaignFactory, CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tests.utils import metric_value
from tracking import alerts, engagement
from tracking.models import Alert

pytestmark = pytest.mark.django_db

SENDER = "News <news@campanile.test>"


@pytest.fixture(autouse=True)
def _alert_settings(settings):
    settings.SES_REPUTATION_MIN_SENT = 10
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_EMAILS = ["ops@campanile.test"]


def _campaign(
    *, sent=20, opened=0, clicked=0, bounced=0, started_hours_ago=48, status="completed", is_load_test=False
) -> Campaign:
    """A campaign of `sent` delivered emails, with opens, clicks and bounces as given."""
    now = timezone.now()
    campaign = CampaignFactory(from_email=SENDER, is_load_test=is_load_test)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=status,
        started_at=now - timedelta(hours=started_hours_ago),
        completed_at=now - timedelta(hours=started_hours_ago - 1) if status == "completed" else None,
    )
    step = CampaignStepFactory(campaign=campaign)
    for n in range(sent):
        row = StepExecutionFactory(step=step, status="sent", sent_at=now)
        kinds = ["bounce"] if n < bounced else ["delivery"]
        kinds += ["open"] * (n < opened) + ["click"] * (n < clicked)
        for kind in kinds:
            # The bounces here are hard ones: the bounce rate is hard bounces over sent.
            hard = {"kind": "hard"} if kind == "bounce" else {}
            TrackingEventFactory(step_execution=row, type=kind, recipient=row.email, **hard)
    engagement.engagement_rebuild()  # Count the events written here, as the consumers would.
    return Campaign.objects.get(pk=campaign.pk)


def test_a_bounce_rate_over_its_limit_alerts_once_in_the_log_the_metrics_and_the_mail(caplog):
    campaign = _campaign(bounced=2, status="sending")
    before = metric_value("campanile_alerts_total", kind="bounce_rate")
    with caplog.at_level(logging.WARNING):
        (alert,) = alerts.alerts_check()
    assert (alert.kind, alert.campaign, alert.value) == ("bounce_rate", campaign, 0.1)
    assert "bounce rate 10.00% over the 4.00% limit" in caplog.text
    assert metric_value("campanile_alerts_total", kind="bounce_rate") == before + 1
    (sent,) = mail.outbox
    assert sent.to == ["ops@campanile.test"]
    assert campaign.name in sent.subject
    assert alerts.alerts_check() == []  # Once per campaign and kind.
    assert len(mail.outbox) == 1


def test_a_campaign_named_over_two_lines_is_alerted_and_mailed_on_one():
    campaign = _campaign(bounced=2, status="sending")
    Campaign.objects.filter(pk=campaign.pk).update(name="Sale\r\nBcc: x@evil.test")  # The API takes any text.

    assert len(alerts.alerts_check()) == 1

    (sent,) = mail.outbox
    assert sent.subject == "[Campanile] Bounce rate over its limit: Sale Bcc: x@evil.test"
    assert sent.bcc == []


def test_an_open_rate_that_fell_against_the_senders_average_alerts():
    _campaign(opened=10, clicked=4, started_hours_ago=200)
    _campaign(opened=12, clicked=4, started_hours_ago=100)
    engagement.engagement_rebuild()
    Alert.objects.all().delete()
    _campaign(opened=9, clicked=3, started_hours_ago=31)  # A normal one: no alert, and history now.
    dropped = _campaign(opened=2, clicked=3, started_hours_ago=30)
    too_early = _campaign(opened=0, clicked=0, started_hours_ago=3, status="sending")
    engagement.engagement_rebuild()

    raised = alerts.alerts_check()
    assert [(alert.campaign, alert.kind) for alert in raised] == [(dropped, "open_drop")]
    # 50%, 60% and 45% before; 3 of 20 now, as its three clicks count their emails as opened.
    assert "open rate 15.0% against 51.7% on average" in raised[0].message
    assert not Alert.objects.filter(campaign=too_early).exists()  # Its opens are still coming.


def test_load_tests_neither_count_in_the_senders_average_nor_raise_drops():
    _campaign(opened=12, clicked=4, started_hours_ago=200)
    _campaign(opened=12, clicked=4, started_hours_ago=100)
    # Load tests from the same sender, later: nobody opens the simulator's mail.
    for hours in (60, 50, 40):
        _campaign(started_hours_ago=hours, is_load_test=True)
    dropped = _campaign(opened=4, clicked=4, started_hours_ago=30)
    engagement.engagement_rebuild()

    raised = alerts.alerts_check()

    # 20% against the real 60% average (with the load tests, 24%: no alert at all).
    assert [(alert.campaign, alert.kind) for alert in raised] == [(dropped, "open_drop")]
    assert "open rate 20.0% against 60.0% on average" in raised[0].message


def test_alerts_are_listed_and_acknowledged_in_the_admin(admin_client):
    _campaign(bounced=3, status="sending")
    (alert,) = alerts.alerts_check()
    page = admin_client.get(reverse("admin:tracking_alert_changelist")).content.decode()
    assert "bounce rate 15.00%" in page
    admin_client.post(
        reverse("admin:tracking_alert_changelist"), {"action": "acknowledge", "_selected_action": [alert.pk]}
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None


def test_a_campaign_without_the_open_pixel_raises_no_open_drop():
    _campaign(opened=10, clicked=4, started_hours_ago=200)
    _campaign(opened=12, clicked=4, started_hours_ago=100)
    blind = _campaign(opened=0, clicked=4, started_hours_ago=30)  # Its clicks alone count as opened.
    Campaign.objects.filter(pk=blind.pk).update(track_opens=False)

    assert [alert.kind for alert in alerts.alerts_check() if alert.campaign == blind] == []
