"""List memberships: a list a contact left themselves is rejoined only by the contact."""

import threading
import time

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from campaigns import import_jobs, preferences
from campaigns.memberships import contacts_kept_off_lists, list_add_contacts
from campaigns.models import (
    Contact,
    ContactImport,
    ContactList,
    ListDeparture,
    ListMembership,
    Signup,
    SignupForm,
)
from delivery import tokens
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    ListDepartureFactory,
    ListMembershipFactory,
    SignupFormFactory,
    StepExecutionFactory,
    sendable_campaign,
)
from tests.utils import role_client
from tracking import signups
from tracking.signups import Outcome

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _leave(way: str) -> tuple[Contact, ContactList]:
    """Have a campaign's contact leave its list on the page behind the email's unsubscribe link:
    its "leave this email's lists" button, or unticked on the preference form. Return both."""
    campaign = sendable_campaign(contacts=1)
    news = campaign.lists.get()
    contact = news.contacts.get()
    row = StepExecutionFactory(step=campaign.steps.get(), contact=contact, email=contact.email)
    page = reverse(
        "unsubscribe", args=[tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)]
    )
    if way == "lists":
        answer = Client().post(page, {"action": "lists"})
    else:
        choices = {"action": "preferences", "shown": [news.pk], "first_name": "Ada", "last_name": "L."}
        answer = Client().post(page, choices)
    assert answer.status_code == 200
    assert not contact.lists.exists()
    return contact, news


@pytest.fixture(params=["lists", "preferences"])
def left(request) -> tuple[Contact, ContactList]:
    return _leave(request.param)


# Each way to put a contact on a list: it tries `contact` on `news`, and checks what it reports.


def _api_bulk(request, contact, news):
    rows = [{"email": contact.email.upper(), "first_name": "Ada"}]
    answer = request.getfixturevalue("api_client").post(
        f"{API}/contacts/bulk", {"contacts": rows, "lists": [news.pk]}, format="json"
    )
    assert answer.json()["kept_off_lists"] == [{"row": 0, "email": contact.email, "lists": [news.pk]}]
    assert Contact.objects.get(pk=contact.pk).first_name == "Ada"  # The rest of the row is saved.


def _api_import(request, contact, news):
    upload = SimpleUploadedFile("leads.csv", f"email\n{contact.email}\n".encode())
    answer = request.getfixturevalue("api_client").post(
        f"{API}/contacts/import", {"file": upload, "lists": [news.pk]}, format="multipart"
    )
    assert answer.json()["kept_off_lists"] == [{"row": 2, "email": contact.email, "lists": [news.pk]}]


def _api_members_add(request, contact, news):
    given = {"emails": [contact.email], "contact_ids": [contact.pk]}
    answer = request.getfixturevalue("api_client").post(
        f"{API}/lists/{news.pk}/members/add", given, format="json"
    )
    assert answer.json() == {"changed": 0, "not_found": {"emails": [], "contact_ids": []}, "kept_off": given}


def _admin_import(request, contact, news):
    client = role_client("Marketers")
    upload = SimpleUploadedFile("leads.csv", f"Email\n{contact.email}\n".encode(), content_type="text/csv")
    page = client.post(reverse("admin:campaigns_contactimport_add"), {"file": upload}).url
    job = ContactImport.objects.get()
    start = {"target_0": "email", "attribute_0": "", "consent_basis": "consent", "existing": "update"}
    start |= {"unsubscribed": "keep", "lists": [news.pk], "_start": "1"}
    assert client.post(page, start).status_code == 302
    import_jobs.contact_import_run(job_id=job.pk)  # What the worker does.
    job.refresh_from_db()
    assert (job.status, job.kept_off_lists, job.failed) == (ContactImport.Status.DONE, 1, 0)
    (kept,) = job.errors
    assert (kept["row"], kept["email"]) == (2, contact.email)
    assert f"kept off them (only they rejoin): {news.name}" in kept["errors"]["lists"][0]
    shown = client.get(page).content.decode()
    assert "Kept off lists they left themselves" in shown
    assert 'id="import-kept-off-lists">1<' in shown


def _admin_add_to_list(request, contact, news):
    data = {"action": "add_to_list", "_selected_action": [contact.pk], "contact_list": news.pk, "apply": "1"}
    done = role_client("Marketers").post(reverse("admin:campaigns_contact_changelist"), data, follow=True)
    said = [str(message) for message in get_messages(done.wsgi_request)]
    assert said[0] == f"0 contacts added to {news.name}."
    assert said[1].startswith("1 contact stayed off: they left the list themselves")


def _admin_list_members_add(request, contact, news):
    url = reverse("admin:campaigns_contactlist_members_add", args=[news.pk])
    done = role_client("Marketers").post(url, {"addresses": contact.email}, follow=True)
    said = [str(message) for message in get_messages(done.wsgi_request)]
    assert said[0] == "0 contacts added."  # Not "on the list already": they are not.
    assert said[1].startswith("1 contact stayed off: they left the list themselves")


def _refusal(news) -> str:
    departure = ListDeparture.objects.get(contact_list=news)
    return f"{departure.contact} left this list from their email preferences on "


