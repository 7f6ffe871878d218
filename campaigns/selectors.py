"""Reads of the audience and campaigns."""

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from campaigns.models import (
    Campaign,
    ConsentChange,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    email_normalize,
)


def campaign_list_due(*, now: datetime) -> QuerySet[Campaign]:
    """Return scheduled campaigns whose time has come, oldest first; a recurring one sends by runs."""
    return Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED, scheduled_at__lte=now, recurrence=""
    ).order_by("scheduled_at")


def campaign_audience(*, campaign: Campaign, id_range: tuple[int, int] | None = None) -> QuerySet[Contact]:
    """Return the contacts a campaign may mail: on any of its lists, subscribed, not suppressed.

    EXISTS rather than a join keeps a contact on several lists to one row without a DISTINCT.
    id_range (after, through) limits it to contact ids in (after, through]; the limit is written
    into the membership check too, or the database would read every membership for each range.
    """
    on_lists = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list__campaigns=campaign)
    contacts = Contact.objects.all()
    if id_range is not None:
        after, through = id_range
        on_lists = on_lists.filter(contact_id__gt=after, contact_id__lte=through)
        contacts = contacts.filter(pk__gt=after, pk__lte=through)
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    return contacts.filter(Exists(on_lists), status=Contact.Status.SUBSCRIBED).exclude(Exists(suppressed))


def campaign_audience_breakdown(*, campaign: Campaign) -> dict[str, int]:
    """Count a campaign's audience and why each excluded contact is left out (a dry run)."""
    memberships = ListMembership.objects.filter(contact_list__campaigns=campaign)
    on_lists = Contact.objects.filter(Exists(memberships.filter(contact=OuterRef("pk"))))
    suppressed = Exists(Suppression.objects.filter(email=OuterRef("email")))
    counts = on_lists.aggregate(
        on_lists=Count("pk"),
        unsubscribed=Count("pk", filter=~Q(status=Contact.Status.SUBSCRIBED)),
        suppressed=Count("pk", filter=Q(status=Contact.Status.SUBSCRIBED) & Q(suppressed)),
    )
    counts["sendable"] = counts["on_lists"] - counts["unsubscribed"] - counts["suppressed"]
    counts["duplicates_collapsed"] = memberships.count() - counts["on_lists"]
    return counts


def preview_contact(*, campaign: Campaign, wanted: str = "") -> Contact | None:
    """Return the contact a preview renders for: the one asked for (by email or id), else the
    campaign's first sendable contact, else any contact on its lists."""
    wanted = wanted.strip()
    if wanted:
        lookup = (
            Q(email=email_normalize(wanted))
            if "@" in wanted
            else Q(pk=int(wanted) if wanted.isdigit() else 0)
        )
        return Contact.objects.filter(lookup).first()
    on_lists = Contact.objects.filter(lists__campaigns=campaign).order_by("pk")
    return campaign_audience(campaign=campaign).order_by("pk").first() or on_lists.first()


def contact_list_choices(*, campaign: Campaign | None = None) -> QuerySet[ContactList]:
    """Return the lists a marketer may give a campaign: no load test's, bar those it already has."""
    chosen = ContactList.objects.filter(campaigns=campaign).values("pk") if campaign and campaign.pk else []
    return ContactList.objects.filter(Q(is_load_test=False) | Q(pk__in=chosen))


def contact_consent_history(*, contact: Contact) -> QuerySet[ConsentChange]:
    """Return the contact's consent changes, newest first."""
    return ConsentChange.objects.filter(contact=contact).order_by("-at", "-pk")
