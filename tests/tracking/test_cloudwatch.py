"""Publishing campaign figures to CloudWatch (moto stands in for it)."""

from datetime import timedelta

import boto3
import pytest
from django.conf import settings
from django.utils import timezone
from moto import mock_aws

from campaigns.models import Campaign
from tests.factories import CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tracking import cloudwatch, engagement

pytestmark = pytest.mark.django_db


def _campaign(status: str, completed_days_ago: float | None = None) -> Campaign:
    step = CampaignStepFactory()
    now = timezone.now()
    Campaign.objects.filter(pk=step.campaign_id).update(
        status=status,
        started_at=now - timedelta(days=30),
        completed_at=now - timedelta(days=completed_days_ago) if completed_days_ago is not None else None,
    )
    return Campaign.objects.get(pk=step.campaign_id)


def _figure(client, campaign: Campaign, name: str) -> float | None:
    points = client.get_metric_statistics(
        Namespace="Campanile",
        MetricName=name,
        Dimensions=[{"Name": "Campaign", "Value": f"{campaign.pk} {campaign.name}"}],
        StartTime=timezone.now() - timedelta(hours=1),
        EndTime=timezone.now() + timedelta(hours=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return points[0]["Maximum"] if points else None


def test_recent_campaigns_figures_reach_cloudwatch(aws_credentials, settings):
    settings.CLOUDWATCH_NAMESPACE = "Campanile"
    sending = _campaign("sending")
    rows = [StepExecutionFactory(step=sending.steps.get(), status="sent") for _ in range(3)]
    for row in rows[:2]:
        TrackingEventFactory(step_execution=row, type="delivery", recipient=row.email)
    TrackingEventFactory(step_execution=rows[2], type="bounce", recipient=rows[2].email)
    TrackingEventFactory(step_execution=rows[0], type="complaint", recipient=rows[0].email)
    TrackingEventFactory(step_execution=rows[1], type="open", recipient=rows[1].email)
    engagement.engagement_rebuild()
    yesterday = _campaign("completed", completed_days_ago=1)
    last_month = _campaign("completed", completed_days_ago=20)

    with mock_aws():
        assert cloudwatch.campaign_metrics_publish() == 2
        client = boto3.client("cloudwatch", region_name=settings.AWS_REGION)
        figures = {name: _figure(client, sending, name) for name, _key in cloudwatch.CLOUDWATCH_FIGURES}
        assert figures == {"Delivered": 2, "Bounces": 1, "Complaints": 1, "UniqueOpens": 1, "UniqueClicks": 0}
        assert _figure(client, yesterday, "Delivered") == 0
        assert _figure(client, last_month, "Delivered") is None


@pytest.mark.parametrize(("namespace", "scheduled"), [("", "False"), ("Campanile", "300.0")])
def test_publishing_is_scheduled_only_when_a_namespace_is_set(namespace, scheduled):
    import os
    import subprocess
    import sys

    code = (
        "import config.settings as s; "
        "print(s.CELERY_BEAT_SCHEDULE.get('cloudwatch-publish', {}).get('schedule', False))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_DEBUG": "true", "CLOUDWATCH_NAMESPACE": namespace},
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )
    assert result.stdout.strip() == scheduled, result.stderr
