"""Who a campaign takes in and may mail: the definitions the fan-out, the dry run and a segment's
count share."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Contact, ContactBreak, Suppression


def mail_not_paused() -> Q:
    """Return the condition of a contact whose marketing mail is not paused now."""
    return Q(paused_until__isnull=True) | Q(paused_until__lte=timezone.now())


def contact_mail_paused(*, contact: Contact) -> bool:
    """Tell whether a contact is taking a break from marketing mail now."""
    return contact.paused_until is not None and contact.paused_until > timezone.now()


def contacts_mail_paused(*, dues: Iterable[tuple[Contact, datetime]]) -> list[bool]:
    """Tell, for each (contact, when an email to them fell due), whether the email is one to skip:
    the contact is on a break now, or was on any break when it fell due. Such an email is never
    sent after the break, however late it is made or claimed (workers down, a campaign paused),
    however the break ended, and whatever breaks came since."""
    dues = list(dues)
    now = timezone.now()
    rested = [(contact.pk, due) for contact, due in dues if contact.paused_until is not None]
    breaks: dict[int, list[tuple[datetime, datetime]]] = {}
    if rested:
        # Only breaks ending after the earliest due date can hold any of these emails.
        earliest = min(due for _pk, due in rested)
        taken = ContactBreak.objects.filter(contact_id__in={pk for pk, _due in rested}, ends_at__gt=earliest)
        for contact_id, start, end in taken.values_list("contact_id", "started_at", "ends_at"):
            breaks.setdefault(contact_id, []).append((start, end))
    return [
        (contact.paused_until is not None and contact.paused_until > now)
        or any(start <= due < end for start, end in breaks.get(contact.pk, ()))
        for contact, due in dues
    ]


def contacts_enrollable(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Return those of contacts a campaign takes in: subscribed, not suppressed.

    One taking a break is taken in too: each email that comes due during the break is skipped at
    its claim, so a drip goes on past it and its later steps reach them once the break is over.
    """
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    return contacts.filter(status=Contact.Status.SUBSCRIBED).exclude(Exists(suppressed))


def contacts_mailable(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Return those of contacts a campaign may mail now: taken in, and not taking a break."""
    return contacts_enrollable(contacts).filter(mail_not_paused())
