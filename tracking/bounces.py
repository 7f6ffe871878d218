"""Bounce classes and their consequences for an address: suppression at once, or after a streak."""

import logging
import re

from django.conf import settings

from campaigns.models import Suppression
from campaigns.suppressions import suppression_add
from tracking.events import SesEvent
from tracking.models import (
    SoftBounceStreak,
    TrackingEvent,
)

logger = logging.getLogger(__name__)

# SMTP status classes: 5.x.x is permanent whatever SES calls the bounce; 5.7.x is a policy or
# reputation block, about the sender rather than the address.
_PERMANENT_STATUS = re.compile(r"5\.\d{1,3}\.\d{1,3}")

_BLOCK_STATUS = re.compile(r"5\.7\.\d{1,3}")

HARD, SOFT, BLOCK, ACCOUNT_SUPPRESSED = "hard", "soft", "block", "account_suppressed"


def bounce_classify(*, event: SesEvent) -> str:
    """Return how a bounce counts for its address: hard, soft, block or account_suppressed."""
    if event.bounce_subtype == "OnAccountSuppressionList":
        return ACCOUNT_SUPPRESSED
    if _BLOCK_STATUS.fullmatch(event.status):
        return BLOCK
    if event.bounce_type == "Permanent" or _PERMANENT_STATUS.fullmatch(event.status):
        return HARD
    return SOFT


def recipient_suppress(*, event: SesEvent, reason: str, detail: str) -> None:
    _row, created = suppression_add(
        email=event.recipient, reason=reason, source=Suppression.Source.SES, detail=detail
    )
    if created:
        logger.info("%s suppressed: %s (%s).", event.recipient, reason, detail)


def soft_bounce_record(*, event: SesEvent) -> None:
    """Count one soft bounce of an address towards its streak, once per email.

    SES may report one bounce twice under two SNS messages (an event destination and an identity
    notification on one topic, or SES's own repeat): those are two events of one email.
    """
    if event.ses_message_id and (
        TrackingEvent.objects.filter(
            type=TrackingEvent.Type.BOUNCE, recipient=event.recipient, ses_message_id=event.ses_message_id
        ).count()
        > 1
    ):
        return
    streak, _ = SoftBounceStreak.objects.select_for_update().get_or_create(email=event.recipient)
    streak.count += 1
    streak.save(update_fields=["count", "updated_at"])
    if streak.count >= settings.SES_SOFT_BOUNCE_LIMIT:
        detail = f"{streak.count} soft bounces in a row; last: {event.status} {event.diagnostic}".strip()
        recipient_suppress(event=event, reason=Suppression.Reason.SOFT_BOUNCE, detail=detail[:500])
