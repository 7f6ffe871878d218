"""The reputation guard: pause campaigns whose hard-bounce or complaint rates run high."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign
from delivery.models import StepExecution
from tracking import metrics
from tracking.bounces import HARD
from tracking.models import (
    TrackingEvent,
)

logger = logging.getLogger(__name__)


def _reputation_problems(*, sent: int, hard: int, complaints: int) -> list[str]:
    """Name each rate over its limit, once `sent` is large enough to judge."""
    if sent < settings.SES_REPUTATION_MIN_SENT:
        return []
    return [
        f"{name} {count / sent:.3%} of {sent} sent (limit {limit:.3%})"
        for name, count, limit in (
            ("hard bounces", hard, settings.SES_BOUNCE_RATE_LIMIT),
            ("complaints", complaints, settings.SES_COMPLAINT_RATE_LIMIT),
        )
        if count / sent > limit
    ]


def _campaign_pause_for_reputation(*, campaign: Campaign, problems: list[str], scope: str, kind: str) -> bool:
    reasons = "; ".join(problems)
    note = f"Paused to protect the sender's reputation ({scope}): {reasons}. Check the list, then resume."
    try:
        campaign_services.campaign_pause(campaign=campaign, note=note[:300])
    except InvalidTransition:
        return False
    logger.error("Campaign %s: %s", campaign.pk, note)
    metrics.REPUTATION_PAUSES.inc(scope=kind)
    return True


def configuration_set_reputation_check(*, name: str, now: datetime | None = None) -> list[int]:
    """Pause the sending campaigns of a configuration set whose rates over the window crossed a limit.

    Over the last SES_REPUTATION_WINDOW_HOURS, the set's Send events are the mail sent; return the
    ids of the campaigns paused.
    """
    since = (now or timezone.now()) - timedelta(hours=settings.SES_REPUTATION_WINDOW_HOURS)
    events = TrackingEvent.objects.filter(configuration_set=name, occurred_at__gte=since)
    problems = _reputation_problems(
        sent=events.filter(type=TrackingEvent.Type.SEND).count(),
        hard=events.filter(type=TrackingEvent.Type.BOUNCE, kind=HARD).count(),
        complaints=events.filter(type=TrackingEvent.Type.COMPLAINT).count(),
    )
    if not problems:
        return []
    uses_set = Q(configuration_set=name)
    if name == settings.SES_CONFIGURATION_SET:
        uses_set |= Q(configuration_set="")
    sending = Campaign.objects.filter(uses_set, status=Campaign.Status.SENDING)
    scope = f"configuration set {name}, last {settings.SES_REPUTATION_WINDOW_HOURS} h"
    return [
        campaign.pk
        for campaign in sending
        if _campaign_pause_for_reputation(
            campaign=campaign, problems=problems, scope=scope, kind="configuration_set"
        )
    ]


def campaign_reputation_check(*, campaign: Campaign) -> bool:
    """Pause a sending campaign whose hard-bounce or complaint rate crossed its limit; return whether.

    The limits sit below SES's review lines (5% bounces, 0.1% complaints) so a bad list stops
    before the account is reviewed. Rates count recipients, over sent mail, once enough is sent.
    """
    if campaign.status != Campaign.Status.SENDING:
        return False
    sent = StepExecution.objects.filter(step__campaign=campaign, status=StepExecution.Status.SENT).count()
    if sent < settings.SES_REPUTATION_MIN_SENT:
        return False
    events = TrackingEvent.objects.filter(step_execution__step__campaign=campaign)
    problems = _reputation_problems(
        sent=sent,
        hard=events.filter(type=TrackingEvent.Type.BOUNCE, kind=HARD)
        .values("step_execution")
        .distinct()
        .count(),
        complaints=events.filter(type=TrackingEvent.Type.COMPLAINT)
        .values("step_execution")
        .distinct()
        .count(),
    )
    return bool(problems) and _campaign_pause_for_reputation(
        campaign=campaign, problems=problems, scope="this campaign", kind="campaign"
    )
