"""Applying SES events: reconciliation, outcomes, suppression by bounce class, the reputation guard."""

import copy
import json
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Suppression
from delivery.models import StepExecution
from tests.factories import ContactFactory, StepExecutionFactory
from tests.tracking.sns_signing import TOPIC
from tests.utils import metric_value
from tracking import alerts, inbox
from tracking.models import SnsMessage, SoftBounceStreak, TrackingEvent
from tracking.selectors import campaign_stats

pytestmark = pytest.mark.django_db

Status, Outcome = StepExecution.Status, StepExecution.Outcome
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def for_row(record: dict, row: StepExecution, *, tagged: bool = True) -> dict:
    """Return the record addressed to a ledger row: its MessageId, its address, and its tag if tagged."""
    record = copy.deepcopy(record)
    record["mail"]["messageId"] = row.ses_message_id
    record["mail"]["destination"] = [row.email]
    tags = record["mail"].setdefault("tags", {})
    if tagged:
        tags["campanile_step_execution"] = [str(row.tracking_id)]
    for key, entries in (
        ("bounce", "bouncedRecipients"),
        ("complaint", "complainedRecipients"),
        ("deliveryDelay", "delayedRecipients"),
    ):
        if key in record:
            for entry in record[key][entries]:
                entry["emailAddress"] = row.email
    if "delivery" in record:
        record["delivery"]["recipients"] = [row.email]
    return record


def bounce(row, *, kind="Permanent", subtype="General", status="5.1.1", tagged=True) -> dict:
    record = for_row(fixture("event-bounce-permanent.json"), row, tagged=tagged)
    record["bounce"].update(bounceType=kind, bounceSubType=subtype)
    record["bounce"]["bouncedRecipients"][0]["status"] = status
    return record


def deliver(record: dict, *, received_at=None) -> tuple[SnsMessage, bool]:
    """Store a record as SNS would have brought it, and apply it; return it and whether it applied."""
    message = SnsMessage.objects.create(
        message_id=str(uuid.uuid4()),
        topic_arn=TOPIC,
        message=json.dumps(record),
        received_at=received_at or timezone.now(),
    )
    applied = inbox.sns_message_apply(message_id=message.pk)
    message.refresh_from_db()
    return message, applied


def _metric(name: str, **labels) -> float:
    return metric_value(name, **labels)


def sent_row(**fields) -> StepExecution:
    return StepExecutionFactory(status=Status.SENT, ses_message_id=f"ses-{uuid.uuid4()}", **fields)


