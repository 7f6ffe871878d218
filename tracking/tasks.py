"""Celery tasks of tracking: thin wrappers around services."""

from celery import shared_task
from django.conf import settings

from tracking import services


@shared_task(name="tracking.tasks.sns_messages_apply", ignore_result=True)
def sns_messages_apply() -> None:
    """Apply stored SNS notifications (beat calls this every SNS_APPLY_SECONDS).

    Several at once on different workers are fine: each message is taken under SKIP LOCKED.
    """
    services.sns_messages_apply(budget_seconds=settings.SNS_APPLY_BUDGET_SECONDS)
