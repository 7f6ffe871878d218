"""Who is on which list: adding and removing members, by address or id, in set-based statements.

A list a contact left themselves (ListDeparture) is rejoined only by the contact: list_add_contacts
leaves them off it unless `rejoin` says the contact asked (a signup they confirmed).
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import ngettext

from campaigns.models import Contact, ContactList, ListDeparture, ListMembership
from core.text import grouped

# Memberships of the given contacts in the given lists, but of lists they left, in one statement.
_LIST_ADD = (
    "INSERT INTO {members} (contact_list_id, contact_id, created_at) "
    "SELECT l.id, c.id, %s FROM {contacts} c CROSS JOIN unnest(%s::bigint[]) AS l(id) "
    "WHERE (c.email = ANY(%s) OR c.id = ANY(%s)) AND NOT EXISTS ("
    "SELECT 1 FROM {departures} d WHERE d.contact_id = c.id AND d.contact_list_id = l.id) "
    "ON CONFLICT (contact_list_id, contact_id) DO NOTHING RETURNING contact_list_id, contact_id"
)

# The rows just added whose contact has left that list meanwhile: see list_add_contacts.
_LIST_ADD_UNDO = (
    "DELETE FROM {members} m USING unnest(%s::bigint[], %s::bigint[]) AS a(list_id, contact_id), "
    "{departures} d WHERE m.contact_list_id = a.list_id AND m.contact_id = a.contact_id "
    "AND d.contact_list_id = a.list_id AND d.contact_id = a.contact_id"
)


# Of the given contacts, who left which of the given lists (arrays: 10,000 placeholders cost more
# to build than the query takes to run).
_KEPT_OFF = (
    "SELECT d.contact_id, c.email, d.contact_list_id FROM {departures} d "
    "JOIN {contacts} c ON c.id = d.contact_id "
    "WHERE d.contact_list_id = ANY(%s) AND (c.email = ANY(%s) OR c.id = ANY(%s)) "
    "ORDER BY d.contact_id, d.contact_list_id"
)


def list_add_contacts(*, list_ids, emails=(), contact_ids=(), rejoin: bool = False) -> int:
    """Add contacts (by email or id) to lists; return how many memberships are new.

    A contact is left off a list they left themselves (contacts_kept_off_lists says whom), unless
    `rejoin`: the contact asked to be on these lists (a signup they confirmed), which also forgets
    that they had left them.
    """
    list_ids, emails, contact_ids = list(list_ids), list(emails), list(contact_ids)
    if rejoin:
        ListDeparture.objects.filter(
            Q(contact__email__in=emails) | Q(contact_id__in=contact_ids), contact_list_id__in=list_ids
        ).delete()
    if connection.vendor == "postgresql":
        tables = {
            "members": ListMembership._meta.db_table,
            "contacts": Contact._meta.db_table,
            "departures": ListDeparture._meta.db_table,
        }
        with connection.cursor() as cursor:
            cursor.execute(_LIST_ADD.format(**tables), [timezone.now(), list_ids, emails, contact_ids])
            added = cursor.fetchall()
            if not added:
                return 0
            # A contact leaving meanwhile deletes their membership before recording the departure,
            # in one transaction this statement's snapshot did not see: the insert waited on that
            # row's delete, then went in. A new statement sees the departure, and takes it back out.
            columns = [[list_id for list_id, _contact in added], [contact for _list_id, contact in added]]
            cursor.execute(_LIST_ADD_UNDO.format(**tables), columns)
            return len(added) - cursor.rowcount
    given = Contact.objects.filter(Q(email__in=emails) | Q(pk__in=contact_ids))
    contacts = list(given.values_list("pk", flat=True))
    pairs = {"contact_list_id__in": list_ids, "contact_id__in": contacts}
    existing = set(ListMembership.objects.filter(**pairs).values_list("contact_list_id", "contact_id"))
    existing |= set(ListDeparture.objects.filter(**pairs).values_list("contact_list_id", "contact_id"))
    memberships = [
        ListMembership(contact_list_id=list_id, contact_id=contact_id)
        for contact_id in contacts
        for list_id in list_ids
        if (list_id, contact_id) not in existing
    ]
    # ignore_conflicts covers a concurrent add of the same membership.
    ListMembership.objects.bulk_create(memberships, batch_size=2000, ignore_conflicts=True)
    return len(memberships)


def contacts_kept_off_lists(*, list_ids, emails=(), contact_ids=()) -> dict[int, tuple[str, list[int]]]:
    """Return, of the given contacts (by email or id), those who left some of these lists
    themselves, which list_add_contacts keeps them off: {contact id: (email, [list ids])}."""
    list_ids, emails, contact_ids = list(list_ids), list(emails), list(contact_ids)
    if connection.vendor == "postgresql":
        tables = {"contacts": Contact._meta.db_table, "departures": ListDeparture._meta.db_table}
        with connection.cursor() as cursor:
            cursor.execute(_KEPT_OFF.format(**tables), [list_ids, emails, contact_ids])
            rows = cursor.fetchall()
    else:
        departures = ListDeparture.objects.filter(
            Q(contact__email__in=emails) | Q(contact_id__in=contact_ids), contact_list_id__in=list_ids
        ).order_by("contact_id", "contact_list_id")
        rows = list(departures.values_list("contact_id", "contact__email", "contact_list_id"))
    kept: dict[int, tuple[str, list[int]]] = {}
    for contact_id, email, list_id in rows:
        kept.setdefault(contact_id, (email, []))[1].append(list_id)
    return kept


def contacts_kept_off(*, contact_list: ContactList, emails=(), contact_ids=()) -> tuple[list[str], list[int]]:
    """Return the emails and contact ids, of these, whose contact left the list themselves (so
    list_add_contacts keeps them off it), each once, in order."""
    kept = contacts_kept_off_lists(list_ids=[contact_list.pk], emails=emails, contact_ids=contact_ids)
    kept_emails = {email for email, _lists in kept.values()}
    return (
        [email for email in dict.fromkeys(emails) if email in kept_emails],
        [pk for pk in dict.fromkeys(contact_ids) if pk in kept],
    )


def kept_off_message(count: int) -> str:
    """Say, to staff, that `count` contacts stayed off a list because they had left it themselves."""
    said = ngettext(
        "%(n)s contact stayed off: they left the list themselves, in their email preferences, and "
        "only they can rejoin it (through a signup form whose email they confirm).",
        "%(n)s contacts stayed off: they left the list themselves, in their email preferences, and "
        "only they can rejoin it (through a signup form whose email they confirm).",
        count,
    )
    return said % {"n": grouped(count)}


def list_departures_record(*, contact: Contact, lists: Iterable[ContactList], via: str) -> None:
    """Note that a contact left these lists themselves, now: only they rejoin them (list_add_contacts)."""
    now = timezone.now()
    ListDeparture.objects.bulk_create(
        [ListDeparture(contact=contact, contact_list=item, left_at=now, via=via) for item in lists],
        update_conflicts=True,
        unique_fields=["contact", "contact_list"],
        update_fields=["left_at", "via"],
    )


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
