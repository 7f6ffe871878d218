import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign
from delivery import fan_out, ledger, sending, services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    campaign_rows,
    sendable_campaign,
    started_campaign,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def test_dispatch_marks_sending_and_the_send_task_fans_out_then_sends(ses):
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=4))
    services.campaign_dispatch(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert campaign.started_at is not None
    assert campaign_rows(campaign).count() == 0
    assert not services.campaign_complete_if_done(campaign=campaign)  # Rows are still to come.

    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False

    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert len(sent_messages()) == 4
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_the_same_send_task_twice_at_once_makes_one_ses_call_per_row(
    postgres_only, transactional_db, ses, settings
):
    """A redelivered Celery task running beside the original."""
    settings.SEND_BATCH_SIZE = 5
    campaign = started_campaign(contacts=40)
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
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}
    assert set(campaign_rows(campaign).values_list("attempts", flat=True)) == {1}


def test_campaign_completes_only_when_no_row_is_pending_or_in_flight(ses):
    campaign = started_campaign(contacts=2)
    assert not services.campaign_complete_if_done(campaign=campaign)
    sending.step_send_batch(step=campaign.steps.get())
    assert services.campaign_complete_if_done(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_paused_campaign_claims_nothing(ses):
    campaign = started_campaign(contacts=2)
    campaign_services.campaign_pause(campaign=campaign)
    assert services.campaign_send(campaign=campaign, budget_seconds=5) is False
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert sent_messages() == []


def test_pause_then_resume_mid_campaign_mails_everyone_once(ses, settings):
    """Nobody twice, nobody skipped, not finished early."""
    settings.SEND_BATCH_SIZE = 3
    campaign = started_campaign(contacts=8)
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
    assert sorted(recipients) == sorted(r.email for r in campaign_rows(campaign))
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
    assert campaign_rows(due).count() == 0
    assert fan_out.step_fan_out(step=due.steps.get()) == 2
    assert campaign_rows(later).count() == 0


def test_a_campaign_found_long_past_its_schedule_waits_for_a_person(settings, ses):
    settings.CAMPAIGN_LATE_START_SECONDS = 3600
    campaign = campaign_services.campaign_schedule(
        campaign=sendable_campaign(contacts=2, scheduled_at=timezone.now() - timedelta(hours=3))
    )

    assert services.delivery_tick() == []  # The workers were down for three hours.

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "3.0 h past its schedule" in campaign.status_note
    assert campaign_rows(campaign).count() == 0
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
    assert campaign_rows(campaign).count() == 0


def test_a_late_message_id_settles_a_row_the_sweeper_marked_unknown(ses, settings):
    campaign = started_campaign(contacts=1)
    settings.SEND_LEASE_SECONDS = -1  # Every claim is born expired: the sweeper races the send.
    (row,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    assert ledger.step_execution_start_send(execution=row)  # A slow SES call is under way.
    ledger.step_execution_sweep_stalled()
    assert campaign_rows(campaign).get().status == Status.UNKNOWN

    ledger.step_execution_settle(execution=row, status=Status.SENT, ses_message_id="ses-late")
    ledger.step_execution_settle(execution=row, status=Status.FAILED, last_error="late failure")

    settled = campaign_rows(campaign).get()
    assert (settled.status, settled.ses_message_id) == (Status.SENT, "ses-late")


def test_tick_restarts_sending_when_the_send_task_went_quiet():
    campaign = started_campaign(contacts=1)
    Campaign.objects.filter(pk=campaign.pk).update(send_heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.delivery_tick() == [campaign.pk]


def test_campaign_send_sends_everything_and_completes(ses):
    campaign = started_campaign(contacts=7)
    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert len(sent_messages()) == 7


def test_a_send_task_that_loses_redis_hands_back_its_rows_and_the_next_tick_restarts_it(ses, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from delivery import ledger as delivery_ledger
    from delivery import throttle

    campaign = started_campaign(contacts=3)
    services._campaign_heartbeat(campaign=campaign)  # A send task is running.

    def redis_gone(**kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(throttle, "send_slot_wait", redis_gone)
    with pytest.raises(RedisConnectionError):
        services.delivery_round(campaign_id=campaign.pk, budget_seconds=5)

    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.PENDING}
    assert services.delivery_tick() == [campaign.pk]  # At once: not two budgets later.
    assert delivery_ledger.step_executions_release_claimed(reason="") == 0
