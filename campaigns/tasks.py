"""Celery tasks of campaigns: thin wrappers that load by id and call one service."""

import logging

from celery import shared_task

from campaigns import services
from campaigns.models import Campaign

logger = logging.getLogger(__name__)


@shared_task(name=services.RECUR_TASK, ignore_result=True)
def campaign_recur(campaign_id: int) -> None:
    """Start a run of a recurring campaign (its beat entry calls this); the tick then sends it."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        logger.warning("Recurring campaign %s no longer exists.", campaign_id)
        return
    run = services.campaign_run_create(campaign=campaign)
    if run is not None:
        logger.info("Campaign %s: run %s started.", campaign_id, run.pk)
