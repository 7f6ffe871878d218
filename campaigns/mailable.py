"""Who a campaign takes in and may mail: the definitions the fan-out, the dry run and a segment's
count share."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Contact, Suppression


def mail_not_paused() -> Q:
    """Return the condition of a contact whose marketing mail is not paused now."""
    return Q(paused_until__isnull=True) | Q(paused_until__lte=timezone.now())


def contact_mail_paused(*, contact: Contact) -> bool:
    """Tell whether a contact asked for no marketing mail until a time still ahead."""
    return contact.paused_until is not None and contact.paused_until > timezone.now()


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
