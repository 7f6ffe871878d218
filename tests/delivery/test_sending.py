"""Sending a claimed batch: personalization, SES's answers, throttling, unknown fates."""

import email
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from botocore.exceptions import ReadTimeoutError
from django.db.models import Count
from django.utils import timezone

from campaigns.consent import contact_unsubscribe
from campaigns.models import Campaign, Contact
from delivery import compose, ledger, sending, services
from delivery.models import SendingHold, StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    SuppressionFactory,
    campaign_rows,
    sendable_campaign,
    started_campaign,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def test_send_batch_sends_personalized_mail_and_records_message_ids(ses):
    campaign = started_campaign(contacts=3, configuration_set="marketing")
    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.claimed, result.sent) == (3, 3)
    rows = list(campaign_rows(campaign))
    assert all(r.status == Status.SENT and r.ses_message_id and r.sent_at for r in rows)
    assert len({r.ses_message_id for r in rows}) == 3
    messages = sent_messages()
    assert len(messages) == 3
    by_recipient = {m.destinations[0]: email.message_from_string(m.raw_data) for m in messages}
    for row in rows:
        mime = by_recipient[row.email]
        assert mime["Subject"] == f"Hello {row.contact.first_name}"
        assert mime["X-SES-CONFIGURATION-SET"] == "marketing"
        assert f"campanile_step_execution={row.tracking_id}" in mime["X-SES-MESSAGE-TAGS"]


@pytest.fixture
def concurrent_sending(postgres_only, transactional_db, settings):
    """Send with four threads; they use connections of their own, closed after the test."""
    settings.SEND_CONCURRENCY = 4
    yield
    sending.send_executor_shutdown()


def test_concurrent_sending_sends_every_row_once(concurrent_sending, ses):
    campaign = started_campaign(contacts=20)

    result = sending.step_send_batch(step=campaign.steps.get(), size=20)

    assert (result.sent, result.failed, result.released) == (20, 0, 0)
    recipients = [m.destinations[0] for m in sent_messages()]
    assert sorted(recipients) == sorted(r.email for r in campaign_rows(campaign))
    assert len(set(recipients)) == 20
    assert len({r.ses_message_id for r in campaign_rows(campaign)}) == 20


def test_concurrent_sending_hands_back_what_ses_did_not_take(concurrent_sending, ses, inject_ses_error):
    campaign = started_campaign(contacts=20)
    step = campaign.steps.get()
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.", times=1)

    result = sending.step_send_batch(step=step, size=20)

    assert result.released >= 1
    assert result.failed == 0
    assert result.sent + result.released == 20
    assert campaign_rows(campaign).filter(status=Status.PENDING).count() == result.released
    sending.step_send_batch(step=step, size=20)
    recipients = [m.destinations[0] for m in sent_messages()]
    assert sorted(recipients) == sorted(r.email for r in campaign_rows(campaign))
    assert len(set(recipients)) == 20


def test_send_batch_checks_suppression_at_claim_time(ses):
    campaign = started_campaign(contacts=3)
    rows = list(campaign_rows(campaign))
    SuppressionFactory(email=rows[0].email)
    contact_unsubscribe(contact=rows[1].contact)

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.suppressed) == (1, 2)
    assert [r.status for r in campaign_rows(campaign)] == [Status.SUPPRESSED, Status.SUPPRESSED, Status.SENT]
    assert [m.destinations[0] for m in sent_messages()] == [rows[2].email]


def test_a_contact_stored_before_the_address_rule_is_not_mailed_past_its_suppression(ses):
    from campaigns import services as campaign_services
    from delivery import fan_out

    campaign = sendable_campaign(contacts=3)
    stored = ['"sup1"@example.com', "sup2@bücher.example", " sup3@example.com"]
    for contact, address in zip(
        Contact.objects.filter(lists__campaigns=campaign).order_by("pk"), stored, strict=True
    ):
        Contact.objects.filter(pk=contact.pk).update(email=address)  # Saved before the rule.
    # SES reports their bounces in the rule's form, and the suppressions are stored so.
    for address in ("sup1@example.com", "sup2@xn--bcher-kva.example", "sup3@example.com"):
        SuppressionFactory(email=address)
    campaign_services.campaign_schedule(campaign=campaign)
    services.campaign_dispatch(campaign=campaign)
    fan_out.step_fan_out(step=campaign.steps.get())

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.suppressed) == (0, 3)
    assert sent_messages() == []


