import email
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from botocore.exceptions import ReadTimeoutError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.audience import contact_unsubscribe
from campaigns.models import Campaign, CampaignStep, Contact
from core import db as core_db
from delivery import compose, fan_out, ledger, sending, services
from delivery.models import SendingHold, StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    SuppressionFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def _started(contacts=3, **fields) -> Campaign:
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=contacts, **fields))
    services.campaign_dispatch(campaign=campaign)
    fan_out.step_fan_out(step=campaign.steps.get())
    campaign.refresh_from_db()
    return campaign


def _rows(campaign):
    return StepExecution.objects.filter(step__campaign=campaign).order_by("pk")


# --- Fan-out --------------------------------------------------------------------------------------


def test_fan_out_excludes_suppressed_and_unsubscribed_and_collapses_duplicates():
    campaign = sendable_campaign(contacts=2)
    audience = campaign.lists.get()
    second_list = audience.__class__.objects.create(name="Second")
    campaign.lists.add(second_list)
    twice = ContactFactory(email="twice@example.com")
    ListMembershipFactory(contact_list=audience, contact=twice)
    ListMembershipFactory(contact_list=second_list, contact=twice)
    ListMembershipFactory(contact_list=audience, contact=ContactFactory(status=Contact.Status.UNSUBSCRIBED))
    ListMembershipFactory(contact_list=audience, contact=ContactFactory(email="gone@example.com"))
    SuppressionFactory(email="gone@example.com")

    created = fan_out.step_fan_out(step=campaign.steps.get())

    rows = _rows(campaign)
    assert created == 3
    assert rows.count() == 3
    assert rows.filter(email="twice@example.com").count() == 1
    assert not rows.filter(email="gone@example.com").exists()
    assert set(rows.values_list("status", flat=True)) == {Status.PENDING}


def test_fan_out_over_rows_made_another_way_adds_only_the_missing_ones():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    first = campaign.lists.get().contacts.order_by("pk").first()
    existing = StepExecutionFactory(step=step, contact=first, email=first.email, status=Status.SENT)

    assert fan_out.step_fan_out(step=step) == 3

    assert _rows(campaign).filter(contact=first).get() == existing
    assert _rows(campaign).filter(status=Status.PENDING).count() == 2


def test_fan_out_again_creates_no_duplicates():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    fan_out.step_fan_out(step=step)
    fan_out.step_fan_out(step=step)
    assert _rows(campaign).count() == 3


def test_dispatch_marks_sending_and_the_send_task_fans_out_then_sends(ses):
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=4))
    services.campaign_dispatch(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert campaign.started_at is not None
    assert _rows(campaign).count() == 0
    assert not services.campaign_complete_if_done(campaign=campaign)  # Rows are still to come.

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert len(sent_messages()) == 4
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_fan_out_goes_range_by_range_and_commits_each():
    campaign = sendable_campaign(contacts=5)
    step = campaign.steps.get()
    first_id = campaign.lists.get().contacts.order_by("pk").first().pk

    # Ranges are contact ids; start from just before the audience so two ids make a range.
    CampaignStep.objects.filter(pk=step.pk).update(fan_out_cursor=first_id - 1)
    assert fan_out.step_fan_out_chunk(step=step, size=2) is False
    step.refresh_from_db()
    assert (_rows(campaign).count(), step.fan_out_cursor) == (2, first_id + 1)
    # A contact who arrives once the fan-out has begun is not in this send.
    ListMembershipFactory(contact_list=campaign.lists.get(), contact=ContactFactory())
    while not fan_out.step_fan_out_chunk(step=step, size=2):
        pass
    step.refresh_from_db()
    assert step.fanned_out_at is not None
    assert _rows(campaign).count() == 5


@pytest.mark.parametrize("debug", [False, True])
def test_fan_out_tracking_ids_are_unique_time_ordered_uuid7(debug, settings):
    settings.DEBUG = debug  # Django then formats each statement for its query log.
    campaign = sendable_campaign(contacts=20)
    fan_out.step_fan_out(step=campaign.steps.get())
    ids = list(_rows(campaign).values_list("tracking_id", flat=True))
    assert len(set(ids)) == 20
    assert {tracking_id.version for tracking_id in ids} == {7}
    assert {tracking_id.variant for tracking_id in ids} == {uuid.RFC_4122}
    milliseconds = [tracking_id.int >> 80 for tracking_id in ids]
    assert abs(milliseconds[0] / 1000 - time.time()) < 60


def test_a_send_task_out_of_time_mid_fan_out_resumes_it_next_time(ses, monkeypatch):
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=3))
    services.campaign_dispatch(campaign=campaign)
    step = campaign.steps.get()
    CampaignStep.objects.filter(pk=step.pk).update(
        fan_out_cursor=campaign.lists.get().contacts.order_by("pk")[0].pk - 1
    )
    chunk = fan_out.step_fan_out_chunk
    monkeypatch.setattr(services, "step_fan_out_chunk", lambda step: chunk(step=step, size=1))

    assert services.campaign_send(campaign=campaign, budget_seconds=0) is True  # One range, no time left.
    assert sent_messages() == []
    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    assert len(sent_messages()) == 3


