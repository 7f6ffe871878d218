"""Celery tasks: thin wrappers that load by id and call one service."""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign
from delivery import services
from delivery.exceptions import SesRetryLater

logger = logging.getLogger(__name__)


@shared_task(name="delivery.tasks.campaigns_dispatch_due", ignore_result=True)
def campaigns_dispatch_due() -> None:
    """Run the periodic delivery tick (beat calls this) and start the send tasks it asks for."""
    for campaign_id in services.delivery_tick():
        campaign_send.delay(campaign_id)
    # A transactional row still pending a minute after its last change lost its task on the way.
    stale = timezone.now() - timedelta(seconds=settings.MESSAGE_REQUEUE_AFTER_SECONDS)
    for execution_id in services.message_list_stalled(older_than=stale):
        message_send.delay(execution_id)


@shared_task(name="delivery.tasks.campaign_send", ignore_result=True)
def campaign_send(campaign_id: int) -> None:
    """Send a campaign for one time budget, then hand over to a fresh task if work remains.

    Running twice at once is harmless: both claim disjoint rows from the ledger.
    """
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        logger.warning("Campaign %s no longer exists; nothing to send.", campaign_id)
        return
    if services.campaign_send(campaign=campaign, budget_seconds=settings.SEND_TASK_BUDGET_SECONDS):
        campaign_send.delay(campaign_id)


@shared_task(bind=True, name="delivery.tasks.message_send", ignore_result=True, max_retries=None)
def message_send(self, execution_id: int) -> None:
    """Send one transactional message; when SES says "later", retry with backoff and jitter.

    The row goes back to pending first, so a retry that never comes is picked up by the tick.
    """
    try:
        services.message_deliver(execution_id=execution_id)
    except SesRetryLater as exc:
        countdown = min(300, 2 ** min(self.request.retries, 8)) + random.uniform(0, 1)  # noqa: S311
        raise self.retry(exc=exc, countdown=countdown) from exc
