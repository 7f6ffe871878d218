"""Campaign figures published to CloudWatch, for dashboards and alarms beside SES's own."""

from datetime import datetime, timedelta

import boto3
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign
from tracking.outcomes import COUNTED_OUTCOMES

# Campaign figures published, as (CloudWatch metric name, key of campaign_stats).
CLOUDWATCH_FIGURES = (
    *((outcome.cloudwatch, outcome.key) for outcome in COUNTED_OUTCOMES if outcome.cloudwatch),
    ("UniqueOpens", "opens_unique"),
    ("UniqueClicks", "clicks_unique"),
)


def campaign_metrics_publish(*, now: datetime | None = None) -> int:
    """Publish each recent campaign's delivered, bounces, complaints, unique opens and clicks to
    CloudWatch (CLOUDWATCH_NAMESPACE), one datum each with a Campaign dimension; return how many
    campaigns. Recent: sending, or completed within the last CLOUDWATCH_CAMPAIGN_DAYS."""
    from tracking.selectors import campaign_stats

    now = now or timezone.now()
    recent = Campaign.objects.filter(
        Q(status=Campaign.Status.SENDING)
        | Q(
            completed_at__gte=now - timedelta(days=settings.CLOUDWATCH_CAMPAIGN_DAYS),
            started_at__isnull=False,
        )
    ).order_by("pk")
    client = boto3.client(
        "cloudwatch", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL
    )
    published = 0
    for campaign in recent:
        stats = campaign_stats(campaign=campaign)
        label = f"{campaign.pk} {campaign.name}"[:255]
        client.put_metric_data(
            Namespace=settings.CLOUDWATCH_NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "Campaign", "Value": label}],
                    "Timestamp": now,
                    "Value": stats[key],
                    "Unit": "Count",
                }
                for name, key in CLOUDWATCH_FIGURES
            ],
        )
        published += 1
    return published
