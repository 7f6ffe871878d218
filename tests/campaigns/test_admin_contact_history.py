"""A contact's History page says what changed in its related rows (the lists it joined, its signups)
only to who may see those rows."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from campaigns.models import Contact
from tests.campaigns.test_admin import _contact_form
from tests.campaigns.test_admin_contact_lists_seen import _viewer
from tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db


def _history(client, contact) -> str:
    answer = client.get(reverse("admin:campaigns_contact_history", args=[contact.pk]))
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_history_names_the_lists_a_contact_joined_on_its_page_only_to_who_may_see_memberships(
    admin_client,
):
    ada = ContactFactory(email="ada@example.com", first_name="Ada")
    secret = ContactListFactory(name="Rehab clinic patients")
    saved = admin_client.post(
        reverse("admin:campaigns_contact_change", args=[ada.pk]),
        _contact_form(ada, first_name="Augusta")
        | {"memberships-TOTAL_FORMS": "1", "memberships-0-contact_list": str(secret.pk)},
    )
    assert saved.status_code == 302
    client, user = _viewer()

    hidden = _history(client, ada)
    user.user_permissions.add(Permission.objects.get(codename="view_listmembership"))
    shown = _history(client, ada)

    assert "Rehab clinic patients" not in hidden
    assert "Changed First name" in hidden  # What the page itself changed is still said.
    assert "Changed memberships (hidden)." in hidden
    for page in (shown, _history(admin_client, ada)):
        assert "Rehab clinic patients" in page
        assert "(hidden)" not in page
    # The entry itself is kept as written.
    assert "Rehab clinic patients" in LogEntry.objects.get(object_id=str(ada.pk)).change_message


def test_the_history_hides_any_related_row_one_may_not_see_under_any_name_it_was_written_with(
    admin_client, admin_user
):
    ada = ContactFactory(email="ada@example.com")
    # Entries as Django wrote them: a membership before the model had its verbose name, and a signup.
    written = [
        {"added": {"name": "list membership", "object": "ada@example.com in Debt advice"}},
        {"deleted": {"name": "signup", "object": "ada@example.com on Gambling help"}},
        {"changed": {"name": "consent change", "object": "Asked by Relapse line", "fields": ["reason"]}},
    ]
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(ada.pk),
        object_repr=str(ada),
        action_flag=CHANGE,
        change_message=json.dumps(written),
    )
    client, user = _viewer()

    hidden = _history(client, ada)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_signup", "view_consentchange"]))
    partly = _history(client, ada)

    for secret in ("Debt advice", "Gambling help", "Relapse line"):
        assert secret not in hidden
        assert secret in _history(admin_client, ada)
    assert "Debt advice" not in partly
    assert "Gambling help" in partly
    assert "Relapse line" in partly
    assert "Changed memberships (hidden)." in partly
