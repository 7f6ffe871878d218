"""Load-test contacts made the marketer's own once a real writer touches them."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Q

from campaigns.models import Contact
from core.db import server_bound_cursor

# The load-test contacts among some, by id or address, made the marketer's. Arrays: a bulk's
# 10,000 addresses as placeholders cost more to build than the statement takes to run.
_LOAD_TEST_CLEAR = (
    "UPDATE {contacts} SET is_load_test = false "
    "WHERE is_load_test AND (id = ANY(%s::bigint[]) OR email = ANY(%s::text[]))"
)


def contacts_load_test_clear(*, contact_ids: Iterable[int] = (), emails: Iterable[str] = ()) -> int:
    """Make these contacts (by id or normalized address) the marketer's own, in one UPDATE; return
    how many were load-test contacts.

    A contact is load-test data only while only load tests touched it. The paths that write one for
    a real integration, visitor or staff member (a message through a key that is no load test's,
    the contacts API, imports, signups and their confirmations, the contact's admin page and the
    admin's adds to a list) call this in the transaction of their write, so the contact shows in
    the marketer's lists and segments, and `manage.py loadtest_cleanup` keeps it.
    """
    contact_ids, emails = list(contact_ids), list(emails)
    if not contact_ids and not emails:
        return 0
    if connection.vendor != "postgresql":
        chosen = Contact.objects.filter(Q(pk__in=contact_ids) | Q(email__in=emails), is_load_test=True)
        return chosen.update(is_load_test=False)
    with server_bound_cursor() as cursor:
        cursor.execute(_LOAD_TEST_CLEAR.format(contacts=Contact._meta.db_table), [contact_ids, emails])
        return cursor.rowcount
