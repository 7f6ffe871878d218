"""Unsubscribing: the signed link's page, one-click, leaving lists; each recorded once."""

from django.db import transaction
from django.utils import timezone

from campaigns.audience import contact_unsubscribe, list_remove_contacts
from campaigns.consent import ConsentActor
from campaigns.models import ConsentChange
from delivery import tokens
from delivery.models import StepExecution
from tracking.engagement import engagement_outcomes_add
from tracking.models import (
    TrackingEvent,
)


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
    created = _unsubscribe_event(execution=execution, raw={"source": source})
    actor = ConsentActor(
        by=ConsentChange.By.CONTACT,
        name=execution.email,
        via=ConsentChange.Via.ONE_CLICK if source == "one-click" else ConsentChange.Via.UNSUBSCRIBE_PAGE,
    )
    campaign = execution.campaign_step.campaign
    contact_unsubscribe(
        contact=execution.contact, actor=actor, reason=f"Unsubscribed from a mail of “{campaign.name}”."
    )
    return created


def _unsubscribe_event(*, execution: StepExecution, raw: dict) -> bool:
    """Record the row's unsubscribe once, whichever way it came; return whether it is new."""
    _event, created = TrackingEvent.objects.get_or_create(
        event_id=f"unsubscribe:{execution.tracking_id}",
        defaults={
            "type": TrackingEvent.Type.UNSUBSCRIBE,
            "occurred_at": timezone.now(),
            "recipient": execution.email,
            "step_execution": execution,
            "raw": raw,
        },
    )
    if created:
        engagement_outcomes_add(outcomes=[(execution.pk, "unsubscribed")])
    return created


def step_execution_leave_lists(*, execution: StepExecution) -> list[str]:
    """Take the row's contact off the lists its campaign was sent to; return their names.

    The contact stays subscribed to everything else. Recorded once, as an unsubscribe.
    """
    lists = list(execution.campaign_step.campaign.lists.all())
    with transaction.atomic():
        for contact_list in lists:
            list_remove_contacts(contact_list=contact_list, contact_ids=[execution.contact_id])
        lists_left = [contact_list.pk for contact_list in lists]
        _unsubscribe_event(execution=execution, raw={"source": "page", "scope": "lists", "lists": lists_left})
    return [contact_list.name for contact_list in lists]
