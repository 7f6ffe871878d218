"""Celery tasks: thin wrappers that load by id and call one service."""

import logging

from celery import shared_task
from django.conf import settings

from delivery import services

logger = logging.getLogger(__name__)


@shared_task(name="delivery.tasks.campaigns_dispatch_due", ignore_result=True)
def campaigns_dispatch_due() -> None:
    """Run the periodic delivery tick (beat calls this) and start the send tasks it asks for."""
    for campaign_id in services.delivery_tick():
        campaign_send.delay(campaign_id)


@shared_task(name="delivery.tasks.campaign_send", ignore_result=True)
def campaign_send(campaign_id: int) -> None:
    """Send a campaign for one time budget, then hand over to a fresh task if work remains.

    Running twice at once is harmless: both claim disjoint rows from the ledger.
    """
    if services.delivery_round(campaign_id=campaign_id, budget_seconds=settings.SEND_TASK_BUDGET_SECONDS):
        campaign_send.delay(campaign_id)


@shared_task(name="delivery.tasks.messages_dispatch", ignore_result=True)
def messages_dispatch() -> None:
    """Send pending transactional messages in batches (beat calls this every second or so).

    Several of these may run at once on different workers: they claim disjoint rows.
    """
    services.delivery_round(campaign_id=None, budget_seconds=settings.SEND_TASK_BUDGET_SECONDS)
