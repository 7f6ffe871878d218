"""Celery tasks of tracking: thin wrappers around services."""

import logging
from datetime import timedelta

from celery import shared_task

from tracking import services

logger = logging.getLogger(__name__)


@shared_task(name="tracking.tasks.sns_message_apply", ignore_result=True)
def sns_message_apply(message_id: int) -> None:
    """Apply one stored SNS notification; one waiting for its ledger rows is retried by the sweep."""
    services.sns_message_apply(message_id=message_id)


@shared_task(name="tracking.tasks.sns_messages_sweep", ignore_result=True)
def sns_messages_sweep() -> None:
    """Apply stored notifications that are still unapplied (lost task, broker down, waiting rows)."""
    for message_id in services.sns_messages_pending(older_than=timedelta(seconds=30)):
        services.sns_message_apply(message_id=message_id)
