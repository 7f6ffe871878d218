import pytest

from delivery.models import StepExecution
from tests.factories import (
    CampaignStepFactory,
    StepExecutionFactory,
    TrackingEventFactory,
    TransactionalMessageFactory,
)
from tracking import engagement

pytestmark = pytest.mark.django_db


def _row(step, status="sent"):
    return StepExecutionFactory(step=step, status=status)


def _event(row, event_type, **fields):
    return TrackingEventFactory(step_execution=row, type=event_type, recipient=row.email, **fields)


def test_stats_count_recipients_once_and_keep_machines_apart(api_client):
    step = CampaignStepFactory()
    rows = [_row(step) for _ in range(4)]
    _row(step, StepExecution.Status.FAILED)
    for row in rows[:3]:
        _event(row, "delivery")
    _event(rows[3], "bounce", kind="hard")
    _event(rows[0], "open")
    _event(rows[0], "open")
    _event(rows[1], "open", is_machine=True)
    _event(rows[0], "click")
    _event(rows[2], "complaint")
    engagement.engagement_rebuild()  # Count the opens and clicks written here, as the consumer would.

    body = api_client.get(f"/api/v1/campaigns/{step.campaign.pk}/stats").json()

    assert body["recipients"] == 5
    assert body["ledger"]["sent"] == 4
    assert body["ledger"]["failed"] == 1
    assert (body["delivered"], body["bounced"], body["complained"]) == (3, 1, 1)
    assert body["delivered_reported"] == 3  # Every opened email's delivery was reported.
    assert (body["opens_unique"], body["opens_total"], body["machine_opens_total"]) == (1, 2, 1)
    assert (body["clicks_unique"], body["clicks_total"]) == (1, 1)
    assert body["rates"]["delivery"] == 0.75
    assert body["rates"]["bounce"] == 0.25
    assert body["rates"]["open"] == round(1 / 3, 4)
    assert body["rates"]["click_to_open"] == 1.0


def test_stats_of_an_unsent_campaign_have_no_rates(api_client):
    step = CampaignStepFactory()
    body = api_client.get(f"/api/v1/campaigns/{step.campaign.pk}/stats").json()
    assert body["sent"] == 0
    assert set(body["rates"].values()) == {None}


def test_stats_without_delivery_events_leave_the_delivery_rate_blank_not_zero(api_client):
    step = CampaignStepFactory()
    rows = [_row(step) for _ in range(4)]
    _event(rows[0], "open")
    engagement.engagement_rebuild()

    body = api_client.get(f"/api/v1/campaigns/{step.campaign.pk}/stats").json()

    assert body["rates_base"] == "sent"
    assert body["rates"]["delivery"] is None  # Unknown, as the report's headline says.
    assert body["rates"]["open"] == 0.25


def test_events_filter_by_type_recipient_campaign_and_message(api_client, api_key):
    step = CampaignStepFactory()
    rows = [_row(step) for _ in range(2)]
    bounce = TrackingEventFactory(step_execution=rows[0], type="bounce", recipient=rows[0].email, kind="hard")
    _event(rows[1], "delivery")
    _event(_row(CampaignStepFactory()), "bounce")
    message_row = StepExecutionFactory(step=None, message=TransactionalMessageFactory(api_key=api_key[0]))
    sent = TrackingEventFactory(step_execution=message_row, type="send", recipient=message_row.email)

    def ids(**query):
        response = api_client.get("/api/v1/events", query)
        assert response.status_code == 200
        return [event["id"] for event in response.json()["results"]]

    assert ids(campaign=step.campaign.pk, type="bounce") == [bounce.pk]
    assert ids(recipient=rows[0].email.upper()) == [bounce.pk]
    assert ids(message=str(message_row.message_id)) == [sent.pk]
    body = api_client.get(f"/api/v1/events/{bounce.pk}").json()
    assert body | {"occurred_at": None} == {
        "id": bounce.pk,
        "type": "bounce",
        "occurred_at": None,
        "recipient": rows[0].email,
        "kind": "hard",
        "is_machine": False,
        "ses_message_id": "",
        "tracking_id": str(rows[0].tracking_id),
        "campaign": step.campaign.pk,
        "message": None,
    }
    assert api_client.post("/api/v1/events", {}).status_code == 405


@pytest.mark.parametrize(
    "query",
    [
        {"occurred_after": "0001-01-01T00:00:00+23:59"},
        {"occurred_before": "not a time"},
        {"campaign": "99999999999999999999"},
        {"campaign": "NaN"},
        {"message": "not-a-uuid"},
    ],
)
def test_event_filters_refuse_what_the_database_could_not_compare(api_client, query):
    response = api_client.get("/api/v1/events", query)
    assert response.status_code == 400
    assert api_client.get("/api/v1/events").status_code == 200  # Nothing left broken behind it.


def test_a_key_sees_its_own_messages_events_and_never_another_keys(api_client, api_key):
    theirs = StepExecutionFactory(step=None, message=TransactionalMessageFactory())  # Another key's.
    their_event = _event(theirs, "delivery")
    mine = StepExecutionFactory(step=None, message=TransactionalMessageFactory(api_key=api_key[0]))
    my_event = _event(mine, "delivery")
    campaign_event = _event(_row(CampaignStepFactory()), "delivery")

    listed = {event["id"] for event in api_client.get("/api/v1/events").json()["results"]}
    assert listed == {my_event.pk, campaign_event.pk}
    assert api_client.get("/api/v1/events", {"message": str(theirs.message_id)}).status_code == 400
    assert api_client.get(f"/api/v1/events/{their_event.pk}").status_code == 404


def test_an_event_whose_row_is_gone_is_no_keys(api_client, api_key):
    theirs = StepExecutionFactory(step=None, message=TransactionalMessageFactory())  # Another key's.
    orphan = _event(theirs, "delivery")
    theirs.message.delete()  # Its contact deleted: the message and its row go, the event stays.
    listed = {event["id"] for event in api_client.get("/api/v1/events").json()["results"]}
    assert orphan.pk not in listed
    assert api_client.get(f"/api/v1/events/{orphan.pk}").status_code == 404


def test_an_erased_contacts_events_are_answered_as_the_schema_describes_them(api_client, api_key):
    from drf_spectacular.generators import SchemaGenerator

    from tests.factories import TrackingEventFactory

    TrackingEventFactory(step_execution=_row(CampaignStepFactory()), recipient="")  # As an erasure leaves it.
    schema = SchemaGenerator().get_schema(request=None, public=True)

    answered = api_client.get("/api/v1/events").json()["results"]

    assert answered[0]["recipient"] == ""
    assert "format" not in schema["components"]["schemas"]["Event"]["properties"]["recipient"]
