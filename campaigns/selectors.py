"""Reads of the audience and campaigns."""

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import Campaign, Contact, ListMembership, Suppression


def campaign_list_due(*, now: datetime) -> QuerySet[Campaign]:
    """Return scheduled campaigns whose time has come, oldest first."""
    return Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now).order_by(
        "scheduled_at"
    )


def campaign_audience(*, campaign: Campaign) -> QuerySet[Contact]:
    """Return the contacts a campaign may mail: on any of its lists, subscribed, not suppressed.

    EXISTS rather than a join keeps a contact on several lists to one row without a DISTINCT.
    """
    on_lists = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list__campaigns=campaign)
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    return Contact.objects.filter(Exists(on_lists), status=Contact.Status.SUBSCRIBED).exclude(
        Exists(suppressed)
    )


def contact_is_sendable(*, contact: Contact) -> bool:
    """Return whether a contact may be mailed right now (subscribed and not suppressed)."""
    if contact.status != Contact.Status.SUBSCRIBED:
        return False
    return not Suppression.objects.filter(email=contact.email).exists()