# --- Claims ---------------------------------------------------------------------------------------


def test_claim_batch_takes_pending_rows_under_a_lease():
    campaign = _started(contacts=5)
    step = campaign.steps.get()
    before = timezone.now()

    claimed = ledger.step_execution_claim_batch(step=step, size=3)

    assert len(claimed) == 3
    for row in claimed:
        assert row.status == Status.SENDING
        assert row.attempts == 1
        assert row.lease_expires_at > before
    again = ledger.step_execution_claim_batch(step=step, size=10)
    assert {r.pk for r in again}.isdisjoint({r.pk for r in claimed})
    assert len(again) == 2


def test_concurrent_claimers_get_disjoint_rows(postgres_only, transactional_db):
    """A claimer holding row locks makes the other skip them instead of waiting or sharing."""
    campaign = _started(contacts=10)
    step = campaign.steps.get()
    locked = threading.Event()
    release = threading.Event()
    held = []

    def hold_locks():
        with transaction.atomic():
            rows = StepExecution.objects.select_for_update().filter(step=step).order_by("pk")[:4]
            held.extend(r.pk for r in rows)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_locks)
    holder.start()
    try:
        assert locked.wait(10)
        claimed = ledger.step_execution_claim_batch(step=step, size=10)
    finally:
        release.set()
        holder.join()
    assert len(claimed) == 6
    assert {r.pk for r in claimed}.isdisjoint(held)


def test_the_same_send_task_twice_at_once_makes_one_ses_call_per_row(
    postgres_only, transactional_db, ses, settings
):
    """A redelivered Celery task running beside the original."""
    settings.SEND_BATCH_SIZE = 5
    campaign = _started(contacts=40)
    start = threading.Barrier(2)
    outcomes = []

    def send_task():
        start.wait(10)
        outcomes.append(
            services.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk), budget_seconds=30)
        )
        connection.close()

    tasks = [threading.Thread(target=send_task) for _ in range(2)]
    for task in tasks:
        task.start()
    for task in tasks:
        task.join(60)

    assert outcomes == [False, False]
    recipients = [m.destinations[0] for m in sent_messages()]
    assert len(recipients) == len(set(recipients)) == 40
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert set(_rows(campaign).values_list("attempts", flat=True)) == {1}


# --- Sending --------------------------------------------------------------------------------------


def test_send_batch_sends_personalized_mail_and_records_message_ids(ses):
    campaign = _started(contacts=3, configuration_set="marketing")
    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.claimed, result.sent) == (3, 3)
    rows = list(_rows(campaign))
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
    campaign = _started(contacts=20)

    result = sending.step_send_batch(step=campaign.steps.get(), size=20)

    assert (result.sent, result.failed, result.released) == (20, 0, 0)
    recipients = [m.destinations[0] for m in sent_messages()]
    assert sorted(recipients) == sorted(r.email for r in _rows(campaign))
    assert len(set(recipients)) == 20
    assert len({r.ses_message_id for r in _rows(campaign)}) == 20


def test_concurrent_sending_hands_back_what_ses_did_not_take(concurrent_sending, ses, inject_ses_error):
    campaign = _started(contacts=20)
    step = campaign.steps.get()
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.", times=1)

    result = sending.step_send_batch(step=step, size=20)

    assert result.released >= 1
    assert result.failed == 0
    assert result.sent + result.released == 20
    assert _rows(campaign).filter(status=Status.PENDING).count() == result.released
    sending.step_send_batch(step=step, size=20)
    recipients = [m.destinations[0] for m in sent_messages()]
    assert sorted(recipients) == sorted(r.email for r in _rows(campaign))
    assert len(set(recipients)) == 20


