"""Who is on which list: adding and removing members, by address or id, in set-based statements."""

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Contact, ContactList, ListMembership

# Memberships of the contacts with the given emails or ids in the given lists, in one statement.
_LIST_ADD = (
    "INSERT INTO {members} (contact_list_id, contact_id, created_at) "
    "SELECT l.id, c.id, %s FROM {contacts} c CROSS JOIN unnest(%s::bigint[]) AS l(id) "
    "WHERE c.email = ANY(%s) OR c.id = ANY(%s) ON CONFLICT (contact_list_id, contact_id) DO NOTHING"
)


def list_add_contacts(*, list_ids, emails=(), contact_ids=()) -> int:
    """Add contacts (by email or id) to lists; return how many memberships are new."""
    if connection.vendor == "postgresql":
        tables = {"members": ListMembership._meta.db_table, "contacts": Contact._meta.db_table}
        with connection.cursor() as cursor:
            cursor.execute(
                _LIST_ADD.format(**tables), [timezone.now(), list(list_ids), list(emails), list(contact_ids)]
            )
            return cursor.rowcount
    contacts = list(
        Contact.objects.filter(Q(email__in=list(emails)) | Q(pk__in=list(contact_ids))).values_list(
            "pk", flat=True
        )
    )
    existing = set(
        ListMembership.objects.filter(contact_list_id__in=list_ids, contact_id__in=contacts).values_list(
            "contact_list_id", "contact_id"
        )
    )
    memberships = [
        ListMembership(contact_list_id=list_id, contact_id=contact_id)
        for contact_id in contacts
        for list_id in list_ids
        if (list_id, contact_id) not in existing
    ]
    # ignore_conflicts covers a concurrent add of the same membership.
    ListMembership.objects.bulk_create(memberships, batch_size=2000, ignore_conflicts=True)
    return len(memberships)


def contacts_not_found(*, emails=(), contact_ids=()) -> tuple[list[str], list[int]]:
    """Return the emails and contact ids, of these, that no contact has, each once, in order."""
    found_emails = set(Contact.objects.filter(email__in=list(emails)).values_list("email", flat=True))
    found_ids = set(Contact.objects.filter(pk__in=list(contact_ids)).values_list("pk", flat=True))
    return (
        [email for email in dict.fromkeys(emails) if email not in found_emails],
        [pk for pk in dict.fromkeys(contact_ids) if pk not in found_ids],
    )


def list_remove_contacts(*, contact_list: ContactList, emails=(), contact_ids=()) -> int:
    """Remove contacts (by email or id) from a list; return how many memberships went."""
    deleted, _ = ListMembership.objects.filter(
        Q(contact__email__in=list(emails)) | Q(contact_id__in=list(contact_ids)), contact_list=contact_list
    ).delete()
    return deleted