def _admin_contact_page(request, contact, news):
    inlines = {
        f"{prefix}-{count}": "0"
        for prefix in ("consent_changes", "memberships", "breaks")
        for count in ("TOTAL_FORMS", "INITIAL_FORMS")
    }
    data = {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "external_id": contact.external_id,
        "attributes": "{}",
        "timezone": "",
        "status": contact.status,
        "consent_reason": "",
        **inlines,
        "memberships-TOTAL_FORMS": "1",
        "memberships-0-contact_list": str(news.pk),
    }
    client = role_client("Marketers")
    refused = client.post(reverse("admin:campaigns_contact_change", args=[contact.pk]), data)
    assert refused.status_code == 200
    assert _refusal(news) in refused.content.decode()
    assert "only they can rejoin it" in refused.content.decode()


def _admin_membership_form(request, contact, news):
    url = reverse("admin:campaigns_listmembership_add")
    refused = request.getfixturevalue("admin_client").post(
        url, {"contact": contact.pk, "contact_list": news.pk}
    )
    assert refused.status_code == 200
    assert _refusal(news) in refused.content.decode()


def _single_opt_in_form(request, contact, news):
    offers = ContactListFactory(name="Offers")
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE, lists=[news, offers])
    signup = signups.signup_submit(form=form, fields=_fields(contact.email), client_ip="")
    assert signups.signup_process(signup_id=signup.pk) == Outcome.SUBSCRIBED  # Anyone may type the address.
    assert Signup.objects.get().status == Signup.Status.ACCEPTED  # Recorded, and the other list joined.
    assert set(contact.lists.all()) == {offers}


def _fields(address: str):
    from campaigns.signups import SignupFields

    return SignupFields(email=address)


PATHS = {
    "api_bulk": _api_bulk,
    "api_import": _api_import,
    "api_members_add": _api_members_add,
    "admin_import": _admin_import,
    "admin_add_to_list": _admin_add_to_list,
    "admin_list_members_add": _admin_list_members_add,
    "admin_contact_page": _admin_contact_page,
    "admin_membership_form": _admin_membership_form,
    "single_opt_in_form": _single_opt_in_form,
}


@pytest.mark.parametrize("path", PATHS)
def test_a_list_left_on_the_unsubscribe_page_is_rejoined_by_no_other_way_and_each_says_so(
    request, left, path
):
    contact, news = left

    PATHS[path](request, contact, news)

    assert not ListMembership.objects.filter(contact=contact, contact_list=news).exists()
    assert ListDeparture.objects.filter(contact=contact, contact_list=news).exists()


def test_leaving_records_the_way_and_when_once_however_often_they_leave():
    contact, news = _leave("lists")
    first = ListDeparture.objects.get()
    assert (first.contact, first.contact_list, first.via) == (
        contact,
        news,
        ListDeparture.Via.UNSUBSCRIBE_PAGE,
    )
    ListMembership.objects.create(contact=contact, contact_list=news)  # As a confirmed signup would.

    preferences.contact_preferences_save(
        contact=contact, shown_list_ids={news.pk}, keep_list_ids=set(), first_name="", last_name=""
    )

    again = ListDeparture.objects.get()
    assert (again.via, again.left_at > first.left_at) == (ListDeparture.Via.PREFERENCES_PAGE, True)


def test_a_rejoin_adds_the_contact_and_forgets_the_departure_and_other_pairs_are_untouched():
    contact, news = _leave("preferences")
    offers = ContactListFactory()
    other = ContactFactory()

    assert list_add_contacts(list_ids=[news.pk, offers.pk], contact_ids=[contact.pk, other.pk]) == 3
    assert contacts_kept_off_lists(list_ids=[news.pk, offers.pk], contact_ids=[contact.pk, other.pk]) == {
        contact.pk: (contact.email, [news.pk])
    }
    assert list_add_contacts(list_ids=[news.pk], emails=[contact.email], rejoin=True) == 1

    assert not ListDeparture.objects.exists()
    assert set(contact.lists.all()) == {news, offers}


def test_the_departure_goes_with_its_contact_or_its_list():
    contact, news = _leave("lists")
    ListDepartureFactory(contact=contact)

    news.delete()
    assert ListDeparture.objects.count() == 1
    contact.delete()
    assert not ListDeparture.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_add_racing_the_contact_leaving_waits_and_leaves_them_off(postgres_only):
    news = ContactListFactory()
    contact = ContactFactory()
    ListMembershipFactory(contact=contact, contact_list=news)
    left, release, done = threading.Event(), threading.Event(), {}

    def leave():
        with transaction.atomic():
            preferences.contact_preferences_save(
                contact=contact, shown_list_ids={news.pk}, keep_list_ids=set(), first_name="", last_name=""
            )
            left.set()
            release.wait(10)
        connection.close()

    def add():
        left.wait(10)
        # Its snapshot misses the departure, uncommitted; its insert waits on the membership's delete.
        done["added"] = list_add_contacts(list_ids=[news.pk], emails=[contact.email])
        connection.close()

    threads = [threading.Thread(target=leave), threading.Thread(target=add)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    waited = "added" not in done
    release.set()
    for thread in threads:
        thread.join(10)

    assert waited
    assert done["added"] == 0
    assert not ListMembership.objects.filter(contact=contact, contact_list=news).exists()