def test_throttling_releases_rows_to_pending_and_never_fails(ses, inject_ses_error):
    campaign = started_campaign(contacts=3)
    step = campaign.steps.get()
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.", times=1)

    result = sending.step_send_batch(step=step)

    assert (result.sent, result.failed, result.released) == (0, 0, 3)
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert "Maximum sending rate exceeded" in campaign_rows(campaign).first().last_error
    assert sent_messages() == []
    # Once SES lets us, every row goes out exactly once.
    sending.step_send_batch(step=step)
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(
        r.email for r in campaign_rows(campaign)
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"<html><body><h1>500 Internal Server Error</h1></body></html>"),  # botocore: code "500"
        (502, b"Bad gateway"),  # botocore can't parse it at all
        (503, b""),
    ],
)
def test_an_ses_or_proxy_5xx_in_any_format_is_transient_and_fails_nobody(ses, inject_ses_error, status, body):
    campaign = started_campaign(contacts=3)
    inject_ses_error(status=status, answer=body, times=1)

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.failed, result.unknown, result.released) == (0, 0, 3)
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    sending.step_send_batch(step=campaign.steps.get())
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert len(sent_messages()) == 3


def test_a_success_answer_that_cannot_be_read_leaves_the_row_unknown(ses, inject_ses_error):
    campaign = started_campaign(contacts=1)
    inject_ses_error(status=200, answer=b"<SendRawEmailResponse><truncated", times=1)

    result = sending.step_send_batch(step=campaign.steps.get())

    assert result.unknown == 1  # SES may have taken it: never sent again blindly.
    assert campaign_rows(campaign).get().status == Status.UNKNOWN


def test_rejected_message_fails_that_row_with_the_reason(ses, inject_ses_error):
    campaign = started_campaign(contacts=2)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=1)

    result = sending.step_send_batch(step=campaign.steps.get())

    first, second = campaign_rows(campaign)
    assert (result.failed, result.sent) == (1, 1)
    assert first.status == Status.FAILED
    assert "MessageRejected: Email address is not verified." in first.last_error
    assert second.status == Status.SENT


def test_throttling_inside_a_send_task_backs_off_with_jitter_and_finishes(ses, inject_ses_error, monkeypatch):
    campaign = started_campaign(contacts=4)
    attempts = inject_ses_error(code="ThrottlingException", message="Maximum sending rate exceeded.", times=3)
    sleeps = []
    monkeypatch.setattr(sending, "sleep", sleeps.append)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    # Three throttled batches, each followed by a longer wait, then every row sent exactly once.
    assert len(sleeps) == 3
    assert 0.25 <= sleeps[0] <= 0.75
    assert 0.5 <= sleeps[1] <= 1.5
    assert 1.0 <= sleeps[2] <= 3.0
    assert len(attempts) == 3 + 4
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(
        r.email for r in campaign_rows(campaign)
    )
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_daily_quota_holds_all_sending_and_keeps_rows_pending(ses, inject_ses_error, settings, caplog):
    campaign = started_campaign(contacts=3)
    inject_ses_error(code="Throttling", message="Daily message quota exceeded.", times=1)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    hold = SendingHold.objects.get()
    assert hold.reason == SendingHold.Reason.DAILY_QUOTA
    assert hold.until > timezone.now() + timedelta(seconds=settings.SES_QUOTA_PAUSE_SECONDS - 5)
    assert "daily sending quota exhausted" in caplog.text
    # No tight loop: no tick starts a sender while the hold lasts, and a sender claims nothing.
    assert services.delivery_tick() == []
    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    assert sent_messages() == []
    # Once the window allows, sending resumes where it stopped, without duplicates.
    with time_machine.travel(hold.until + timedelta(seconds=1)):
        Campaign.objects.filter(pk=campaign.pk).update(send_heartbeat_at=None)
        assert services.delivery_tick() == [campaign.pk]
        services.campaign_send(campaign=campaign, budget_seconds=30)
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(
        r.email for r in campaign_rows(campaign)
    )