def test_every_fixture_applies_and_is_recorded_once_per_recipient(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0  # Fixtures name MessageIds that no row has.
    bounces_before = _metric("campanile_ses_events_total", type="bounce")
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name.startswith(("event-", "notification-")):
            message, applied = deliver(json.loads(path.read_text()))
            assert applied, path.name
            assert message.applied_at is not None, path.name
    assert TrackingEvent.objects.filter(type=TrackingEvent.Type.BOUNCE).count() == 3  # 1 + 2 recipients
    assert _metric("campanile_ses_events_total", type="bounce") == bounces_before + 3


def test_a_send_event_reconciles_an_unknown_row_by_its_tag():
    row = StepExecutionFactory(status=Status.UNKNOWN)
    record = for_row(fixture("event-send.json"), row)
    record["mail"]["messageId"] = "ses-from-the-event"
    deliver(record)
    row.refresh_from_db()
    assert (row.status, row.ses_message_id) == (Status.SENT, "ses-from-the-event")


# The event comes before the ledger row has its MessageId.
def test_an_untagged_bounce_suppresses_at_once_and_waits_only_to_be_linked_to_its_row(settings):
    row = StepExecutionFactory(status=Status.SENDING)  # SES answered; the worker has not committed.
    record = bounce(row, tagged=False)
    record["mail"]["messageId"] = "ses-not-committed-yet"
    message, applied = deliver(record)
    assert not applied
    assert message.applied_at is None
    assert "ses-not-committed-yet" in message.note
    assert not TrackingEvent.objects.exists()  # The event and its counts wait for the row…
    assert Suppression.objects.get().email == row.email  # …the suppression does not.

    StepExecution.objects.filter(pk=row.pk).update(status=Status.SENT, ses_message_id="ses-not-committed-yet")
    assert inbox.sns_messages_pending() == []  # Not tried again at once…
    assert inbox.sns_messages_pending(now=message.retry_at) == [message.pk]  # …but soon.
    assert inbox.sns_message_apply(message_id=message.pk)
    event = TrackingEvent.objects.get()
    assert event.step_execution_id == row.pk
    assert Suppression.objects.get().email == row.email  # Once, with its first reason.
    row.refresh_from_db()
    assert row.outcome == Outcome.BOUNCED


def test_an_untagged_event_that_never_finds_its_row_is_kept_unlinked_after_the_wait(settings):
    settings.SES_EVENT_WAIT_SECONDS = 60
    record = bounce(StepExecutionFactory.build(ses_message_id="ses-sent-by-someone-else"), tagged=False)
    _message, applied = deliver(record, received_at=timezone.now() - timedelta(seconds=61))
    assert applied
    event = TrackingEvent.objects.get()
    assert event.step_execution is None
    assert Suppression.objects.filter(email=event.recipient).exists()  # Suppressed whoever sent it.


# Delivery and Bounce, in either order.
@pytest.mark.parametrize("order", [("delivery", "bounce"), ("bounce", "delivery")])
def test_delivery_and_bounce_in_either_order_end_bounced_with_one_suppression(order):
    row = sent_row()
    records = {
        "delivery": for_row(fixture("event-delivery.json"), row),
        "bounce": bounce(row),
    }
    for name in order:
        deliver(records[name])
    row.refresh_from_db()
    assert row.outcome == Outcome.BOUNCED
    assert Suppression.objects.filter(email=row.email).count() == 1


def test_the_outcome_only_climbs():
    row = sent_row()
    deliver(for_row(fixture("event-complaint.json"), row))
    deliver(for_row(fixture("event-delivery.json"), row))
    deliver(for_row(fixture("event-delivery-delay.json"), row))
    row.refresh_from_db()
    assert row.outcome == Outcome.COMPLAINED


# A bounce naming 3 of 5 destinations.
def test_exactly_the_bounced_recipients_of_a_multi_recipient_bounce_are_suppressed(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0
    record = fixture("event-bounce-permanent.json")
    everyone = [f"person{n}@example.com" for n in range(5)]
    record["mail"]["destination"] = everyone
    template = record["bounce"]["bouncedRecipients"][0]
    record["bounce"]["bouncedRecipients"] = [
        {**template, "emailAddress": address} for address in everyone[1:4]
    ]
    deliver(record)
    assert sorted(Suppression.objects.values_list("email", flat=True)) == everyone[1:4]
    assert TrackingEvent.objects.count() == 3


# The suppression policy.
@pytest.mark.parametrize(
    ("bounce_type", "subtype", "status", "suppressed_as", "kind"),
    [
        ("Permanent", "General", "5.1.1", Suppression.Reason.HARD_BOUNCE, "hard"),
        ("Transient", "General", "5.1.1", Suppression.Reason.HARD_BOUNCE, "hard"),
        (
            "Permanent",
            "OnAccountSuppressionList",
            "",
            Suppression.Reason.ACCOUNT_SUPPRESSION,
            "account_suppressed",
        ),
        ("Permanent", "General", "5.7.1", None, "block"),
        ("Transient", "General", "5.7.606", None, "block"),
        ("Transient", "MailboxFull", "4.2.2", None, "soft"),
        ("Undetermined", "Undetermined", "", None, "soft"),
    ],
)
def test_bounces_suppress_by_their_class(bounce_type, subtype, status, suppressed_as, kind):
    row = sent_row()
    deliver(bounce(row, kind=bounce_type, subtype=subtype, status=status))
    assert TrackingEvent.objects.get().kind == kind
    assert list(Suppression.objects.values_list("reason", flat=True)) == (
        [suppressed_as] if suppressed_as else []
    )


def test_a_complaint_suppresses_at_once():
    row = sent_row()
    deliver(for_row(fixture("event-complaint.json"), row))
    assert Suppression.objects.get(email=row.email).reason == Suppression.Reason.COMPLAINT


def test_soft_bounces_suppress_at_the_limit_and_a_delivery_resets_the_streak(settings):
    settings.SES_SOFT_BOUNCE_LIMIT = 3
    contact = ContactFactory()
    rows = [sent_row(contact=contact) for _ in range(6)]

    deliver(bounce(rows[0], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(bounce(rows[1], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(for_row(fixture("event-delivery.json"), rows[2]))  # Resets.
    deliver(bounce(rows[3], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(bounce(rows[4], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    assert not Suppression.objects.exists()
    assert SoftBounceStreak.objects.get(email=contact.email).count == 2

    deliver(bounce(rows[5], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    suppression = Suppression.objects.get(email=contact.email)
    assert suppression.reason == Suppression.Reason.SOFT_BOUNCE
    assert "3 soft bounces in a row" in suppression.detail


def test_one_soft_bounce_reported_twice_counts_once_towards_the_streak(settings):
    settings.SES_SOFT_BOUNCE_LIMIT = 3
    contact = ContactFactory()
    first, second = sent_row(contact=contact), sent_row(contact=contact)
    soft = {"kind": "Transient", "subtype": "MailboxFull", "status": "4.2.2"}

    # One bounce, under two SNS messages (an event destination and an identity notification).
    deliver(bounce(first, **soft))
    deliver(bounce(first, **soft))
    deliver(bounce(second, **soft))

    assert SoftBounceStreak.objects.get(email=contact.email).count == 2
    assert not Suppression.objects.exists()  # Two emails bounced, not three.


def test_an_unreadable_record_is_set_aside_not_retried_forever():
    message, applied = deliver({"eventType": "Bounce", "mail": {}})
    assert applied
    assert message.note.startswith("Not an SES event record")
    assert not TrackingEvent.objects.exists()


def test_applying_a_message_twice_changes_nothing():
    row = sent_row()
    soft, _ = deliver(bounce(row, kind="Transient", subtype="MailboxFull", status="4.2.2"))
    hard, _ = deliver(bounce(sent_row()))
    SnsMessage.objects.update(applied_at=None)  # As if their tasks ran again.
    assert inbox.sns_message_apply(message_id=soft.pk)
    assert inbox.sns_message_apply(message_id=hard.pk)
    assert TrackingEvent.objects.count() == 2
    assert Suppression.objects.count() == 1
    assert SoftBounceStreak.objects.get(email=row.email).count == 1


# The reputation guard.
def _sending_campaign_with(rows: int) -> list[StepExecution]:
    first = sent_row()
    campaign = first.step.campaign
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    return [first] + [sent_row(step=first.step) for _ in range(rows - 1)]


def test_a_campaign_pauses_itself_when_hard_bounces_pass_the_limit(settings):
    settings.SES_REPUTATION_MIN_SENT = 50
    settings.SES_BOUNCE_RATE_LIMIT = 0.04
    rows = _sending_campaign_with(50)
    for row in rows[:2]:  # 4%: at the limit, not over it.
        deliver(bounce(row))
    campaign = rows[0].step.campaign
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    paused_before = _metric("campanile_reputation_pauses_total", scope="campaign")
    deliver(bounce(rows[2]))  # 6%
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert _metric("campanile_reputation_pauses_total", scope="campaign") == paused_before + 1
    assert "hard bounces 6.000% of 50 sent" in campaign.status_note


def test_the_guard_waits_for_enough_mail_and_ignores_soft_bounces_and_blocks(settings):
    settings.SES_REPUTATION_MIN_SENT = 50
    rows = _sending_campaign_with(50)
    for row in rows[:10]:
        deliver(bounce(row, kind="Transient", subtype="MailboxFull", status="4.2.2"))
        deliver(bounce(row, kind="Permanent", subtype="General", status="5.7.1"))
    settings.SES_REPUTATION_MIN_SENT = 51
    for row in rows[10:20]:
        deliver(bounce(row))
    campaign = rows[0].step.campaign
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING


def test_a_campaign_pauses_itself_on_complaints(settings):
    settings.SES_REPUTATION_MIN_SENT = 50
    rows = _sending_campaign_with(50)
    deliver(for_row(fixture("event-complaint.json"), rows[0]))  # 2% > 0.08%
    campaign = rows[0].step.campaign
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "complaints" in campaign.status_note


def not_spam(row, *, tagged=True) -> dict:
    """Return SES's complaint record of a row, of the ARF feedback type saying the mail is NOT spam."""
    record = for_row(fixture("event-complaint.json"), row, tagged=tagged)
    record["complaint"]["complaintFeedbackType"] = "not-spam"
    return record


def test_a_not_spam_report_is_kept_but_counts_suppresses_and_alarms_for_nothing(settings):
    settings.SES_REPUTATION_MIN_SENT = 50
    rows = _sending_campaign_with(50)
    deliver(for_row(fixture("event-delivery.json"), rows[0]))
    deliver(not_spam(rows[0]))  # As a complaint, 2% would pause the campaign.

    event = TrackingEvent.objects.get(type=TrackingEvent.Type.COMPLAINT)
    assert (event.kind, event.step_execution_id) == ("not-spam", rows[0].pk)  # On record.
    assert not Suppression.objects.exists()
    rows[0].refresh_from_db()
    assert rows[0].outcome == Outcome.DELIVERED
    campaign = Campaign.objects.get(steps=rows[0].step_id)
    assert campaign.status == Campaign.Status.SENDING
    stats = campaign_stats(campaign=campaign)
    assert (stats["complained"], stats["suppressed"], stats["rates"]["complaint"]) == (0, 0, 0.0)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now())
    assert alerts.alerts_check() == []


def test_a_not_spam_report_waiting_for_its_row_suppresses_nothing():
    row = StepExecutionFactory(status=Status.SENDING)  # SES answered; the worker has not committed.
    record = not_spam(row, tagged=False)
    record["mail"]["messageId"] = "ses-not-committed-yet"

    _message, applied = deliver(record)

    assert not applied
    assert not Suppression.objects.exists()


def test_the_apply_tick_is_scheduled_every_sns_apply_seconds(settings):
    from config.celery import app

    app.loader.import_default_modules()  # Discover the apps' tasks, as a worker does at start.
    entry = settings.CELERY_BEAT_SCHEDULE["sns-messages-apply"]
    assert entry["schedule"] == settings.SNS_APPLY_SECONDS
    assert entry["task"] in app.tasks


@pytest.mark.django_db(transaction=True)
def test_two_workers_applying_at_once_apply_each_message_once(postgres_only):
    contact = ContactFactory()
    rows = [sent_row(contact=contact) for _ in range(20)]  # Twenty emails to one address, each bouncing.
    for row in rows:
        SnsMessage.objects.create(
            message_id=str(uuid.uuid4()),
            topic_arn=TOPIC,
            message=json.dumps(bounce(row, kind="Transient", subtype="MailboxFull", status="4.2.2")),
        )

    def work():
        try:
            inbox.sns_messages_apply(budget_seconds=30)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not SnsMessage.objects.filter(applied_at__isnull=True).exists()
    assert TrackingEvent.objects.count() == 20
    assert SoftBounceStreak.objects.get(email=contact.email).count == 20  # No message counted twice.


def _sends_in_the_set(name: str, *, count: int) -> None:
    """Deliver `count` Send events of the configuration set, just now: the mail its rates are over."""
    for n in range(count):
        send = fixture("event-send.json")
        send["mail"]["messageId"] = f"ses-{n}"
        send["mail"]["tags"] = {"ses:configuration-set": [name]}
        send["mail"]["timestamp"] = timezone.now().isoformat()
        deliver(send)


def test_a_configuration_set_over_its_rolling_limit_pauses_its_sending_campaigns(settings):
    settings.SES_REPUTATION_MIN_SENT = 20
    settings.SES_CONFIGURATION_SET = "marketing"
    settings.SES_EVENT_WAIT_SECONDS = 0  # These events name no ledger row.
    rows = _sending_campaign_with(1)  # Uses the default set, "marketing".
    named = sent_row()
    Campaign.objects.filter(pk=named.step.campaign_id).update(
        status=Campaign.Status.SENDING, configuration_set="marketing"
    )
    other = sent_row()
    Campaign.objects.filter(pk=other.step.campaign_id).update(
        status=Campaign.Status.SENDING, configuration_set="transactional"
    )
    _sends_in_the_set("marketing", count=20)
    old = fixture("event-bounce-permanent.json")  # Outside the window: does not count.
    old["bounce"]["timestamp"] = (timezone.now() - timedelta(hours=25)).isoformat()
    old["mail"]["tags"] = {"ses:configuration-set": ["marketing"]}
    deliver(old)
    assert Campaign.objects.filter(status=Campaign.Status.PAUSED).count() == 0

    recent = fixture("event-bounce-permanent.json")
    recent["bounce"]["timestamp"] = timezone.now().isoformat()
    recent["mail"]["tags"] = {"ses:configuration-set": ["marketing"]}
    deliver(recent)  # 1 of 20 = 5% > 4%
    paused = set(Campaign.objects.filter(status=Campaign.Status.PAUSED).values_list("pk", flat=True))
    assert paused == {rows[0].step.campaign_id, named.step.campaign_id}
    note = Campaign.objects.get(pk=named.step.campaign_id).status_note
    assert "configuration set marketing" in note


def test_a_bounce_whose_diagnostic_holds_a_nul_is_applied_and_holds_up_nothing():
    bounced, complained = sent_row(), sent_row()
    record = bounce(bounced)
    record["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "smtp; 550 gone\u0000\ud800 away"
    record["bounce"]["reportingMTA"] = "dns; mx\u0000.example"

    first, applied = deliver(record)
    _second, later = deliver(for_row(fixture("event-complaint.json"), complained))

    assert (applied, later) == (True, True)
    assert first.applied_at is not None
    assert Suppression.objects.filter(email__in=[bounced.email, complained.email]).count() == 2
    event = TrackingEvent.objects.get(step_execution=bounced, type="bounce")
    assert "\u0000" not in json.dumps(event.raw)


def test_a_record_with_a_message_id_longer_than_sess_is_set_aside_as_unreadable():
    record = for_row(fixture("event-delivery.json"), sent_row())
    record["mail"]["messageId"] = "x" * 101
    message, applied = deliver(record)
    assert applied is True
    assert message.applied_at is not None
    assert "longer than 100" in message.note
    assert not TrackingEvent.objects.exists()


def test_a_message_the_database_refuses_waits_then_is_set_aside_and_the_next_ones_apply(monkeypatch):
    from django.db import DataError

    from tracking.models import TrackingEvent as Event

    stuck, fine = sent_row(), sent_row()
    real = Event.objects.get_or_create

    def get_or_create(**kwargs):
        if kwargs.get("defaults", {}).get("recipient") == stuck.email:
            raise DataError("value too long")
        return real(**kwargs)

    monkeypatch.setattr(Event.objects, "get_or_create", get_or_create)
    held, _applied = deliver(bounce(stuck))
    _next, next_applied = deliver(for_row(fixture("event-complaint.json"), fine))

    assert next_applied is True  # The one behind it is not held up.
    assert (held.applied_at, "Could not be stored" in held.note) == (None, True)
    assert held.retry_at is not None
    for _ in range(inbox.SNS_STORE_ATTEMPTS):
        inbox.sns_message_apply(message_id=held.pk, now=timezone.now() + timedelta(hours=1))
    held.refresh_from_db()
    assert held.applied_at is not None  # Set aside, with its note, after its attempts.


def test_a_timestamp_out_of_range_is_unreadable_and_holds_up_nothing():
    stuck, fine = sent_row(), sent_row()
    record = for_row(fixture("event-complaint.json"), stuck)
    record["complaint"]["timestamp"] = "0001-01-01T00:00:00+05:00"

    message, applied = deliver(record)
    _next, next_applied = deliver(for_row(fixture("event-complaint.json"), fine))

    assert (applied, next_applied) == (True, True)
    assert "out of range" in message.note
    assert Suppression.objects.filter(email=fine.email).exists()


def test_a_passing_database_failure_never_sets_a_message_aside(monkeypatch):
    from django.db import OperationalError

    from tracking.models import TrackingEvent as Event

    row = sent_row()
    real = Event.objects.get_or_create

    def deadlocked(**kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(Event.objects, "get_or_create", deadlocked)
    message, _ = deliver(bounce(row))
    for _ in range(inbox.SNS_STORE_ATTEMPTS + 2):
        inbox.sns_message_apply(message_id=message.pk, now=timezone.now() + timedelta(hours=1))
    message.refresh_from_db()
    assert message.applied_at is None  # Still waiting: a deadlock says nothing of the message.

    monkeypatch.setattr(Event.objects, "get_or_create", real)
    assert inbox.sns_message_apply(message_id=message.pk, now=timezone.now() + timedelta(hours=2))
    assert Event.objects.filter(step_execution=row, type="bounce").exists()


def test_a_delivery_told_by_two_publishers_is_one_delivery():
    row = sent_row()
    tagged = for_row(fixture("event-delivery.json"), row)
    untagged = for_row(fixture("event-delivery.json"), row, tagged=False)

    deliver(tagged)
    deliver(untagged)  # The identity's notification of the same email.

    assert TrackingEvent.objects.filter(step_execution=row, type="delivery").count() == 1


@pytest.mark.parametrize("when", ["9999-12-31T23:59:00Z", "2001-01-01T00:00:00Z"])
def test_a_time_no_ses_event_could_have_is_unreadable(when):
    row = sent_row()
    record = for_row(fixture("event-delivery.json"), row)
    record["delivery"]["timestamp"] = when
    message, applied = deliver(record)
    assert applied is True
    assert "not a time SES could report" in message.note
    assert not TrackingEvent.objects.filter(step_execution=row).exists()


def test_a_linked_delivery_is_kept_though_an_unlinked_copy_came_first():
    row = StepExecutionFactory(status=Status.UNKNOWN, ses_message_id="")  # Its SES call got no answer.
    untagged = for_row(fixture("event-delivery.json"), row, tagged=False)
    untagged["mail"]["messageId"] = "ses-late-1"
    deliver(untagged, received_at=timezone.now() - timedelta(hours=2))  # Waited past its row: kept unlinked.
    for name in ("event-send.json", "event-delivery.json"):
        record = for_row(fixture(name), row)
        record["mail"]["messageId"] = "ses-late-1"
        if "delivery" in record:
            record["delivery"]["timestamp"] = timezone.now().isoformat()
        deliver(record)

    row.refresh_from_db()
    assert TrackingEvent.objects.filter(step_execution=row, type="delivery").count() == 1
    assert row.outcome == "delivered"


def test_an_event_whose_tag_is_no_uuid_is_applied_without_its_row_and_never_blocks_the_queue(settings):
    # Signed, so trusted; but a tag no ledger row can carry must not stop the messages after it.
    settings.SES_EVENT_WAIT_SECONDS = 0
    odd, fine = (
        StepExecutionFactory(status="unknown", ses_message_id="ses-odd"),
        StepExecutionFactory(status="unknown", ses_message_id="ses-fine"),
    )
    record = bounce(odd)
    record["mail"]["tags"]["campanile_step_execution"] = ["not-a-uuid"]

    _message, applied = deliver(record)
    assert applied
    _message, applied = deliver(for_row(fixture("event-delivery.json"), fine))
    assert applied
    assert StepExecution.objects.get(pk=fine.pk).status == "sent"


def test_an_unknown_row_settled_by_a_late_event_keeps_the_time_its_call_began(settings):
    from datetime import timedelta

    settings.SES_EVENT_WAIT_SECONDS = 0
    began = timezone.now() - timedelta(hours=2)
    row = StepExecutionFactory(status="unknown", ses_message_id="ses-late", send_started_at=began)

    deliver(for_row(fixture("event-complaint.json"), row))

    row.refresh_from_db()
    assert (row.status, row.sent_at) == ("sent", began)


def test_a_not_spam_report_never_counts_toward_a_configuration_sets_complaint_rate(settings):
    settings.SES_REPUTATION_MIN_SENT = 20
    settings.SES_CONFIGURATION_SET = "marketing"
    settings.SES_EVENT_WAIT_SECONDS = 0  # These events name no ledger row.
    rows = _sending_campaign_with(1)
    _sends_in_the_set("marketing", count=20)

    def in_the_set(record: dict, field: str) -> dict:
        record[field]["timestamp"] = timezone.now().isoformat()
        record["mail"]["tags"] = {"ses:configuration-set": ["marketing"]}
        return record

    not_spam = in_the_set(fixture("event-complaint.json"), "complaint")
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    deliver(not_spam)
    # A soft bounce runs the set's check: the not-spam report must not count as a complaint there.
    soft = in_the_set(fixture("event-bounce-permanent.json"), "bounce")
    soft["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    soft["bounce"]["bouncedRecipients"][0]["status"] = "4.2.2"
    deliver(soft)
    assert not Campaign.objects.filter(status=Campaign.Status.PAUSED).exists()

    deliver(in_the_set(fixture("event-complaint.json"), "complaint"))  # A real one: 1 of 20.
    assert Campaign.objects.filter(pk=rows[0].step.campaign_id, status=Campaign.Status.PAUSED).exists()
