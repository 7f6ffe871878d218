"""What a write may hold: a key no field takes, `lists` on a contact, or a number too large to write
given to a text field is refused with a 400 naming it, and nothing is saved."""

import json

import pytest

from campaigns.models import Contact, ListMembership, Template
from core.api.strict import FRACTION_AS_TEXT
from tests.factories import ContactFactory, ContactListFactory, TemplateFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _fields(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


def test_a_contact_write_naming_a_key_no_field_takes_is_refused_and_saves_nothing(api_client):
    contact = ContactFactory(first_name="Old")

    misspelt = api_client.patch(f"{API}/contacts/{contact.pk}", {"first_nme": "Ada"}, format="json")
    created = api_client.post(f"{API}/contacts", {"email": "new@example.com", "plan": "Gold"}, format="json")

    assert "the fields are: email, first_name" in _fields(misspelt)["first_nme"][0]
    assert list(_fields(created)) == ["plan"]
    contact.refresh_from_db()
    assert contact.first_name == "Old"
    assert not Contact.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize("method", ["post", "patch"])
def test_lists_given_to_a_contact_are_refused_pointing_to_what_sets_them(api_client, method):
    audience = ContactListFactory()
    contact = ContactFactory(email="ada@example.com")
    path = f"{API}/contacts" + ("" if method == "post" else f"/{contact.pk}")
    body = {"email": "bea@example.com", "lists": [audience.pk]}

    response = getattr(api_client, method)(path, body, format="json")

    assert "members/add" in _fields(response)["lists"][0]
    assert not ListMembership.objects.exists()
    assert set(Contact.objects.values_list("email", flat=True)) == {"ada@example.com"}


def test_a_contact_read_can_be_sent_back_but_for_its_lists(api_client):
    contact = ContactFactory(first_name="Ada")
    read = api_client.get(f"{API}/contacts/{contact.pk}").json()
    read.pop("lists")

    response = api_client.put(f"{API}/contacts/{contact.pk}", {**read, "last_name": "Byron"}, format="json")

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Ada", "Byron")


def test_a_bulk_row_holding_a_key_no_field_takes_fails_alone_and_the_rest_are_saved(api_client):
    audience = ContactListFactory()
    rows = [
        {"email": "typo@example.com", "first_nme": "Ada"},
        {"email": "lists@example.com", "lists": [audience.pk]},
        {"email": "flag@example.com", "resubscribe": True},
        {"email": "read@example.com", "id": 7, "created_at": "2026-01-01T00:00:00Z", "first_name": "Bea"},
    ]

    result = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()

    refused = {error["email"]: set(error["errors"]) for error in result["errors"]}
    assert refused == {
        "typo@example.com": {"first_nme"},
        "lists@example.com": {"lists"},
        "flag@example.com": {"resubscribe"},
    }
    assert "members/add" in result["errors"][1]["errors"]["lists"][0]
    assert list(Contact.objects.values_list("email", "first_name")) == [("read@example.com", "Bea")]


def test_a_number_past_a_floats_range_given_as_text_is_refused_never_stored_as_inf(api_client):
    contact = ContactFactory(first_name="Ada")
    template = TemplateFactory(subject="Hello")
    bodies = {
        f"{API}/contacts/{contact.pk}": ('{"first_name": 1e400}', "first_name"),
        f"{API}/templates/{template.pk}": ('{"subject": -1e400}', "subject"),
    }

    for path, (body, field) in bodies.items():
        response = api_client.patch(path, body, content_type="application/json")
        assert "not kept as written" in _fields(response)[field][0]
    rows = '[{"email": "inf@example.com", "last_name": 1e400}, {"email": "ok@example.com", "last_name": 7}]'
    bulk = api_client.post(
        f"{API}/contacts/bulk", f'{{"contacts": {rows}}}', content_type="application/json"
    ).json()

    assert bulk["errors"][0]["errors"] == {"last_name": [str(FRACTION_AS_TEXT)]}
    contact.refresh_from_db()
    template.refresh_from_db()
    assert (contact.first_name, template.subject) == ("Ada", "Hello")
    assert Contact.objects.get(email="ok@example.com").last_name == "7"  # A number in range is its text.
    assert not Template.objects.filter(subject="inf").exists()


def test_a_key_too_long_or_unencodable_is_named_short_and_answered_in_utf8(api_client):
    long_key = "k" * 5000
    body = json.dumps({"name": "News", long_key: 1, "\ud800": 2})

    response = api_client.post(f"{API}/lists", body, content_type="application/json")

    named = set(_fields(response))
    assert named == {"k" * 100 + "…", "\\ud800"}


def test_codes_and_ids_sent_as_numbers_with_a_point_or_an_exponent_are_refused_never_merged(api_client):
    """1E5 and 100000.0 would both be stored as "100000.0": two codes taken for one, a retry's answer
    given to another message."""
    from tests.factories import TemplateFactory as Templates

    Templates(name="welcome")
    body = '{"from": "App <app@campanile.test>", "to": "a@example.com", "template_name": "welcome", '
    answers = [
        api_client.post(f"{API}/messages", body + f'"unique_code": {code}}}', content_type="application/json")
        for code in ("1E5", "100000.0", "-0")
    ]
    contact = api_client.post(
        f"{API}/contacts", '{"email": "n@example.com", "external_id": 1e5}', content_type="application/json"
    )
    whole = api_client.post(
        f"{API}/contacts",
        '{"email": "w@example.com", "external_id": 100000}',
        content_type="application/json",
    )

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert all("unique_code" in answer.json()["error"]["fields"] for answer in answers)
    assert "external_id" in _fields(contact)
    assert whole.status_code == 201  # A whole number is its digits, as sent.
    assert Contact.objects.get(email="w@example.com").external_id == "100000"
