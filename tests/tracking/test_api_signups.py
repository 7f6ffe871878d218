"""The API's signup forms: an integrator signs a visitor up as the form's page would."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Contact, Signup
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import ContactListFactory, SignupFormFactory
from tracking import signups

pytestmark = pytest.mark.django_db

URL = "/api/v1/signup-forms"


@pytest.fixture(autouse=True)
def network_limit_out_of_the_way(settings):
    settings.SIGNUP_MAX_PER_IP = 1_000_000


def test_an_integrator_signs_a_visitor_up_and_is_answered_the_same_for_any_address(api_client, ses):
    form = SignupFormFactory()
    Contact.objects.create(email="known@example.com")
    listed = api_client.get(URL).json()

    answers = [
        api_client.post(f"{URL}/{form.pk}/signups", {"email": address, "ip": "198.51.100.7"}, format="json")
        for address in ("new@example.com", "known@example.com")
    ]

    signups.signups_process_waiting(older_than_seconds=0)  # What a worker does next.
    assert [row["slug"] for row in listed["results"]] == [form.slug]
    assert {(answer.status_code, answer.content) for answer in answers} == {(202, b'{"status":"accepted"}')}
    assert Contact.objects.get(email="new@example.com").status == Contact.Status.PENDING
    assert Signup.objects.get(email="new@example.com").ip == "198.51.100.0"


def test_a_signup_through_the_api_needs_the_audience_write_scope_and_a_good_address(ses):
    form = SignupFormFactory()
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=api_key_create(name="reader", scopes=[ApiKey.Scope.READ])[1])
    writer = APIClient()
    writer.credentials(HTTP_X_API_KEY=api_key_create(name="writer", scopes=[ApiKey.Scope.AUDIENCE_WRITE])[1])

    refused = reader.post(f"{URL}/{form.pk}/signups", {"email": "a@example.com"}, format="json")
    bad = writer.post(f"{URL}/{form.pk}/signups", {"email": "not an address"}, format="json")

    assert refused.status_code == 403
    assert bad.status_code == 400
    assert not Signup.objects.exists()


def test_a_visitor_chooses_only_among_the_forms_lists_and_a_closed_form_is_a_conflict(api_client, ses):
    form = SignupFormFactory(visitor_chooses_lists=True)
    own = form.lists.get()
    other = ContactListFactory()

    wrong = api_client.post(
        f"{URL}/{form.pk}/signups", {"email": "a@example.com", "lists": [other.pk]}, format="json"
    )
    right = api_client.post(
        f"{URL}/{form.pk}/signups", {"email": "a@example.com", "lists": [own.pk]}, format="json"
    )
    form.is_active = False
    form.save()
    closed = api_client.post(f"{URL}/{form.pk}/signups", {"email": "b@example.com"}, format="json")

    assert wrong.status_code == 400
    assert right.status_code == 202
    assert list(Signup.objects.get().lists.all()) == [own]
    assert closed.status_code == 409


def test_no_list_chosen_is_refused_where_visitors_choose_as_the_page_refuses_it(api_client):
    form = SignupFormFactory(visitor_chooses_lists=True)

    refused = api_client.post(
        f"{URL}/{form.pk}/signups", {"email": "a@example.com", "lists": []}, format="json"
    )

    assert refused.status_code == 400
    assert not Signup.objects.exists()


def test_lists_sent_to_a_form_whose_visitors_join_them_all_are_refused(api_client):
    form = SignupFormFactory()
    other = ContactListFactory()

    refused = api_client.post(
        f"{URL}/{form.pk}/signups", {"email": "a@example.com", "lists": [other.pk]}, format="json"
    )

    assert refused.status_code == 400


@pytest.mark.parametrize("character", ["\u202e", "\u200b", "\x1b"])
def test_a_name_holding_a_control_bidi_override_or_invisible_space_is_a_400_naming_it(api_client, character):
    form = SignupFormFactory()
    sent = {"email": "a@example.com", "first_name": "Ada", "last_name": f"Love{character}lace"}

    answer = api_client.post(f"{URL}/{form.pk}/signups", sent, format="json")

    signups.signups_process_waiting(older_than_seconds=0)
    assert answer.status_code == 400
    assert f"U+{ord(character):04X}" in answer.json()["error"]["fields"]["last_name"][0]
    assert not Signup.objects.exists()
    assert not Contact.objects.exists()


def test_a_signup_repeating_a_key_is_a_400_naming_it_and_signs_no_one_up(api_client):
    form = SignupFormFactory()
    body = '{"email": "ada@example.com", "email": "bob@example.com"}'

    answer = api_client.post(f"{URL}/{form.pk}/signups", body, content_type="application/json")

    assert answer.status_code == 400
    assert '"email"' in answer.json()["error"]["message"]
    assert not Signup.objects.exists()
