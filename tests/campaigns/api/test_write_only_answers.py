"""A key that may write but not read is answered only what it sent; one that may read, the whole object."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from campaigns.models import Campaign, Contact, Suppression
from core.api.answers import WRITER_ANSWER_NOTE
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SuppressionFactory,
)

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
        {"first_name": "  Ada ", "updated_at": "y", "created_at": "x"},
        format="json",
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    # updated_at and created_at are not written by a PATCH: their stored values were not sent.
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

    # Fields a move never writes, named in its body, are refused, naming only what was sent.
    named = dict.fromkeys(["name", "from_email", "reply_to", "lists", "segments", "steps", "scheduled_at"], 0)
    client = _client(Scope.CAMPAIGNS_WRITE)
    refused = client.post(f"{API}/campaigns/{campaign.pk}/cancel", named, format="json")
    response = client.post(f"{API}/campaigns/{campaign.pk}/cancel", format="json")

    assert refused.status_code == 400
    assert set(refused.json()["error"]["fields"]) == set(named)
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


@pytest.mark.parametrize("status", [Contact.Status.UNSUBSCRIBED, Contact.Status.PENDING])
def test_a_subscribe_refused_to_a_write_only_key_names_neither_the_address_nor_when_they_left(status):
    contact = ContactFactory(email="left.quietly@example.com", status=status)
    Contact.objects.filter(pk=contact.pk).update(unsubscribed_at="2026-03-04T05:06:07Z")

    refused = _client(Scope.AUDIENCE_WRITE).patch(
        f"{API}/contacts/{contact.pk}", {"status": "subscribed"}, format="json"
    )
    told = _client(Scope.AUDIENCE_WRITE, Scope.READ).patch(
        f"{API}/contacts/{contact.pk}", {"status": "subscribed"}, format="json"
    )

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "resubscribe_refused")
    assert "left.quietly" not in refused.content.decode()
    assert "2026-03-04" not in refused.content.decode()
    assert "left.quietly@example.com" in told.json()["error"]["message"]
    assert Contact.objects.get(pk=contact.pk).status == status


def test_a_write_only_suppressions_key_adding_an_address_on_file_learns_nothing_stored_of_it():
    bounce = SuppressionFactory(
        email="gone@example.com", reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1 user unknown"
    )

    added = _client(Scope.SUPPRESSIONS_ADMIN).post(
        f"{API}/suppressions", {"email": "gone@example.com", "reason": "unsubscribe"}, format="json"
    )

    assert added.status_code in (200, 201)
    assert added.json() == {"id": bounce.pk, "email": "gone@example.com"}


def test_a_write_only_suppressions_key_lifting_a_bounce_of_one_who_opted_out_is_told_only_that():
    bounce = SuppressionFactory(
        email="both@example.com",
        reason=Suppression.Reason.HARD_BOUNCE,
        detail="550 user unknown",
        opted_out=True,
    )
    client = _client(Scope.SUPPRESSIONS_ADMIN)

    lifted = client.delete(f"{API}/suppressions/{bounce.pk}?reason=The+mailbox+works+again")
    again = client.delete(f"{API}/suppressions/{bounce.pk}?reason=The+mailbox+works+again")

    assert (lifted.status_code, lifted.json()) == (200, {"id": bounce.pk, "opted_out": True})
    assert (again.status_code, again.json()) == (200, {"id": bounce.pk, "opted_out": True})


def test_a_write_only_key_subscribing_a_contact_at_an_erased_address_is_told_it_was_erased():
    from console.erasure import contact_erase

    contact_erase(contact=ContactFactory(email="gone@example.com"), by="its owner")
    # Transactional mail brought the address back; an integrator tries to subscribe it.
    back = ContactFactory(email="gone@example.com", status=Contact.Status.TRANSACTIONAL)
    asked = {"status": "subscribed", "resubscribe": True, "reason": "The CRM has their consent"}

    answers = [
        _client(*scopes).patch(f"{API}/contacts/{back.pk}", asked, format="json")
        for scopes in ((Scope.AUDIENCE_WRITE,), (Scope.AUDIENCE_WRITE, Scope.READ))
    ]

    assert [answer.status_code for answer in answers] == [409, 409]
    # The erasure's refusal names nothing stored of the contact: a key that may not read gets it too,
    # never a message asking for the flag and reason it sent.
    assert answers[0].json()["error"]["message"] == answers[1].json()["error"]["message"]
    assert "erased" in answers[0].json()["error"]["message"]
    assert Contact.objects.get(pk=back.pk).status == Contact.Status.TRANSACTIONAL