@pytest.mark.parametrize(
    "code", ["SendingPausedException", "AccountSuspendedException", "AccountSendingPausedException"]
)
def test_ses_stopping_the_account_halts_all_sending_until_lifted(ses, inject_ses_error, code, caplog):
    campaign = started_campaign(contacts=2)
    inject_ses_error(code=code, message="Sending is paused for this account.", times=1)

    services.campaign_send(campaign=campaign, budget_seconds=30)

    hold = SendingHold.objects.get()
    assert (hold.reason, hold.until) == (SendingHold.Reason.SES_HALTED, None)
    assert any(record.levelname == "CRITICAL" for record in caplog.records)
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert sending.messages_send(budget_seconds=5) is False  # Transactional mail holds too.
    hold.delete()  # Someone fixed the account and lifted it in the admin.
    services.campaign_send(campaign=campaign, budget_seconds=30)
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_a_campaign_pauses_itself_after_too_many_failures_in_a_row(ses, inject_ses_error, settings, caplog):
    settings.SEND_MAX_CONSECUTIVE_ERRORS = 3
    settings.SEND_BATCH_SIZE = 2
    campaign = started_campaign(contacts=6)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=10)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_note.startswith("Paused itself after 4 failures in a row")
    counts = dict(campaign_rows(campaign).order_by().values_list("status").annotate(n=Count("pk")))
    assert counts == {Status.FAILED: 4, Status.PENDING: 2}  # Stopped after the batch that made 3.
    assert "paused itself after 4 failures in a row" in caplog.text


def test_a_success_between_failures_keeps_the_campaign_going(ses, inject_ses_error, settings):
    settings.SEND_MAX_CONSECUTIVE_ERRORS = 3
    settings.SEND_BATCH_SIZE = 2
    campaign = started_campaign(contacts=6)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=2)

    services.campaign_send(campaign=campaign, budget_seconds=30)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign_rows(campaign).filter(status=Status.FAILED).count() == 2


def test_unverified_sender_is_rejected_by_the_stand_in(ses):
    campaign = started_campaign(contacts=1, from_email="someone@unverified.test")
    sending.step_send_batch(step=campaign.steps.get())
    row = campaign_rows(campaign).get()
    assert row.status == Status.FAILED
    assert "MessageRejected" in row.last_error


def test_read_timeout_marks_row_unknown_without_retrying(ses, inject_ses_error):
    campaign = started_campaign(contacts=1)
    attempts = inject_ses_error(exception=ReadTimeoutError(endpoint_url="https://email.test"), times=5)

    result = sending.step_send_batch(step=campaign.steps.get())

    row = campaign_rows(campaign).get()
    assert result.unknown == 1
    assert row.status == Status.UNKNOWN
    # SES received it once; botocore must not have sent it again after the timeout.
    assert len(attempts) == 1
    assert len(sent_messages()) == 1


def _ses_send_event(*, tracking_id: str) -> dict:
    """Return AWS's sample Send event, carrying our row's tag as SES would echo it back."""
    record = json.loads((FIXTURES / "event-send.json").read_text())
    record["mail"]["tags"][compose.TAG_STEP_EXECUTION] = [tracking_id]
    return record


def test_an_unknown_row_is_reconciled_as_sent_by_its_ses_send_event(ses, inject_ses_error, caplog):
    campaign = started_campaign(contacts=1)
    inject_ses_error(exception=ReadTimeoutError(endpoint_url="https://email.test"), times=1)
    sending.step_send_batch(step=campaign.steps.get())
    row = campaign_rows(campaign).get()
    assert row.status == Status.UNKNOWN
    # Nothing re-sends it: it is neither claimable nor swept back.
    assert ledger.step_execution_claim_batch(step=campaign.steps.get(), size=5) == []

    # What the SES events webhook will hand over after reading the event.
    record = _ses_send_event(tracking_id=str(row.tracking_id))
    (tracking_id,) = record["mail"]["tags"][compose.TAG_STEP_EXECUTION]
    accepted_at = datetime.fromisoformat(record["mail"]["timestamp"])
    message_id = record["mail"]["messageId"]
    assert ledger.step_execution_reconcile(
        tracking_id=tracking_id, ses_message_id=message_id, accepted_at=accepted_at
    )

    row.refresh_from_db()
    assert (row.status, row.ses_message_id, row.sent_at) == (Status.SENT, message_id, accepted_at)
    assert len(sent_messages()) == 1
    # The Delivery event for the same message changes nothing more.
    assert not ledger.step_execution_reconcile(
        tracking_id=tracking_id, ses_message_id=message_id, accepted_at=accepted_at
    )
    # A second SES message for one row would be a double send: it is reported, not hidden.
    assert not ledger.step_execution_reconcile(
        tracking_id=tracking_id, ses_message_id="another-id", accepted_at=accepted_at
    )
    assert "was sent as" in caplog.text


