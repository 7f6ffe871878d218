"""An operation that reads no body refuses one, naming its keys: ignored, a schedule given
`scheduled_at` would send at once; a campaign's status is moved by its operations alone."""

import pytest

from campaigns.models import Campaign, Contact, Suppression
from tests.factories import CampaignFactory, ContactFactory, SuppressionFactory, sendable_campaign

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.mark.parametrize("move", ["schedule", "unschedule", "pause", "resume", "cancel", "retry-failed"])
def test_a_move_given_a_body_is_a_400_naming_its_keys_and_moves_nothing(api_client, move):
    campaign = sendable_campaign(contacts=1)

    response = api_client.post(
        f"{API}/campaigns/{campaign.pk}/{move}", {"scheduled_at": "2031-01-01T00:00:00Z"}, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["scheduled_at"]
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (Campaign.Status.DRAFT, None)


def test_a_move_with_an_empty_body_or_none_still_moves(api_client):
    first, second = sendable_campaign(contacts=1), sendable_campaign(contacts=1)

    empty = api_client.post(f"{API}/campaigns/{first.pk}/schedule", {}, format="json")
    none = api_client.post(f"{API}/campaigns/{second.pk}/schedule")

    assert (empty.status_code, none.status_code) == (200, 200)
    assert {c.status for c in Campaign.objects.all()} == {Campaign.Status.SCHEDULED}


def test_a_campaigns_status_given_to_a_write_is_refused_pointing_to_its_moves(api_client):
    campaign = CampaignFactory()

    response = api_client.patch(f"{API}/campaigns/{campaign.pk}", {"status": "cancelled"}, format="json")

    assert response.status_code == 400
    assert "/schedule, unschedule, pause, resume or cancel" in response.json()["error"]["fields"]["status"][0]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_an_erasure_or_a_suppressions_removal_given_other_keys_is_refused_and_done_not(api_client):
    contact = ContactFactory(email="keep@example.com")
    suppression = SuppressionFactory(email="held@example.com")

    erase = api_client.post(f"{API}/contacts/{contact.pk}/erase", {"reason": "asked"}, format="json")
    remove = api_client.delete(
        f"{API}/suppressions/{suppression.pk}", {"reason": "asked", "email": "x@y.z"}, format="json"
    )

    assert (erase.status_code, remove.status_code) == (400, 400)
    assert list(remove.json()["error"]["fields"]) == ["email"]
    assert Contact.objects.filter(email="keep@example.com").exists()
    assert Suppression.objects.filter(pk=suppression.pk).exists()