def test_send_batch_checks_suppression_at_claim_time(ses):
    campaign = _started(contacts=3)
    rows = list(_rows(campaign))
    SuppressionFactory(email=rows[0].email)
    contact_unsubscribe(contact=rows[1].contact)

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.sent, result.suppressed) == (1, 2)
    assert [r.status for r in _rows(campaign)] == [Status.SUPPRESSED, Status.SUPPRESSED, Status.SENT]
    assert [m.destinations[0] for m in sent_messages()] == [rows[2].email]


def test_throttling_releases_rows_to_pending_and_never_fails(ses, inject_ses_error):
    campaign = _started(contacts=3)
    step = campaign.steps.get()
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.", times=1)

    result = sending.step_send_batch(step=step)

    assert (result.sent, result.failed, result.released) == (0, 0, 3)
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert "Maximum sending rate exceeded" in _rows(campaign).first().last_error
    assert sent_messages() == []
    # Once SES lets us, every row goes out exactly once.
    sending.step_send_batch(step=step)
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(r.email for r in _rows(campaign))


def test_rejected_message_fails_that_row_with_the_reason(ses, inject_ses_error):
    campaign = _started(contacts=2)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=1)

    result = sending.step_send_batch(step=campaign.steps.get())

    first, second = _rows(campaign)
    assert (result.failed, result.sent) == (1, 1)
    assert first.status == Status.FAILED
    assert "MessageRejected: Email address is not verified." in first.last_error
    assert second.status == Status.SENT


def test_throttling_inside_a_send_task_backs_off_with_jitter_and_finishes(ses, inject_ses_error, monkeypatch):
    campaign = _started(contacts=4)
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
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(r.email for r in _rows(campaign))
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_daily_quota_holds_all_sending_and_keeps_rows_pending(ses, inject_ses_error, settings, caplog):
    campaign = _started(contacts=3)
    inject_ses_error(code="Throttling", message="Daily message quota exceeded.", times=1)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
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
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(r.email for r in _rows(campaign))


@pytest.mark.parametrize(
    "code", ["SendingPausedException", "AccountSuspendedException", "AccountSendingPausedException"]
)
def test_ses_stopping_the_account_halts_all_sending_until_lifted(ses, inject_ses_error, code, caplog):
    campaign = _started(contacts=2)
    inject_ses_error(code=code, message="Sending is paused for this account.", times=1)

    services.campaign_send(campaign=campaign, budget_seconds=30)

    hold = SendingHold.objects.get()
    assert (hold.reason, hold.until) == (SendingHold.Reason.SES_HALTED, None)
    assert any(record.levelname == "CRITICAL" for record in caplog.records)
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert sending.messages_send(budget_seconds=5) is False  # Transactional mail holds too.
    hold.delete()  # Someone fixed the account and lifted it in the admin.
    services.campaign_send(campaign=campaign, budget_seconds=30)
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_a_campaign_pauses_itself_after_too_many_failures_in_a_row(ses, inject_ses_error, settings, caplog):
    settings.SEND_MAX_CONSECUTIVE_ERRORS = 3
    settings.SEND_BATCH_SIZE = 2
    campaign = _started(contacts=6)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=10)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_note.startswith("Paused itself after 4 failures in a row")
    counts = dict(_rows(campaign).order_by().values_list("status").annotate(n=Count("pk")))
    assert counts == {Status.FAILED: 4, Status.PENDING: 2}  # Stopped after the batch that made 3.
    assert "paused itself after 4 failures in a row" in caplog.text


def test_a_success_between_failures_keeps_the_campaign_going(ses, inject_ses_error, settings):
    settings.SEND_MAX_CONSECUTIVE_ERRORS = 3
    settings.SEND_BATCH_SIZE = 2
    campaign = _started(contacts=6)
    inject_ses_error(code="MessageRejected", message="Email address is not verified.", times=2)

    services.campaign_send(campaign=campaign, budget_seconds=30)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert _rows(campaign).filter(status=Status.FAILED).count() == 2


def test_unverified_sender_is_rejected_by_the_stand_in(ses):
    campaign = _started(contacts=1, from_email="someone@unverified.test")
    sending.step_send_batch(step=campaign.steps.get())
    row = _rows(campaign).get()
    assert row.status == Status.FAILED
    assert "MessageRejected" in row.last_error


