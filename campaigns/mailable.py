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
    """Tell whether a contact is taking a break from marketing mail now, or, given when an email
    came `due`, was when it came due: an email due during a break is never sent after it, however
    late it is made or claimed (workers down, a campaign paused) or however the break ended."""
    until, start = contact.paused_until, contact.paused_at
    if until is None:
        return False
    if until > timezone.now():
        return True
    return due is not None and due < until and (start is None or start <= due)


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
