"""Which lists a contact is on, or left, is shown in the admin only to who may see list memberships."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from campaigns.imports import mapping_by_name
from tests.factories import ContactFactory, ContactListFactory, ListDepartureFactory, ListMembershipFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db


def _viewer():
    """Return a client of a staff member who may see contacts, and the user, who may not see lists."""
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    return client, user


def _sees_lists(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="view_listmembership"))


def _on_a_secret_list():
    ada = ContactFactory(email="ada@example.com")
    ListMembershipFactory(contact=ada, contact_list=ContactListFactory(name="Rehab clinic patients"))
    ListDepartureFactory(contact=ada, contact_list=ContactListFactory(name="Debt advice"))
    ContactFactory(email="bob@example.com")
    return ada


def _export(client, contacts) -> list[list[str]]:
    data = {"action": "export_csv", "_selected_action": [contact.pk for contact in contacts]}
    response = client.post(reverse("admin:campaigns_contact_changelist"), data)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_names_a_contacts_lists_only_to_who_may_see_memberships():
    ada = _on_a_secret_list()
    client, user = _viewer()

    without = _export(client, [ada])
    _sees_lists(user)
    with_them = _export(client, [ada])

    assert "lists" not in without[0]
    assert "Rehab clinic patients" not in str(without)
    assert dict(zip(with_them[0], with_them[1], strict=True))["lists"] == "Rehab clinic patients"
    # Either file imports back: the columns it has map to what they held, the lists to nothing.
    for header in (without[0], with_them[0]):
        targets = {
            name: column["target"] for name, column in zip(header, mapping_by_name(header), strict=True)
        }
        assert (targets["email"], targets.get("lists", "skip")) == ("email", "skip")


def test_the_contact_page_shows_its_lists_and_those_it_left_only_to_who_may_see_memberships():
    ada = _on_a_secret_list()
    client, user = _viewer()
    url = reverse("admin:campaigns_contact_change", args=[ada.pk])

    page = client.get(url).content.decode().lower()
    _sees_lists(user)
    again = client.get(url).content.decode().lower()

    assert page.count("ada@example.com") >= 1  # The contact itself is shown.
    for shown in ("rehab clinic patients", "debt advice", "lists they left themselves"):
        assert shown not in page
        assert shown in again


def test_the_contact_list_filters_by_list_only_for_who_may_see_memberships():
    ada = _on_a_secret_list()
    secret = ada.lists.get()
    client, user = _viewer()
    changelist = reverse("admin:campaigns_contact_changelist")

    sidebar = client.get(changelist).content.decode()
    typed = [
        client.get(changelist, {"lists__id__exact": secret.pk}),
        client.get(changelist, {"lists__id__exact": secret.pk, "q": "bob"}),
        client.get(changelist, {"lists__name__icontains": "rehab"}),
        client.get(changelist, {"memberships__contact_list_id": secret.pk}),
        client.get(changelist, {"list_departures__left_at__gte": "2000-01-01"}),
    ]

    assert "Rehab clinic patients" not in sidebar
    # Refused by the site, as any filter through rows one may not see: back to the plain list.
    assert [(answer.status_code, answer["Location"]) for answer in typed] == [(302, changelist)] * len(typed)
    assert all(b"bob@example.com" not in answer.content for answer in typed)
    _sees_lists(user)
    assert "Rehab clinic patients" in client.get(changelist).content.decode()
    filtered = client.get(changelist, {"lists__id__exact": secret.pk}).content.decode()
    assert "ada@example.com" in filtered
    assert "bob@example.com" not in filtered


def test_deleting_a_contact_names_the_lists_it_is_on_or_left_only_to_who_may_see_memberships():
    ada = _on_a_secret_list()
    client, user = _viewer()
    user.user_permissions.add(Permission.objects.get(codename="delete_contact"))
    url = reverse("admin:campaigns_contact_delete", args=[ada.pk])

    asked = client.get(url)
    _sees_lists(user)
    again = client.get(url).content.decode()

    assert asked.status_code == 200
    assert "ada@example.com" in asked.content.decode()
    for shown in ("Rehab clinic patients", "Debt advice"):
        assert shown not in asked.content.decode()
        assert shown in again


def _signed_up_and_unsubscribed():
    """Return a contact with a signup and a consent history, beside one with neither."""
    from campaigns.admin_contacts import staff_actor
    from campaigns.consent import contacts_unsubscribe
    from campaigns.models import Contact, Signup

    ada = ContactFactory(email="ada@example.com")
    ContactFactory(email="bob@example.com")
    Signup.objects.create(form_name="Footer", email=ada.email, consent_text="Yes", contact=ada)
    staff = User.objects.create_user(username="staff", is_staff=True)
    request = type("Request", (), {"user": staff})()
    contacts_unsubscribe(
        contacts=Contact.objects.filter(pk=ada.pk), actor=staff_actor(request), reason="Asked."
    )
    return ada


def test_the_contact_list_filters_through_signups_and_consent_history_only_for_who_may_see_them(
    admin_client,
):
    _signed_up_and_unsubscribed()
    client, user = _viewer()
    changelist = reverse("admin:campaigns_contact_changelist")
    typed = [{"signups__isnull": "False"}, {"consent_changes__isnull": "False"}]

    refused = [client.get(changelist, query) for query in typed]
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_signup", "view_consentchange"]))
    allowed = [client.get(changelist, query).content.decode() for query in typed]
    by_an_admin = [admin_client.get(changelist, query).content.decode() for query in typed]

    assert [answer.status_code for answer in refused] == [302] * len(typed)  # Back to the plain list.
    assert all(b"ada@example.com" not in answer.content for answer in refused)
    for page in (*allowed, *by_an_admin):
        assert "ada@example.com" in page
        assert "bob@example.com" not in page


def test_a_contact_page_sent_with_a_forged_count_of_memberships_is_refused_quickly_saving_nothing(
    admin_client,
):
    from tests.campaigns.test_admin import _contact_form

    ada = ContactFactory(email="ada@example.com")
    newsletter = ContactListFactory(name="Newsletter")
    data = _contact_form(ada, first_name="Renamed") | {
        "memberships-TOTAL_FORMS": "100000",
        "memberships-0-contact_list": str(newsletter.pk),
    }

    answer = admin_client.post(reverse("admin:campaigns_contact_change", args=[ada.pk]), data)

    assert answer.status_code == 200  # The form again, with its error.
    (memberships,) = [
        formset
        for formset in answer.context["inline_admin_formsets"]
        if formset.formset.prefix == "memberships"
    ]
    assert "Please submit at most" in str(memberships.formset.non_form_errors())
    assert len(memberships.formset.forms) <= 100  # Not the 2,000 Django builds before refusing.
    ada.refresh_from_db()
    assert ada.first_name != "Renamed"
    assert not ada.lists.exists()


def test_only_who_may_change_memberships_and_see_lists_adds_or_removes_contacts_from_the_list_page():
    ada = _on_a_secret_list()
    secret = ada.lists.get()
    client, user = _viewer()
    user.user_permissions.add(Permission.objects.get(codename="change_contact"))
    changelist = reverse("admin:campaigns_contact_changelist")

    def act(action: str):
        data = {"action": action, "_selected_action": [ada.pk], "contact_list": secret.pk, "apply": "1"}
        return client.post(changelist, data, follow=True)

    offered = client.get(changelist).content.decode()
    removed, added = act("remove_from_list"), act("add_to_list")

    assert "remove_from_list" not in offered
    assert "add_to_list" not in offered
    assert all("Rehab clinic patients" not in answer.content.decode() for answer in (removed, added))
    assert list(ada.lists.values_list("name", flat=True)) == ["Rehab clinic patients"]
    for codename in ("add_listmembership", "delete_listmembership", "view_contactlist"):
        user.user_permissions.add(Permission.objects.get(codename=codename))

    assert "remove_from_list" in client.get(changelist).content.decode()
    act("remove_from_list")
    assert not ada.lists.exists()
