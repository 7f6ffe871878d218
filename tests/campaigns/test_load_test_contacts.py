"""A contact is load-test data while only load tests touched it: any other path makes it the marketer's."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import ConsentChange, Contact, ListMembership, Signup, Template
from campaigns.signups import signup_apply
from core.services import api_key_create
from loadtest.cleanup import loadtest_data_delete
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    SignupFormFactory,
    TemplateFactory,
)
from tracking import signups

pytestmark = pytest.mark.django_db

API = "/api/v1"
ADDRESS = "success+ltreal@simulator.amazonses.com"


@pytest.fixture
def load_test_client():
    """A client presenting a load-test key, as `createapikey lt --load-test` makes."""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="lt", is_load_test=True)[1])
    return client


def _message(client):
    if not Template.objects.filter(name="simple-email").exists():
        TemplateFactory(name="simple-email")
    body = {"from": "sender@campanile.test", "to": ADDRESS, "template_name": "simple-email"}
    answer = client.post(f"{API}/messages", body, format="json")
    assert answer.status_code == 202, answer.content
    return answer


def _load_test_contact(load_test_client) -> Contact:
    """Make the contact a load-test key's message makes for a new address."""
    _message(load_test_client)
    contact = Contact.objects.get(email=ADDRESS)
    assert contact.is_load_test
    return contact


def _bulk(api_client, contact_list):
    body = {"contacts": [{"email": ADDRESS, "status": "subscribed"}], "lists": [contact_list.pk]}
    return api_client.post(f"{API}/contacts/bulk", body, format="json")


def _csv_import(api_client, contact_list):
    upload = io.BytesIO(f"email,status\n{ADDRESS},subscribed\n".encode())
    upload.name = "contacts.csv"
    return api_client.post(
        f"{API}/contacts/import", {"file": upload, "lists": [contact_list.pk]}, format="multipart"
    )


def _patch(api_client, contact_list):
    contact = Contact.objects.get(email=ADDRESS)
    return api_client.patch(f"{API}/contacts/{contact.pk}", {"status": "subscribed"}, format="json")


def _members_add(api_client, contact_list):
    return api_client.post(f"{API}/lists/{contact_list.pk}/members/add", {"emails": [ADDRESS]}, format="json")


def _signup(api_client, contact_list):
    form = SignupFormFactory(opt_in="single", lists=[contact_list])
    answer = api_client.post(f"{API}/signup-forms/{form.pk}/signups", {"email": ADDRESS}, format="json")
    signups.signups_process_waiting(older_than_seconds=0)  # What a worker does next.
    return answer


def _confirmed_signup(api_client, contact_list):
    form = SignupFormFactory(lists=[contact_list])  # Double opt-in.
    answer = api_client.post(f"{API}/signup-forms/{form.pk}/signups", {"email": ADDRESS}, format="json")
    signups.signups_process_waiting(older_than_seconds=0)
    signup = form.signups.get()
    signup_apply(signup=signup, confirmed=True)
    return answer


def _real_message(api_client, contact_list):
    return _message(api_client)


@pytest.mark.parametrize(
    "path",
    [_bulk, _csv_import, _patch, _members_add, _signup, _confirmed_signup, _real_message],
    ids=["bulk", "csv-import", "patch", "members-add", "single-opt-in-signup", "confirmed-signup", "message"],
)
def test_a_load_test_contact_a_real_path_writes_is_the_marketers_everywhere(
    api_client, load_test_client, ses, settings, path
):
    settings.SIGNUP_MAX_PER_IP = 1_000_000
    contact = _load_test_contact(load_test_client)
    contact_list = ContactListFactory(name="Newsletter")
    campaign = CampaignFactory()
    campaign.lists.add(contact_list)
    segment = {"match": "all", "rules": [{"list": contact_list.pk, "op": "in"}]}

    assert path(api_client, contact_list).status_code in (200, 201, 202)

    contact.refresh_from_db()
    assert not contact.is_load_test
    # On the list, and subscribed, whether the path did either or not (not a path of its own).
    ListMembership.objects.get_or_create(contact=contact, contact_list=contact_list)
    Contact.objects.filter(pk=contact.pk).update(status=Contact.Status.SUBSCRIBED)
    found = api_client.get(f"{API}/contacts", {"email": ADDRESS}).json()["results"]
    assert [row["id"] for row in found] == [contact.pk]
    counted = api_client.post(f"{API}/segments/count", {"definition": segment}, format="json").json()
    dry_run = api_client.get(f"{API}/campaigns/{campaign.pk}/dry-run").json()
    members = api_client.get(f"{API}/lists/{contact_list.pk}").json()["member_count"]
    assert (counted["contacts"], dry_run["on_lists"], members) == (1, 1, 1)
    # The load test's own data goes; the contact stays, with its consent history.
    history = list(ConsentChange.objects.filter(contact=contact).values_list("pk", flat=True))
    call_command("loadtest_cleanup", stdout=io.StringIO())
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert list(ConsentChange.objects.filter(contact=contact).values_list("pk", flat=True)) == history


