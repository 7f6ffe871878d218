"""Unknown rows: re-queued only when Send events prove SES never took them, never on a guess."""

import json
from datetime import timedelta

import pytest
from botocore.exceptions import EndpointConnectionError
from django.utils import timezone

from campaigns.models import Campaign, CampaignAudit
from delivery.models import StepExecution
from tests.factories import CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tests.tracking.sns_signing import TOPIC
from tests.tracking.test_ses_events import fixture, for_row
from tracking import inbox, unknown_rows
from tracking.models import SendEventsCheck, SnsMessage, TrackingEvent

pytestmark = pytest.mark.django_db

Status = StepExecution.Status
SET = "marketing"
SNS_SEND = {"Name": "to-webhook", "Enabled": True, "MatchingEventTypes": ["SEND", "DELIVERY"]}


class FakeSesV2:
    """SESv2's GetConfigurationSetEventDestinations, answering as told."""

    def __init__(self, destinations=None, error=None):
        self.destinations, self.error, self.asked = destinations or [], error, []

    def get_configuration_set_event_destinations(self, *, ConfigurationSetName):
        self.asked.append(ConfigurationSetName)
        if self.error:
            raise self.error
        return {"EventDestinations": self.destinations}


@pytest.fixture
def sesv2(monkeypatch):
    fake = FakeSesV2([{**SNS_SEND, "SnsDestination": {"TopicArn": "arn:aws:sns:eu-west-1:1:ses"}}])
    monkeypatch.setattr(unknown_rows, "sesv2_client", lambda: fake)
    return fake


@pytest.fixture
def step(settings):
    settings.SES_UNKNOWN_RESOLVE_SECONDS = 900
    return CampaignStepFactory(campaign__configuration_set=SET, campaign__status=Campaign.Status.COMPLETED)


def _row(step, *, status, minutes_ago, send_event=False):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    row = StepExecutionFactory(step=step, status=status, send_started_at=started)
    if send_event:
        TrackingEventFactory(
            type=TrackingEvent.Type.SEND,
            step_execution=row,
            configuration_set=SET,
            occurred_at=started + timedelta(seconds=1),
            recipient=row.email,
        )
    return row


def test_a_silent_row_that_later_send_events_passed_goes_back_to_pending_with_an_audit_entry(sesv2, step):
    lost = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    _row(step, status=Status.SENT, minutes_ago=18, send_event=True)  # The stream has passed it.

    assert unknown_rows.unknown_rows_resolve() == 1

    lost.refresh_from_db()
    assert (lost.status, lost.send_started_at) == (Status.PENDING, None)
    assert "SES never took it" in lost.last_error
    step.campaign.refresh_from_db()
    assert step.campaign.status == Campaign.Status.SENDING  # Reopened to send it.
    audit = CampaignAudit.objects.get(campaign=step.campaign)
    assert audit.action == "reopen"
    assert "1 unknown rows queued again" in audit.note


@pytest.mark.parametrize(
    "later_minutes_ago",
    [None, 25],  # No Send event at all since (a stalled subscription), or only for an earlier call.
)
def test_without_send_events_after_it_a_silent_row_stays_unknown(sesv2, step, later_minutes_ago):
    lost = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    if later_minutes_ago:
        _row(step, status=Status.SENT, minutes_ago=later_minutes_ago, send_event=True)
    assert unknown_rows.unknown_rows_resolve() == 0
    lost.refresh_from_db()
    assert lost.status == Status.UNKNOWN


def test_a_row_inside_the_window_or_with_its_own_send_event_stays(sesv2, step):
    recent = _row(step, status=Status.UNKNOWN, minutes_ago=10)
    heard = _row(step, status=Status.UNKNOWN, minutes_ago=20, send_event=True)
    _row(step, status=Status.SENT, minutes_ago=5, send_event=True)
    assert unknown_rows.unknown_rows_resolve() == 0
    assert {row.status for row in StepExecution.objects.filter(pk__in=[recent.pk, heard.pk])} == {
        Status.UNKNOWN
    }


