"""Alerts: rates over the guard's limits, or opens and clicks fallen against the sender's average."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign
from core.templatetags.campanile import percent, percent_beside
from tracking import metrics
from tracking.models import (
    Alert,
)
from tracking.outcomes import campaign_rates
from tracking.reputation import campaigns_reputation_counts

logger = logging.getLogger(__name__)


def _alert_raise(
    *, campaign: Campaign, kind: str, value: float, threshold: float, message: str
) -> Alert | None:
    """Record an alert once per campaign and kind; log it, count it and mail staff. Return it if new."""
    alert, created = Alert.objects.get_or_create(
        campaign=campaign,
        kind=kind,
        defaults={"value": value, "threshold": threshold, "message": message[:500]},
    )
    if not created:
        return None
    logger.warning("Alert on campaign %s (%s): %s", campaign.pk, kind, message)
    metrics.ALERTS.inc(kind=kind)
    if settings.ALERT_EMAILS:
        send_mail(
            # A name with a line break (the API takes any text) would make no header: one line.
            subject=f"[Campanile] {alert.get_kind_display()}: {' '.join(campaign.name.split())}"[:200],
            message=f"{message}\n\nSee the campaign's report in the admin.",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=settings.ALERT_EMAILS,
            fail_silently=True,  # An alert that cannot be mailed is still in the admin and the log.
        )
    return alert


def _trailing_rates(*, campaign: Campaign) -> dict[str, float] | None:
    """Return the sender's average open and click rates over its last completed campaigns."""
    from tracking.selectors import campaign_stats

    # Load tests mail the simulator, which opens and clicks nothing: they are no sender's usual.
    earlier = Campaign.objects.filter(
        from_email=campaign.from_email,
        status=Campaign.Status.COMPLETED,
        started_at__lt=campaign.started_at,
        is_load_test=False,
    ).order_by("-started_at")[: settings.ALERT_TRAILING_CAMPAIGNS]
    rates = [campaign_stats(campaign=other)["rates"] for other in earlier]
    # A campaign without Delivery events yet, or without the open pixel, has no open rate to average.
    rates = [rate for rate in rates if rate["open"] is not None]
    if len(rates) < 2:
        return None  # Too little history to call anything a drop.
    return {kind: sum(rate[kind] or 0 for rate in rates) / len(rates) for kind in ("open", "click")}


def alerts_check(*, now: datetime | None = None) -> list[Alert]:
    """Look at recent campaigns and raise what needs a person: bounce and complaint rates over their
    limits, and open or click rates that fell well below the sender's trailing average."""
    from tracking.selectors import campaign_stats

    now = now or timezone.now()
    recent = Campaign.objects.filter(
        Q(status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED])
        | Q(completed_at__gte=now - timedelta(days=2)),
        started_at__isnull=False,
    ).order_by("pk")
    raised = []
    for campaign in recent:
        # Judged as the guard judges them, over every email SES took: a deleted contact's bounce counts.
        judged = campaigns_reputation_counts(campaign_ids=[campaign.pk])
        if judged.get("sent", 0) < settings.SES_REPUTATION_MIN_SENT:
            continue
        rates = campaign_rates(counts=judged)
        checks = [
            (Alert.Kind.BOUNCE_RATE, rates["bounce"], settings.SES_BOUNCE_RATE_LIMIT, "bounce"),
            (Alert.Kind.COMPLAINT_RATE, rates["complaint"], settings.SES_COMPLAINT_RATE_LIMIT, "complaint"),
        ]
        for kind, rate, limit, noun in checks:
            if rate is not None and rate > limit:
                sent = judged["sent"]
                shown, limit_shown = percent_beside(rate, limit, 2)
                message = (
                    f"“{campaign.name}”: {noun} rate {shown} over the {limit_shown} limit ({sent} sent)."
                )
                raised.append(
                    _alert_raise(campaign=campaign, kind=kind, value=rate, threshold=limit, message=message)
                )
        started_at = campaign.started_at  # Never None: the query asks for started campaigns.
        if started_at is None or now - started_at < timedelta(hours=settings.ALERT_ENGAGEMENT_AFTER_HOURS):
            continue  # Opens and clicks are still coming in.
        if campaign.is_load_test:
            continue  # Nobody opens a load test's mail: a drop would say nothing.
        trailing = _trailing_rates(campaign=campaign)
        if trailing is None:
            continue
        stats = campaign_stats(campaign=campaign)
        for kind, noun in ((Alert.Kind.OPEN_DROP, "open"), (Alert.Kind.CLICK_DROP, "click")):
            rate, usual = stats["rates"][noun], trailing[noun]
            if rate is None:
                continue  # Not measured: no Delivery or Send yet, or no open pixel.
            floor = usual * (1 - settings.ALERT_DROP_RATIO)
            if usual > 0 and rate < floor:
                shown, floor_shown = percent_beside(rate, floor)
                message = (
                    f"“{campaign.name}”: {noun} rate {shown} against {percent(usual)} on average "
                    f"over the sender's last campaigns (alert below {floor_shown}). "
                    "Deliverability or content?"
                )
                raised.append(
                    _alert_raise(campaign=campaign, kind=kind, value=rate, threshold=floor, message=message)
                )
    return [alert for alert in raised if alert is not None]