def test_render_error_fails_only_that_row(ses):
    campaign = started_campaign(contacts=2)
    template = campaign.steps.get().template
    template.html_body = "<p>[{{ 'x'|ljust:attributes.width }}]</p>"
    template.save()
    first, _second = campaign_rows(campaign)
    # Past what one email may hold (TEMPLATE_MAX_OUTPUT_CHARS): that contact's email alone fails.
    Contact.objects.filter(pk=first.contact_id).update(attributes={"width": 10**9})
    Contact.objects.exclude(pk=first.contact_id).update(attributes={"width": 3})

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.failed, result.sent) == (1, 1)
    assert campaign_rows(campaign).first().status == Status.FAILED


def test_a_row_is_marked_as_begun_only_once_its_slot_has_come(ses, monkeypatch, settings):
    """A worker killed while it waits for its slot must leave a row plainly never sent."""
    settings.SES_MAX_SEND_RATE = 20  # Slots 50 ms apart.
    campaign = started_campaign(contacts=3)
    seen: list[tuple[str, float]] = []  # ("slot", its moment) and ("mark", when), in order.
    wait, start = sending.throttle.send_slot_wait, sending.step_execution_start_send

    def waiting(**kwargs):
        seen.append(("slot", wait(**kwargs)))
        return seen[-1][1]

    def marking(**kwargs):
        seen.append(("mark", time.monotonic()))
        return start(**kwargs)

    monkeypatch.setattr(sending.throttle, "send_slot_wait", waiting)
    monkeypatch.setattr(sending, "step_execution_start_send", marking)
    assert sending.step_send_batch(step=campaign.steps.get()).sent == 3
    marked = [index for index, (what, _) in enumerate(seen) if what == "mark"]
    assert len(marked) == 3
    # Each mark follows its row's slot, once it has come. A commit that stalls past the slot (a
    # loaded machine) takes a new slot after the mark, before the call: never a mark before a slot.
    assert all(index > 0 and seen[index - 1][0] == "slot" for index in marked)
    assert all(seen[index][1] >= seen[index - 1][1] for index in marked)


@pytest.mark.parametrize(
    ("field", "stored"),
    [
        ("from_email", "news@campanile.test, attacker@evil.test"),
        ("from_email", "e@evil.test,\u2028 <news@campanile.test>"),
        ("reply_to", "desk@campanile.test\u200b"),
    ],
)
def test_a_sender_stored_before_the_rule_fails_its_rows_and_never_becomes_two_addresses(ses, field, stored):
    campaign = started_campaign(contacts=2)
    # Saved around validation, as a row from before the sender rule would be.
    Campaign.objects.filter(pk=campaign.pk).update(**{field: stored})
    campaign.refresh_from_db()

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.failed) == (0, 2)
    assert sent_messages() == []
    assert all(
        row.status == Status.FAILED and "not a valid" in row.last_error for row in campaign_rows(campaign)
    )


def test_a_configuration_set_stored_with_a_line_break_fails_its_rows_with_the_reason(ses):
    campaign = started_campaign(contacts=2)
    # Saved around validation, as a row from before the rule would be.
    Campaign.objects.filter(pk=campaign.pk).update(configuration_set="set\r\nBcc: evil@example.com")
    campaign.refresh_from_db()

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.failed) == (0, 2)
    assert sent_messages() == []
    assert all(
        row.status == Status.FAILED and "configuration set" in row.last_error
        for row in campaign_rows(campaign)
    )


@pytest.mark.parametrize(
    "stored",
    ["b@example.com\nbcc: x@evil.example", "b@example.com\u2028", "b@example.com,x@evil.example"],
    ids=["line break", "idna refuses", "two addresses"],
)
def test_a_recipient_stored_with_a_line_break_fails_alone_and_the_batch_goes_on(ses, stored):
    campaign = started_campaign(contacts=3)
    bad = campaign_rows(campaign)[0]
    # Saved around validation, as a contact (and its row) from before the address rule would be.
    Contact.objects.filter(pk=bad.contact_id).update(email=stored)
    StepExecution.objects.filter(pk=bad.pk).update(email=stored)

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.failed) == (2, 1)
    bad.refresh_from_db()
    assert bad.status == Status.FAILED
    assert bad.last_error.startswith("Not sent:")
    assert all("evil" not in message.raw_data for message in sent_messages())
