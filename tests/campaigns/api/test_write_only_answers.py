"""A key that may write but not read is answered only what it sent; one that may read, the whole object."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from campaigns.models import Campaign, Contact
from core.api.answers import WRITER_ANSWER_NOTE
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import CampaignFactory, ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
Scope = ApiKey.Scope


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="scoped", scopes=scopes)[1])
    return client


def _known_contact() -> Contact:
    contact = ContactFactory(attributes={"plan": "enterprise", "salary": "secret"})
    ListMembershipFactory(contact=contact, contact_list=ContactListFactory())
    return contact


def test_an_empty_patch_by_a_write_only_key_answers_only_the_contacts_id():
    contact = _known_contact()

    response = _client(Scope.AUDIENCE_WRITE).patch(f"{API}/contacts/{contact.pk}", {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"id": contact.pk}


def test_a_patch_by_a_write_only_key_answers_the_fields_it_sent_as_stored():
    contact = _known_contact()

    response = _client(Scope.AUDIENCE_WRITE).patch(
        f"{API}/contacts/{contact.pk}",
        {"first_name": "  Ada ", "lists": [], "created_at": "x"},
        format="json",
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    # lists and created_at are not written by a PATCH: their stored values were not sent.
    assert response.json() == {"id": contact.pk, "first_name": contact.first_name}


def test_a_write_only_post_that_takes_over_an_existing_contact_reveals_nothing_stored():
    held = ContactFactory(email="held@example.com", is_load_test=True, attributes={"plan": "secret"})
    ListMembershipFactory(contact=held, contact_list=ContactListFactory())

    response = _client(Scope.AUDIENCE_WRITE).post(
        f"{API}/contacts", {"email": "held@example.com", "last_name": "Lovelace"}, format="json"
    )

    assert response.status_code == 201
    assert response.json() == {"id": held.pk, "email": "held@example.com", "last_name": "Lovelace"}


def test_a_key_that_may_read_and_write_is_answered_the_whole_contact():
    contact = _known_contact()

    response = _client(Scope.READ, Scope.AUDIENCE_WRITE).patch(
        f"{API}/contacts/{contact.pk}", {}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == _client(Scope.READ).get(f"{API}/contacts/{contact.pk}").json()


def test_a_write_only_key_creating_a_list_segment_template_or_campaign_gets_back_only_what_it_sent():
    audience, campaigns = _client(Scope.AUDIENCE_WRITE), _client(Scope.CAMPAIGNS_WRITE)
    definition = {"match": "all", "rules": [{"field": "email", "op": "is_set"}]}
    template = {"name": "news", "subject": "Hi", "html_body": "<p>Hi</p>"}
    campaign = {"name": "Spring", "from_email": "news@campanile.test"}

    answers = {
        "lists": audience.post(f"{API}/lists", {"name": "Fair"}, format="json"),
        "segments": audience.post(
            f"{API}/segments", {"name": "All", "definition": definition}, format="json"
        ),
        "templates": campaigns.post(f"{API}/templates", template, format="json"),
        "campaigns": campaigns.post(f"{API}/campaigns", campaign, format="json"),
    }

    sent = {"lists": {"name"}, "segments": {"name", "definition"}, "templates": set(template)}
    sent["campaigns"] = set(campaign)
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 201)
    assert {name: set(answer.json()) for name, answer in answers.items()} == {
        name: {"id", *fields} for name, fields in sent.items()
    }


def test_a_write_only_key_moving_a_campaign_is_answered_its_id_and_new_status():
    campaign = CampaignFactory(status=Campaign.Status.PAUSED)

    response = _client(Scope.CAMPAIGNS_WRITE).post(f"{API}/campaigns/{campaign.pk}/cancel")

    assert response.status_code == 200
    campaign.refresh_from_db()
    assert response.json() == {"id": campaign.pk, "status": campaign.status}


def test_the_schema_states_the_rule_on_the_writes_it_cuts_and_not_on_reads():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]

    assert WRITER_ANSWER_NOTE in paths["/api/v1/contacts/{id}/"]["patch"]["description"]
    assert WRITER_ANSWER_NOTE in paths["/api/v1/campaigns/{id}/pause/"]["post"]["description"]
    assert WRITER_ANSWER_NOTE not in paths["/api/v1/contacts/{id}/"]["get"].get("description", "")
    assert WRITER_ANSWER_NOTE not in paths["/api/v1/contacts/bulk/"]["post"].get("description", "")
