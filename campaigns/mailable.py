"""Who a campaign may mail: the one definition the fan-out, the dry run and a segment's count share."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Contact, Suppression


def mail_not_paused() -> Q:
    """Return the condition of a contact whose marketing mail is not paused now."""
    return Q(paused_until__isnull=True) | Q(paused_until__lte=timezone.now())


def contact_mail_paused(*, contact: Contact) -> bool:
    """Tell whether a contact asked for no marketing mail until a time still ahead."""
    return contact.paused_until is not None and contact.paused_until > timezone.now()


def contacts_mailable(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """Return those of contacts a campaign may mail: subscribed, not taking a break, not suppressed."""
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    return contacts.filter(mail_not_paused(), status=Contact.Status.SUBSCRIBED).exclude(Exists(suppressed))
