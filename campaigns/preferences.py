"""A contact's own choices, made in the preference centre: the lists to stay on, a pause, a name.

The page is tracking's (behind every campaign email's unsubscribe link); what its choices change
is the audience's, here. Leaving everything is an unsubscribe (campaigns.consent).
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.consent import contact_hold, contact_save_keeping_consent
from campaigns.memberships import list_departures_record, list_remove_contacts
from campaigns.models import Contact, ContactBreak, ContactList, ListDeparture, Signup

#: The pauses a contact may choose, in days.
PAUSE_DAYS = (30, 90)


def contact_lists_shown(*, contact: Contact) -> QuerySet[ContactList]:
    """Return the lists a contact sees by name in their preferences: those they are on that are
    shown to contacts (a marketer's internal lists, and load tests', are not)."""
    return ContactList.objects.filter(
        memberships__contact=contact, shown_to_contacts=True, is_load_test=False
    ).order_by("name")


def contact_preferences_save(
    *, contact: Contact, shown_list_ids: set[int], keep_list_ids: set[int], first_name: str, last_name: str
) -> list[ContactList]:
    """Keep a contact on the lists their page showed (shown_list_ids) that they ticked, and take
    them off the others it showed; set their name as they typed it. Return the lists they left,
    which only they rejoin (ListDeparture). Lists they cannot see, or joined after the page was
    drawn, are left alone. Raises ObjectNotFound when the contact was deleted or erased meanwhile."""
    with transaction.atomic():
        contact_hold(contact)
        shown = list(contact_lists_shown(contact=contact))
        left = [item for item in shown if item.pk in shown_list_ids and item.pk not in keep_list_ids]
        for contact_list in left:
            list_remove_contacts(contact_list=contact_list, contact_ids=[contact.pk])
        list_departures_record(contact=contact, lists=left, via=ListDeparture.Via.PREFERENCES_PAGE)
        names = {"first_name": first_name.strip()[:150], "last_name": last_name.strip()[:150]}
        changed = {name: value for name, value in names.items() if getattr(contact, name) != value}
        if changed:
            contact_save_keeping_consent(contact=contact, values=changed)
    return left


@transaction.atomic
def contact_lists_leave(*, contact: Contact, lists: list[ContactList]) -> list[ContactList]:
    """Take a contact off the given lists at their own asking (the unsubscribe page's "leave
    these lists"); return those they were on, which only they rejoin (ListDeparture). Raises
    ObjectNotFound when the contact was deleted or erased meanwhile."""
    contact_hold(contact)
    left = [
        contact_list
        for contact_list in lists
        if list_remove_contacts(contact_list=contact_list, contact_ids=[contact.pk])
    ]
    list_departures_record(contact=contact, lists=left, via=ListDeparture.Via.UNSUBSCRIBE_PAGE)
    return left


def contact_pause(*, contact: Contact, days: int) -> datetime:
    """Pause a contact's marketing mail for one of PAUSE_DAYS; return when it resumes.

    Campaigns take a paused contact in, and skip each email that comes due meanwhile at its claim
    (campaigns.mailable): never sent late, and a drip goes on past it. Raises ObjectNotFound when
    the contact was deleted or erased meanwhile.
    """
    if days not in PAUSE_DAYS:
        raise ValueError(f"A pause lasts one of {PAUSE_DAYS} days, not {days}.")
    with transaction.atomic():
        contact_hold(contact)
        now = timezone.now()
        until = now + timedelta(days=days)
        # A break under way is changed in place, keeping its start; otherwise a new one begins.
        if not ContactBreak.objects.filter(contact=contact, ends_at__gt=now).update(ends_at=until):
            ContactBreak.objects.create(contact=contact, started_at=now, ends_at=until)
        Contact.objects.filter(pk=contact.pk).update(paused_until=until, updated_at=now)
    contact.paused_until = until
    return until


def contact_resume(*, contact: Contact) -> None:
    """End a contact's pause now: what fell due during it stays skipped, what comes now goes.

    Raises ObjectNotFound when the contact was deleted or erased meanwhile."""
    with transaction.atomic():
        contact_hold(contact)
        now = timezone.now()
        if not ContactBreak.objects.filter(contact=contact, ends_at__gt=now).update(ends_at=now):
            return
        Contact.objects.filter(pk=contact.pk).update(paused_until=now, updated_at=now)
    contact.paused_until = now


def contact_language(*, contact: Contact) -> str:
    """Return the language the contact's latest signup recorded, or "" when none did; only one the
    contact confirmed or a single opt-in form took counts: a stranger's signup says nothing."""
    taken = (Signup.Status.CONFIRMED, Signup.Status.ACCEPTED)
    recorded = Signup.objects.filter(contact=contact, status__in=taken).exclude(language="")
    recorded = recorded.order_by("-created_at")
    return recorded.values_list("language", flat=True).first() or ""
