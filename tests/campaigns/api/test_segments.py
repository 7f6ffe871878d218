"""The API's segments: saved filters, their counts, and campaigns that mail them."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign, Contact, Segment
from core.services import api_key_create
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    SegmentFactory,
    SuppressionFactory,
    TemplateFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
PRO = {"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="-".join(scopes), scopes=list(scopes))[1])
    return client


def test_a_segment_is_saved_counted_and_shows_its_first_mailable_contacts(api_client):
    first = ContactFactory(email="a@example.com", attributes={"plan": "pro"})
    ContactFactory(email="b@example.com", attributes={"plan": "pro"}, status=Contact.Status.UNSUBSCRIBED)
    SuppressionFactory(email=ContactFactory(email="c@example.com", attributes={"plan": "pro"}).email)
    ContactFactory(email="d@example.com", attributes={"plan": "free"})

    created = api_client.post(f"{API}/segments", {"name": "Pro", "definition": PRO}, format="json")
    assert created.status_code == 201, created.content
    counted = api_client.get(f"{API}/segments/{created.json()['id']}/count").json()

    assert (counted["contacts"], counted["mailable"]) == (3, 1)
    assert [contact["email"] for contact in counted["sample"]] == [first.email]


def test_a_definition_is_counted_before_it_is_saved_with_a_key_that_only_reads():
    ContactFactory(attributes={"plan": "pro"})
    reader = _client("read")

    counted = reader.post(f"{API}/segments/count", {"definition": PRO}, format="json")

    assert counted.status_code == 200
    assert counted.json()["contacts"] == 1
    assert (
        reader.post(f"{API}/segments", {"name": "Pro", "definition": PRO}, format="json").status_code == 403
    )
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("definition", "said"),
    [
        ({"match": "some", "rules": []}, '"match": "all" or "any"'),
        ({"match": "all", "rules": [{"field": "password", "op": "eq", "value": "x"}]}, "not a field"),
        ({"match": "all", "rules": [{"list": 999_999, "op": "in"}]}, "No list 999999"),
        ({"match": "all", "rules": [{"engagement": "loved"}]}, "not a kind of engagement"),
        (
            {
                "match": "any",
                "rules": [{"match": "all", "rules": [{"field": "email", "op": "is_set"}] * 30}] * 2,
            },
            "at most 50 rules in all",
        ),
    ],
)
def test_a_definition_the_engine_cannot_read_is_a_400_saying_why(api_client, definition, said):
    response = api_client.post(f"{API}/segments", {"name": "Odd", "definition": definition}, format="json")
    assert response.status_code == 400
    assert said in str(response.json()["error"]["fields"]["definition"])
    assert (
        api_client.post(f"{API}/segments/count", {"definition": definition}, format="json").status_code == 400
    )


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ({"list": None, "op": "in"}, "No list null."),
        ({"list": True, "op": "in"}, "No list true."),
        ({"list": {"a": 1}, "op": "in"}, 'No list {"a": 1}.'),
        ({"field": None, "op": "eq", "value": "x"}, "null is not a field a segment can look at."),
        ({"field": "name", "op": "eq", "value": "x"}, '"name" is not a field a segment can look at.'),
        ({"engagement": None}, "null is not a kind of engagement."),
        ({"field": "attributes.n", "op": "gt", "value": [1]}, "[1] is not a number"),
        ({"field": "attributes.d", "op": "before", "value": False}, "false is not a date"),
    ],
)
def test_a_refused_rule_repeats_the_value_as_the_json_sent_not_pythons_spelling(api_client, rule, said):
    definition = {"match": "all", "rules": [rule]}

    response = api_client.post(f"{API}/segments/count", {"definition": definition}, format="json")

    assert response.status_code == 400
    assert said in str(response.json()["error"]["fields"]["definition"])


def test_a_segment_an_unfinished_campaign_mails_cannot_be_deleted(api_client):
    segment = SegmentFactory(definition=PRO)
    campaign = CampaignFactory(name="Spring", status=Campaign.Status.SCHEDULED)
    campaign.segments.add(segment)

    refused = api_client.delete(f"{API}/segments/{segment.pk}")

    assert refused.status_code == 409
    assert "Spring" in refused.json()["error"]["message"]
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    assert api_client.delete(f"{API}/segments/{segment.pk}").status_code == 204


def test_a_campaign_whose_audience_is_a_segment_alone_is_scheduled_and_dry_runs_it(api_client):
    ContactFactory(attributes={"plan": "pro"})
    ContactFactory(attributes={"plan": "free"})
    segment = SegmentFactory(definition=PRO)
    template = TemplateFactory()
    body = {
        "name": "Pro only",
        "from_email": "News <news@campanile.test>",
        "segments": [segment.pk],
        "steps": [{"order": 1, "template": template.name}],
    }

    created = api_client.post(f"{API}/campaigns", body, format="json")
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    assert created.json()["segments"] == [segment.pk]
    dry_run = api_client.get(f"{API}/campaigns/{campaign_id}/dry-run").json()

    assert (dry_run["on_lists"], dry_run["sendable"]) == (1, 1)
    assert api_client.post(f"{API}/campaigns/{campaign_id}/schedule").status_code == 200


def test_a_list_or_a_campaign_a_segments_rules_name_is_not_deleted_under_it(api_client):
    from tests.factories import ContactListFactory, ListMembershipFactory

    hold = ContactListFactory(name="Legal hold")
    ListMembershipFactory(contact_list=hold)
    earlier = CampaignFactory(name="Spring", status=Campaign.Status.CANCELLED)
    SegmentFactory(
        name="Mailable",
        definition={
            "match": "all",
            "rules": [
                {"list": hold.pk, "op": "not_in"},
                {"match": "any", "rules": [{"engagement": "opened", "campaigns": [earlier.pk]}]},
            ],
        },
    )

    refused_list = api_client.delete(f"{API}/lists/{hold.pk}")
    refused_campaign = api_client.delete(f"{API}/campaigns/{earlier.pk}")

    assert refused_list.status_code == 409
    assert "Mailable" in refused_list.json()["error"]["message"]
    assert refused_campaign.status_code == 409
    assert Campaign.objects.filter(pk=earlier.pk).exists()
    assert hold.memberships.count() == 1  # Nothing of it went.


def test_a_list_a_campaign_narrows_with_a_segment_is_not_deleted_to_widen_it(api_client):
    from tests.factories import ContactListFactory

    vips = ContactListFactory(name="VIP small")
    campaign = CampaignFactory(name="VIP offer", status=Campaign.Status.SCHEDULED)
    campaign.lists.add(vips)
    campaign.segments.add(SegmentFactory(definition=PRO))

    refused = api_client.delete(f"{API}/lists/{vips.pk}")

    assert refused.status_code == 409
    assert "VIP offer" in refused.json()["error"]["message"]
    assert list(campaign.lists.all()) == [vips]  # Never read as "segments alone": everyone in them.


def test_the_apis_refusals_read_in_german_when_asked_for(api_client):
    reader = _client("read")

    missing = api_client.get(f"{API}/segments/9999", HTTP_ACCEPT_LANGUAGE="de")
    refused = reader.delete(f"{API}/segments/9999", HTTP_ACCEPT_LANGUAGE="de")
    invalid = api_client.post(
        f"{API}/segments/count", {"definition": {}}, format="json", HTTP_ACCEPT_LANGUAGE="de"
    )

    assert missing.json()["error"]["message"] == "Nicht gefunden."
    assert "fehlt die Berechtigung" in refused.json()["error"]["message"]
    assert invalid.json()["error"]["message"] == "Die Anfrage ist ungültig; siehe die Felder."