@pytest.mark.parametrize(
    "fake",
    [
        FakeSesV2([{**SNS_SEND, "KinesisFirehoseDestination": {}}]),  # Send events, but not to us.
        FakeSesV2([{**SNS_SEND, "Enabled": False, "SnsDestination": {}}]),
        FakeSesV2([{**SNS_SEND, "MatchingEventTypes": ["DELIVERY"], "SnsDestination": {}}]),
        FakeSesV2(error=EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com")),
    ],
)
def test_where_send_events_are_not_published_to_us_nothing_is_re_queued(monkeypatch, step, fake):
    monkeypatch.setattr(unknown_rows, "sesv2_client", lambda: fake)
    lost = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    _row(step, status=Status.SENT, minutes_ago=18, send_event=True)
    assert unknown_rows.unknown_rows_resolve() == 0
    lost.refresh_from_db()
    assert lost.status == Status.UNKNOWN
    check = SendEventsCheck.objects.get(configuration_set=SET)
    assert not check.published
    assert check.detail


def test_ses_is_asked_about_a_configuration_set_at_most_hourly(sesv2, step):
    _row(step, status=Status.UNKNOWN, minutes_ago=20)
    unknown_rows.unknown_rows_resolve()
    unknown_rows.unknown_rows_resolve()
    assert sesv2.asked == [SET]
    unknown_rows.unknown_rows_resolve(now=timezone.now() + timedelta(hours=2))
    assert sesv2.asked == [SET, SET]


def test_a_cancelled_campaigns_unknown_row_never_stops_another_campaigns_from_being_resolved(sesv2, step):
    cancelled = CampaignStepFactory(
        campaign__configuration_set=SET, campaign__status=Campaign.Status.CANCELLED
    )
    _row(cancelled, status=Status.UNKNOWN, minutes_ago=20)  # Nothing more goes out for it.
    lost = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    _row(step, status=Status.SENT, minutes_ago=18, send_event=True)

    assert unknown_rows.unknown_rows_resolve() == 1

    lost.refresh_from_db()
    assert lost.status == Status.PENDING
    assert StepExecution.objects.get(step=cancelled).status == Status.UNKNOWN


def test_a_row_that_bounced_is_never_sent_again_though_its_send_event_was_lost(sesv2, step):
    bounced = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    TrackingEventFactory(
        type=TrackingEvent.Type.BOUNCE, step_execution=bounced, configuration_set=SET, recipient=bounced.email
    )  # SES bounced it: it took it. Its Send event never came.
    _row(step, status=Status.SENT, minutes_ago=18, send_event=True)

    assert unknown_rows.unknown_rows_resolve() == 0

    bounced.refresh_from_db()
    assert bounced.status == Status.UNKNOWN


def test_a_row_whose_send_event_came_but_waits_in_the_inbox_is_never_sent_again(sesv2, step):
    # SNS keeps no order: the Send event of the earlier call arrived after a later one's, and beat
    # applied the later one first (the inbox runs behind under load). Received is heard.
    waiting = _row(step, status=Status.UNKNOWN, minutes_ago=20)
    _row(step, status=Status.SENT, minutes_ago=18, send_event=True)
    record = for_row(fixture("event-send.json"), waiting)
    record["mail"]["messageId"] = "0100-arrived-late"  # Never learnt: the call's answer was lost.
    stored = SnsMessage.objects.create(message_id="sns-late", topic_arn=TOPIC, message=json.dumps(record))

    assert unknown_rows.unknown_rows_resolve() == 0

    waiting.refresh_from_db()
    assert waiting.status == Status.UNKNOWN
    assert inbox.sns_message_apply(message_id=stored.pk)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.ses_message_id) == (Status.SENT, "0100-arrived-late")