def test_read_timeout_marks_row_unknown_without_retrying(ses, inject_ses_error):
    campaign = _started(contacts=1)
    attempts = inject_ses_error(exception=ReadTimeoutError(endpoint_url="https://email.test"), times=5)

    result = sending.step_send_batch(step=campaign.steps.get())

    row = _rows(campaign).get()
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
    campaign = _started(contacts=1)
    inject_ses_error(exception=ReadTimeoutError(endpoint_url="https://email.test"), times=1)
    sending.step_send_batch(step=campaign.steps.get())
    row = _rows(campaign).get()
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
    campaign = _started(contacts=2)
    template = campaign.steps.get().template
    template.html_body = "{{ attributes.n|divisibleby:attributes.d }}"
    template.save()
    first, _second = _rows(campaign)
    Contact.objects.filter(pk=first.contact_id).update(attributes={"n": 1, "d": 0})
    Contact.objects.exclude(pk=first.contact_id).update(attributes={"n": 4, "d": 2})

    result = sending.step_send_batch(step=campaign.steps.get())

    assert (result.failed, result.sent) == (1, 1)
    assert _rows(campaign).first().status == Status.FAILED


# --- Stalls, completion and the tick --------------------------------------------------------------


def test_sweep_settles_expired_leases_by_whether_the_ses_call_began():
    past = timezone.now() - timedelta(seconds=1)
    never_called = StepExecutionFactory(status=Status.SENDING, lease_expires_at=past)
    maybe_sent = StepExecutionFactory(status=Status.SENDING, lease_expires_at=past, send_started_at=past)
    live = StepExecutionFactory(status=Status.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=5))

    assert ledger.step_execution_sweep_stalled() == (1, 1)

    for row in (never_called, maybe_sent, live):
        row.refresh_from_db()
    assert never_called.status == Status.PENDING
    assert maybe_sent.status == Status.UNKNOWN
    assert live.status == Status.SENDING


def test_a_claim_abandoned_before_any_ses_call_is_sent_later_exactly_once(ses, settings):
    campaign = _started(contacts=2)
    step = campaign.steps.get()
    claimed = ledger.step_execution_claim_batch(step=step, size=2)
    assert len(claimed) == 2  # The worker dies here, before calling SES.
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS - 1)):
        assert ledger.step_execution_sweep_stalled() == (0, 0)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)):
        assert ledger.step_execution_sweep_stalled() == (2, 0)
    # Another worker picks them up.
    assert sending.step_send_batch(step=step).sent == 2
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(r.email for r in _rows(campaign))
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_a_claim_abandoned_during_its_ses_call_becomes_unknown_never_pending(settings):
    campaign = _started(contacts=2)
    claimed = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=2)
    assert ledger.step_execution_start_send(execution=claimed[0])  # The call began, then death.
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)):
        assert ledger.step_execution_sweep_stalled() == (1, 1)
    first, second = (row.refresh_from_db() or row for row in claimed)
    assert (first.status, second.status) == (Status.UNKNOWN, Status.PENDING)
    assert ledger.step_execution_claim_batch(step=campaign.steps.get(), size=10) == [second]


def test_a_row_swept_while_waiting_for_its_slot_is_not_sent(ses):
    campaign = _started(contacts=1)
    (row,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    StepExecution.objects.filter(pk=row.pk).update(status=Status.PENDING)  # Swept meanwhile.
    assert ledger.step_execution_start_send(execution=row) is False
    result = sending._send_claimed(executions=[row], honour_unsubscribe=True)
    assert (result.skipped, result.sent) == (1, 0)
    assert sent_messages() == []


def test_campaign_completes_only_when_no_row_is_pending_or_in_flight(ses):
    campaign = _started(contacts=2)
    assert not services.campaign_complete_if_done(campaign=campaign)
    sending.step_send_batch(step=campaign.steps.get())
    assert services.campaign_complete_if_done(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_paused_campaign_claims_nothing(ses):
    campaign = _started(contacts=2)
    campaign_services.campaign_pause(campaign=campaign)
    assert services.campaign_send(campaign=campaign, budget_seconds=5) is False
    assert set(_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert sent_messages() == []


def test_pause_then_resume_mid_campaign_mails_everyone_once(ses, settings):
    """Nobody twice, nobody skipped, not finished early."""
    settings.SEND_BATCH_SIZE = 3
    campaign = _started(contacts=8)
    step = campaign.steps.get()
    sending.step_send_batch(step=step)  # Three out, then the marketer pauses.
    campaign_services.campaign_pause(campaign=campaign)

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    assert not services.campaign_complete_if_done(campaign=campaign)
    assert len(sent_messages()) == 3
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED

    campaign_services.campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    services.campaign_send(campaign=campaign, budget_seconds=30)

    recipients = [m.destinations[0] for m in sent_messages()]
    assert sorted(recipients) == sorted(r.email for r in _rows(campaign))
    assert len(recipients) == len(set(recipients)) == 8
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_tick_starts_due_campaigns_and_asks_for_one_send_task_each():
    due = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=2))
    later = sendable_campaign(contacts=2, scheduled_at=timezone.now() + timedelta(hours=1))
    campaign_services.campaign_schedule(campaign=later)

    assert services.delivery_tick() == [due.pk]
    # A second tick while the first send task is alive does not start another.
    assert services.delivery_tick() == []
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == Campaign.Status.SENDING
    assert later.status == Campaign.Status.SCHEDULED
    # The tick stays quick: the send task it asks for does the fan-out.
    assert _rows(due).count() == 0
    assert fan_out.step_fan_out(step=due.steps.get()) == 2
    assert _rows(later).count() == 0


def test_a_campaign_found_long_past_its_schedule_waits_for_a_person(settings, ses):
    settings.CAMPAIGN_LATE_START_SECONDS = 3600
    campaign = campaign_services.campaign_schedule(
        campaign=sendable_campaign(contacts=2, scheduled_at=timezone.now() - timedelta(hours=3))
    )

    assert services.delivery_tick() == []  # The workers were down for three hours.

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "3.0 h past its schedule" in campaign.status_note
    assert _rows(campaign).count() == 0
    # Resuming is the go-ahead: it is due now, and sends.
    campaign_services.campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_note) == (Campaign.Status.SCHEDULED, "")
    assert services.delivery_tick() == [campaign.pk]
    services.campaign_send(campaign=campaign, budget_seconds=30)
    assert len(sent_messages()) == 2


