"""Who a campaign takes in and may mail: the definitions the fan-out, the dry run and a segment's
count share."""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Contact, Suppression


def mail_not_paused() -> Q:
    """Return the condition of a contact whose marketing mail is not paused now."""
    return Q(paused_until__isnull=True) | Q(paused_until__lte=timezone.now())


def contact_mail_paused(*, contact: Contact, due: datetime | None = None) -> bool:
    """Tell whether a contact asked for no marketing mail until a time still ahead, or, given
    when an email came `due`, until a time after it: an email due during a break is never sent
    after the break, however late it is made or claimed (workers down, a campaign paused)."""
    until = contact.paused_until
    return until is not None and (until > timezone.now() or (due is not None and due < until))


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
