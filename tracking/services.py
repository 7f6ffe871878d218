"""Writes of tracking: what recipients do with their mail."""

from django.db import transaction
from django.utils import timezone

from campaigns import services as campaign_services
from delivery import tokens
from delivery.models import StepExecution
from tracking.models import TrackingEvent


def step_execution_by_unsubscribe_token(*, token: str) -> StepExecution | None:
    """Return the campaign row an unsubscribe token was signed for; None if tampered or unknown."""
    tracking_id = tokens.step_execution_token_read(token=token, purpose=tokens.UNSUBSCRIBE)
    if tracking_id is None:
        return None
    return (
        StepExecution.objects.filter(tracking_id=tracking_id, step__isnull=False)
        .select_related("contact")
        .first()
    )


@transaction.atomic
def step_execution_unsubscribe(*, execution: StepExecution, source: str) -> bool:
    """Unsubscribe the row's contact from marketing mail and record it once; return whether it was new.

    Idempotent: a repeated one-click POST (mail clients retry) changes nothing more.
    """
    _event, created = TrackingEvent.objects.get_or_create(
        event_id=f"unsubscribe:{execution.tracking_id}",
        defaults={
            "type": TrackingEvent.Type.UNSUBSCRIBE,
            "occurred_at": timezone.now(),
            "recipient": execution.email,
            "step_execution": execution,
            "raw": {"source": source},
        },
    )
    campaign_services.contact_unsubscribe(contact=execution.contact)
    return created