def test_a_load_test_keys_messages_leave_its_contact_a_load_tests(load_test_client):
    contact = _load_test_contact(load_test_client)

    _message(load_test_client)

    contact.refresh_from_db()
    assert contact.is_load_test
    assert loadtest_data_delete(dry_run=True)["contacts"] == 1


def test_a_post_on_an_address_a_load_test_holds_takes_it_over(api_client, load_test_client):
    contact = _load_test_contact(load_test_client)
    body = {"email": ADDRESS.upper(), "first_name": "Ada", "attributes": {"plan": "pro"}}

    answer = api_client.post(f"{API}/contacts", body, format="json")

    assert answer.status_code == 201, answer.content
    assert answer.json()["id"] == contact.pk
    contact.refresh_from_db()
    assert not contact.is_load_test
    assert (contact.first_name, contact.attributes, contact.status) == ("Ada", {"plan": "pro"}, "subscribed")
    (change,) = ConsentChange.objects.filter(contact=contact)
    assert (change.from_status, change.to_status, change.via) == ("transactional", "subscribed", "api")
    # A marketer's own contact is still a conflict.
    assert api_client.post(f"{API}/contacts", body, format="json").status_code == 400


def test_taking_over_a_load_test_contact_who_unsubscribed_keeps_them_so_unless_asked(
    api_client, load_test_client
):
    contact = _load_test_contact(load_test_client)
    Contact.objects.filter(pk=contact.pk).update(status=Contact.Status.UNSUBSCRIBED)

    refused = api_client.post(f"{API}/contacts", {"email": ADDRESS, "first_name": "Ada"}, format="json")
    contact.refresh_from_db()
    assert refused.status_code == 409
    assert (contact.is_load_test, contact.first_name, contact.status) == (True, "", "unsubscribed")

    body = {"email": ADDRESS, "resubscribe": True, "reason": "Asked us by phone"}
    assert api_client.post(f"{API}/contacts", body, format="json").status_code == 201
    contact.refresh_from_db()
    assert (contact.is_load_test, contact.status) == (False, "subscribed")


def test_staff_saving_or_adding_a_load_test_contact_to_a_list_make_it_theirs(admin_client):
    saved, added, pasted = (
        ContactFactory(email=f"success+lt-{n}@simulator.amazonses.com", is_load_test=True) for n in range(3)
    )
    contact_list = ContactListFactory()
    form = {
        "email": saved.email,
        "first_name": "Saved",
        "last_name": "",
        "external_id": "",
        "attributes": "{}",
        "timezone": "",
        "status": saved.status,
        "consent_reason": "",
        **{
            f"{inline}-{count}": "0"
            for inline in ("consent_changes", "memberships", "breaks")
            for count in ("TOTAL_FORMS", "INITIAL_FORMS")
        },
    }

    page = admin_client.post(reverse("admin:campaigns_contact_change", args=[saved.pk]), form)
    admin_client.post(
        # Shown as the marketer sees them once the filter shows load-test data.
        reverse("admin:campaigns_contact_changelist") + "?load_test=shown",
        {
            "action": "add_to_list",
            "_selected_action": [added.pk],
            "contact_list": contact_list.pk,
            "apply": "1",
        },
    )
    admin_client.post(
        reverse("admin:campaigns_contactlist_members_add", args=[contact_list.pk]),
        {"addresses": pasted.email},
    )

    assert page.status_code == 302, page.content.decode()[:3000]
    assert set(contact_list.contacts.all()) == {added, pasted}
    assert list(Contact.objects.filter(is_load_test=True)) == []


def test_a_confirmation_makes_a_load_test_contact_its_address_came_back_as_the_owners(load_test_client):
    # The signup was taken while the address had no contact; a load test's message made one since.
    signup = Signup.objects.create(
        form_name="Footer", email=ADDRESS, consent_text="Yes", status=Signup.Status.PENDING
    )
    contact = _load_test_contact(load_test_client)

    signup_apply(signup=signup, confirmed=True)

    contact.refresh_from_db()
    assert (contact.is_load_test, contact.status) == (False, Contact.Status.SUBSCRIBED)


def test_load_test_contacts_a_real_list_or_a_signup_took_up_before_are_the_marketers_on_upgrade():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("campaigns", "0038_shown_names_everywhere")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    contact, contact_list = old.get_model("campaigns", "Contact"), old.get_model("campaigns", "ContactList")
    membership, signup = old.get_model("campaigns", "ListMembership"), old.get_model("campaigns", "Signup")
    real, test_list = (
        contact_list.objects.create(name="News"),
        contact_list.objects.create(name="lt", is_load_test=True),
    )
    listed, signed, tested = (
        contact.objects.create(email=f"{name}@example.com", is_load_test=True)
        for name in ("listed", "signed", "tested")
    )
    membership.objects.create(contact=listed, contact_list=real)
    membership.objects.create(contact=tested, contact_list=test_list)
    signup.objects.create(contact=signed, email="signed@example.com")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    flagged = dict(Contact.objects.values_list("email", "is_load_test"))
    assert flagged == {"listed@example.com": False, "signed@example.com": False, "tested@example.com": True}
