"""The reputation guard: pause campaigns whose hard-bounce or complaint rates run high."""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Count, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign, CampaignStep
from core.templatetags.campanile import percent_beside
from tracking import metrics
from tracking.engagement import FORGOTTEN_STEP, SES_TOOK_TYPES
from tracking.models import (
    TrackingEvent,
)
from tracking.outcomes import RATES, bounces_q, campaign_rates, complaints_q
from tracking.selectors import campaigns_outcome_counts

logger = logging.getLogger(__name__)


#: The rates the guard judges, with their limits' settings, in the words of a pause note.
GUARDED_RATES = (
    ("bounce", "hard bounces", "SES_BOUNCE_RATE_LIMIT"),
    ("complaint", "complaints", "SES_COMPLAINT_RATE_LIMIT"),
)


def reputation_problems(*, counts: dict[str, int]) -> list[str]:
    """Name each guarded rate of these counts over its limit, once enough was sent to judge.

    The rates are tracking.outcomes.campaign_rates': "bounce" is hard bounces over sent, as SES
    counts it. The alerts judge the same rates against the same limits.
    """
    sent = counts.get("sent", 0)
    if sent < settings.SES_REPUTATION_MIN_SENT:
        return []
    rates = campaign_rates(counts=counts)
    problems = []
    for rate, words, setting in GUARDED_RATES:
        limit = getattr(settings, setting)
        value = rates[rate]
        if value is not None and value > limit:
            shown, limit_shown = percent_beside(value, limit, 3)
            problems.append(f"{words} {shown} of {sent} sent (limit {limit_shown})")
    return problems


def _emails_counted(events: QuerySet[TrackingEvent], *, sent: Q | None) -> dict[str, int]:
    """Count the emails these SES events report sent (those matching `sent`, or all), hard-bounced
    and complained about: each email once, however many reports of it came (SES counts emails)."""
    # An email is one message to one recipient; an erased recipient's events all read "".
    email = Concat("ses_message_id", Value(" "), "recipient", output_field=CharField())
    return events.aggregate(
        sent=Count(email, distinct=True, filter=sent),
        bounced_hard=Count(email, distinct=True, filter=bounces_q(hard=True)),
        # A "not-spam" feedback report is no complaint (outcomes.complaints_q).
        complained=Count(email, distinct=True, filter=complaints_q()),
    )


def campaigns_reputation_counts(*, campaign_ids: Iterable[int]) -> dict[str, int]:
    """Return the summed counts of campaigns as SES judges them: their emails on record and those
    whose contacts were deleted since, with their bounces and complaints.

    The campaigns' own figures count the emails still on record (engagement_forget takes a deleted
    contact's out); SES, and so the guard, count every email sent. A deleted contact's emails are
    read from their SES events, which keep their step (engagement.FORGOTTEN_STEP).
    """
    ids = list(campaign_ids)
    counts: dict[str, int] = {}
    for campaign_counts in campaigns_outcome_counts(campaign_ids=ids).values():
        for key, value in campaign_counts.items():
            counts[key] = counts.get(key, 0) + value
    steps = list(CampaignStep.objects.filter(campaign_id__in=ids).values_list("pk", flat=True))
    # Unlinked events alone (the (step_execution, type) index finds them): a linked one is on record.
    forgotten = TrackingEvent.objects.filter(
        step_execution__isnull=True, type__in=SES_TOOK_TYPES, **{f"raw__{FORGOTTEN_STEP}__in": steps}
    )
    # Every one of them is of an email SES took: sent, as its ledger row was.
    for key, value in _emails_counted(forgotten, sent=None).items():
        counts[key] = counts.get(key, 0) + value
    return counts


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

    Over the last SES_REPUTATION_WINDOW_HOURS, the set's Send events are the mail sent, each email
    counted once (_emails_counted); its events stay when their contacts are deleted, as SES's count
    does. Return the ids of the campaigns paused.
    """
    since = (now or timezone.now()) - timedelta(hours=settings.SES_REPUTATION_WINDOW_HOURS)
    events = TrackingEvent.objects.filter(configuration_set=name, occurred_at__gte=since)
    problems = reputation_problems(counts=_emails_counted(events, sent=Q(type=TrackingEvent.Type.SEND)))
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
    before the account is reviewed. The counts are the step counters (each email once) and the
    ledger's tally of sent mail, which the event being applied has already added to, with the
    emails of contacts deleted since (campaigns_reputation_counts): SES still counts them.
    """
    if campaign.status != Campaign.Status.SENDING:
        return False
    problems = reputation_problems(counts=campaigns_reputation_counts(campaign_ids=[campaign.pk]))
    return bool(problems) and _campaign_pause_for_reputation(
        campaign=campaign, problems=problems, scope="this campaign", kind="campaign"
    )


# SES's own lines for an account's rates: at the first it puts the account under review, at the
# second it may pause the account's sending (SES's sending review process). The guard above pauses
# a campaign earlier, at its limits.
SES_REVIEW_LINES = {"bounce": (0.05, 0.10), "complaint": (0.001, 0.005)}


def sending_health(*, now: datetime, days: int = 30) -> dict:
    """Return the guarded rates of the campaigns started in the last `days` (load tests left out),
    each with its count, the guard's limit and SES's review and pause lines; their emails to
    contacts deleted since count, as they do for SES (campaigns_reputation_counts)."""
    ids = list(
        Campaign.objects.filter(started_at__gte=now - timedelta(days=days), is_load_test=False).values_list(
            "pk", flat=True
        )
    )
    counts = campaigns_reputation_counts(campaign_ids=ids)
    rates = campaign_rates(counts=counts)
    parts = {rate.name: rate.part for rate in RATES}
    return {
        "sent": counts.get("sent", 0),
        "campaigns": len(ids),
        "rates": [
            {
                "name": name,
                "words": words,
                "value": rates[name],
                "count": counts.get(parts[name], 0),
                "guard": getattr(settings, setting),
                "review": SES_REVIEW_LINES[name][0],
                "pause": SES_REVIEW_LINES[name][1],
            }
            for name, words, setting in GUARDED_RATES
        ],
    }