def test_a_campaign_a_little_late_just_sends(settings):
    settings.CAMPAIGN_LATE_START_SECONDS = 3600
    campaign = campaign_services.campaign_schedule(
        campaign=sendable_campaign(contacts=1, scheduled_at=timezone.now() - timedelta(minutes=50))
    )
    assert services.delivery_tick() == [campaign.pk]


def test_tick_pauses_a_due_campaign_that_became_unsendable():
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=2))
    campaign.lists.clear()

    assert services.delivery_tick() == []

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_note.startswith("Could not start:")
    assert _rows(campaign).count() == 0


def test_a_late_message_id_settles_a_row_the_sweeper_marked_unknown(ses, settings):
    campaign = _started(contacts=1)
    settings.SEND_LEASE_SECONDS = -1  # Every claim is born expired: the sweeper races the send.
    (row,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    assert ledger.step_execution_start_send(execution=row)  # A slow SES call is under way.
    ledger.step_execution_sweep_stalled()
    assert _rows(campaign).get().status == Status.UNKNOWN

    ledger.step_execution_settle(execution=row, status=Status.SENT, ses_message_id="ses-late")
    ledger.step_execution_settle(execution=row, status=Status.FAILED, last_error="late failure")

    settled = _rows(campaign).get()
    assert (settled.status, settled.ses_message_id) == (Status.SENT, "ses-late")


def test_tick_restarts_sending_when_the_send_task_went_quiet():
    campaign = _started(contacts=1)
    Campaign.objects.filter(pk=campaign.pk).update(send_heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.delivery_tick() == [campaign.pk]


def test_campaign_send_sends_everything_and_completes(ses):
    campaign = _started(contacts=7)
    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert len(sent_messages()) == 7


def test_rows_inserted_together_are_all_or_none():
    from django.db import IntegrityError
    from django.db import transaction as db_transaction

    from core.services import api_key_create
    from delivery.models import TransactionalMessage
    from tests.factories import CampaignStepFactory, TemplateFactory

    contact = ContactFactory()
    message = TransactionalMessage(
        api_key=api_key_create(name="together")[0],
        fingerprint="f",
        accepted_status=Status.PENDING,
        template=TemplateFactory(),
        contact=contact,
        to_email=contact.email,
        from_email="a@campanile.test",
    )
    # A ledger row may not belong to a step and a message at once: the second insert fails.
    broken = StepExecution(message=message, step=CampaignStepFactory(), contact=contact, email=contact.email)

    with pytest.raises(IntegrityError), db_transaction.atomic():
        core_db.rows_insert_together(message, broken)

    assert not TransactionalMessage.objects.exists()
    good = StepExecution(message=message, contact=contact, email=contact.email)
    core_db.rows_insert_together(message, good)
    assert StepExecution.objects.get(message=message).email == contact.email


def test_fan_out_again_reports_the_rows_the_step_has():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    assert fan_out.step_fan_out(step=step) == 3
    assert fan_out.step_fan_out(step=step) == 3
