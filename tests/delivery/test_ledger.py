"""The ledger: claims under a lease, the sweep of stalled claims, the outcome's precedence."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from delivery import ledger, sending
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    StepExecutionFactory,
    campaign_rows,
    started_campaign,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status


def test_claim_batch_takes_pending_rows_under_a_lease():
    campaign = started_campaign(contacts=5)
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
    campaign = started_campaign(contacts=10)
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
    campaign = started_campaign(contacts=2)
    step = campaign.steps.get()
    claimed = ledger.step_execution_claim_batch(step=step, size=2)
    assert len(claimed) == 2  # The worker dies here, before calling SES.
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS - 1)):
        assert ledger.step_execution_sweep_stalled() == (0, 0)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)):
        assert ledger.step_execution_sweep_stalled() == (2, 0)
    # Another worker picks them up.
    assert sending.step_send_batch(step=step).sent == 2
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(
        r.email for r in campaign_rows(campaign)
    )
    assert set(campaign_rows(campaign).values_list("status", flat=True)) == {Status.SENT}


def test_a_claim_abandoned_during_its_ses_call_becomes_unknown_never_pending(settings):
    campaign = started_campaign(contacts=2)
    claimed = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=2)
    assert ledger.step_execution_start_send(execution=claimed[0])  # The call began, then death.
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)):
        assert ledger.step_execution_sweep_stalled() == (1, 1)
    first, second = (row.refresh_from_db() or row for row in claimed)
    assert (first.status, second.status) == (Status.UNKNOWN, Status.PENDING)
    assert ledger.step_execution_claim_batch(step=campaign.steps.get(), size=10) == [second]


def test_a_row_swept_while_waiting_for_its_slot_is_not_sent(ses):
    campaign = started_campaign(contacts=1)
    (row,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    StepExecution.objects.filter(pk=row.pk).update(status=Status.PENDING)  # Swept meanwhile.
    assert ledger.step_execution_start_send(execution=row) is False
    result = sending._send_claimed(executions=[row], honour_unsubscribe=True)
    assert (result.skipped, result.sent) == (1, 0)
    assert sent_messages() == []


def test_an_outcome_only_gives_way_to_a_higher_rank_whatever_the_order_of_arrival():
    Outcome = StepExecution.Outcome
    rank = StepExecution.OUTCOME_RANK
    assert set(rank) == set(Outcome)  # Every outcome has its place.
    assert sorted(rank, key=rank.get)[-2:] == [Outcome.BOUNCED, Outcome.COMPLAINED]
    for earlier in Outcome:
        for later in Outcome:
            row = StepExecutionFactory(status=Status.SENT, outcome=earlier)
            changed = ledger.step_execution_record_outcome(execution_id=row.pk, outcome=later)
            row.refresh_from_db()
            assert changed is (rank[later] > rank[earlier])
            assert row.outcome == max(earlier, later, key=rank.get)


def test_a_process_hands_back_the_rows_it_claimed_and_never_began_but_not_the_begun_ones():
    campaign = started_campaign(contacts=3)
    ledger.step_executions_forget_claimed()
    first, second, third = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=3)
    assert ledger.step_execution_start_send(execution=first)  # SES may have this one.
    ledger.step_execution_settle(execution=second, status=Status.SENT, ses_message_id="ses-1")

    assert ledger.step_executions_release_claimed(reason="Worker stopping.") == 1

    statuses = {row.pk: row.status for row in campaign_rows(campaign)}
    assert statuses == {first.pk: Status.SENDING, second.pk: Status.SENT, third.pk: Status.PENDING}
    assert ledger.step_executions_release_claimed(reason="Again.") == 0  # Forgotten once released.


def test_a_row_swept_and_claimed_by_another_worker_is_neither_marked_nor_settled_by_the_first(settings):
    """The first claimant, stalled past its lease (Redis away, say), must not send it too."""
    campaign = started_campaign(contacts=1)
    (first,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SEND_LEASE_SECONDS + 1)):
        assert ledger.step_execution_sweep_stalled() == (1, 0)
    (second,) = ledger.step_execution_claim_batch(step=campaign.steps.get(), size=1)
    assert (second.pk, second.status) == (first.pk, Status.SENDING)

    assert ledger.step_execution_start_send(execution=first) is False  # Not the first's any more.
    ledger.step_execution_settle(execution=first, status=Status.FAILED, last_error="late")
    ledger.step_execution_release(executions=[first], reason="late")
    assert ledger.step_execution_start_send(execution=second) is True
    row = campaign_rows(campaign).get()
    assert row.status == Status.SENDING
    assert "late" not in row.last_error
