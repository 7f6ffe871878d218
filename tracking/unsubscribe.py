"""Unsubscribing: the signed link's page, one-click, leaving lists; each recorded once."""

from django.db import transaction
from django.utils import timezone

from campaigns import preferences
from campaigns.consent import ConsentActor, contact_hold, contact_unsubscribe
from campaigns.erasure import address_erasure
from campaigns.models import ConsentChange, Contact, ContactList, Suppression, email_normalize
from campaigns.suppressions import suppression_add
from delivery import ledger as delivery_ledger
from delivery import tokens
from delivery.models import StepExecution
from tracking.engagement import engagement_outcomes_add
from tracking.models import (
    TrackingEvent,
)


def step_execution_by_unsubscribe_token(*, token: str) -> tuple[StepExecution | None, str] | None:
    """Return the campaign row an unsubscribe token was signed for, and its address; None if the
    token is tampered, or names no row and carries no address (made before addresses rode along).

    A row goes with its contact when the contact is deleted: the address the token carries is
    then what its reader unsubscribes (address_unsubscribe).
    """
    read = tokens.unsubscribe_token_read(token)
    if read is None:
        return None
    tracking_id, email = read
    row = (
        StepExecution.objects.filter(tracking_id=tracking_id, step__isnull=False)
        .select_related("contact")
        .first()
    )
    if row is None and not email:
        return None
    # The address the mail went to: the token's, or for a token made before it rode along, the row's.
    return row, email or (row.email if row is not None else "")


def address_subscribed(*, email: str) -> bool:
    """Tell whether mail of a deleted contact's link may still reach its address: the contact of
    that address now is subscribed, or, with none, no suppression stops it."""
    contact = Contact.objects.filter(email=email_normalize(email)).first()
    if contact is not None:
        return contact.status == Contact.Status.SUBSCRIBED
    if address_erasure(email=email) is not None:
        return False  # Erased: no campaign mails it.
    return not Suppression.objects.filter(email=email_normalize(email)).exists()


@transaction.atomic
def address_unsubscribe(*, email: str, source: str) -> None:
    """Unsubscribe an address whose mail's row is gone with its contact: a contact of that address
    now (created again since) is unsubscribed; with none, the address is kept as an `unsubscribe`
    suppression, as deleting a contact who had unsubscribed keeps it. Idempotent."""
    actor = ConsentActor(
        by=ConsentChange.By.CONTACT,
        name=email,
        via=ConsentChange.Via.ONE_CLICK if source == "one-click" else ConsentChange.Via.UNSUBSCRIBE_PAGE,
    )
    reason = "Unsubscribed from a mail sent before its contact was deleted."
    contact = Contact.objects.filter(email=email_normalize(email)).first()
    if contact is not None:
        contact_unsubscribe(contact=contact, actor=actor, reason=reason)
    else:
        suppression_add(
            email=email,
            reason=Suppression.Reason.UNSUBSCRIBE,
            source=Suppression.Source.TRACKING,
            detail=reason,
        )


@transaction.atomic
def step_execution_unsubscribe(*, execution: StepExecution, source: str) -> bool:
    """Unsubscribe the row's contact from marketing mail and record it once; return whether it was new.

    Counted only when it changes something: one who had unsubscribed already (through another
    email, the API, staff) did not leave because of this one. Idempotent: a repeated one-click
    POST (mail clients retry) changes nothing more. Raises ObjectNotFound when the contact was
    deleted or erased meanwhile.
    """
    stored = contact_hold(execution.contact) if execution.contact is not None else None
    if stored is None or stored.status == Contact.Status.UNSUBSCRIBED:
        # Erased, or gone already: nothing changes. The link is the email's own, though: SES took it.
        delivery_ledger.step_executions_seen(execution_ids=[execution.pk])
        return False
    created = _unsubscribe_event(execution=execution, raw={"source": source})
    actor = ConsentActor(
        by=ConsentChange.By.CONTACT,
        name=execution.email,
        via=ConsentChange.Via.ONE_CLICK if source == "one-click" else ConsentChange.Via.UNSUBSCRIBE_PAGE,
    )
    campaign = execution.campaign_step.campaign
    contact_unsubscribe(
        contact=execution.addressee, actor=actor, reason=f"Unsubscribed from a mail of “{campaign.name}”."
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
        # The unsubscribe link is the email's own: SES took it, so an `unknown` row is sent.
        delivery_ledger.step_executions_seen(execution_ids=[execution.pk])
        engagement_outcomes_add(outcomes=[(execution.pk, "unsubscribed")])
    return created


def step_execution_leave_lists(*, execution: StepExecution) -> list[str]:
    """Take the row's contact off the lists its campaign was sent to; return the names of those
    shown to contacts.

    The contact stays subscribed to everything else. Recorded once, as an unsubscribe, when it took
    them off a list. Raises ObjectNotFound when the contact was deleted or erased meanwhile.
    """
    lists = list(execution.campaign_step.campaign.lists.all())
    with transaction.atomic():
        left = [item.pk for item in preferences.contact_lists_leave(contact=execution.addressee, lists=lists)]
        if left:
            _unsubscribe_event(execution=execution, raw={"source": "page", "scope": "lists", "lists": left})
    # Named as the contact may see them: a list kept from contacts is left, not named.
    return [contact_list.name for contact_list in lists if contact_list.shown_to_contacts]


def step_execution_preferences_save(
    *,
    execution: StepExecution,
    shown_list_ids: set[int],
    keep_list_ids: set[int],
    first_name: str,
    last_name: str,
) -> list[ContactList]:
    """Save the choices the row's contact made on its preference page; return the lists they left.

    Leaving a list there is recorded as this email's unsubscribe, once, as leaving from its button.
    Raises ObjectNotFound when the contact was deleted or erased meanwhile.
    """
    with transaction.atomic():
        left = preferences.contact_preferences_save(
            contact=execution.addressee,
            shown_list_ids=shown_list_ids,
            keep_list_ids=keep_list_ids,
            first_name=first_name,
            last_name=last_name,
        )
        if left:
            raw = {"source": "page", "scope": "lists", "lists": [contact_list.pk for contact_list in left]}
            _unsubscribe_event(execution=execution, raw=raw)
    return left
