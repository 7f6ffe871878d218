import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from delivery import ledger
from delivery.group_commit import GroupCommit
from delivery.models import StepExecution
from tests.factories import StepExecutionFactory

Status = StepExecution.Status


def _gated_writer():
    """Return a write function whose first round waits for a gate, and the rounds it saw."""
    rounds: list[list[int]] = []
    gate = threading.Event()

    def write(items):
        if not rounds:
            gate.wait(10)
        rounds.append(list(items))
        return [item * 10 for item in items]

    return write, rounds, gate


def test_callers_queued_behind_a_write_share_the_next_one():
    write, rounds, gate = _gated_writer()
    group = GroupCommit(write)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(group.submit, 1)
        while not group._writing:  # The first caller is writing, held at the gate.
            threading.Event().wait(0.001)
        rest = [pool.submit(group.submit, n) for n in range(2, 7)]
        while len(group._queue) < 5:
            threading.Event().wait(0.001)
        gate.set()
        results = [first.result(10), *(future.result(10) for future in rest)]
    assert results == [10, 20, 30, 40, 50, 60]  # Each caller gets its own item's result.
    assert rounds[0] == [1]
    assert sorted(rounds[1]) == [2, 3, 4, 5, 6]  # One write for all five.
    assert len(rounds) == 2


def test_a_failed_write_reaches_every_caller_of_its_round_and_the_next_round_works():
    calls = []

    def write(items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("database gone")
        return items

    group = GroupCommit(write)
    with pytest.raises(RuntimeError, match="database gone"):
        group.submit("a")
    assert group.submit("b") == "b"


@pytest.mark.django_db(transaction=True)
def test_concurrent_start_marks_and_settles_are_each_committed_for_the_right_row(postgres_only):
    rows = [StepExecutionFactory(status=Status.SENDING) for _ in range(12)]
    lost = rows[-1]
    StepExecution.objects.filter(pk=lost.pk).update(status=Status.PENDING)  # Swept meanwhile.
    barrier = threading.Barrier(len(rows))

    def send(row, n):
        try:
            barrier.wait(10)
            if not ledger.step_execution_start_send(execution=row):
                return "not ours"
            if n % 3 == 0:
                ledger.step_execution_settle(execution=row, status=Status.FAILED, last_error=f"no {n}")
            else:
                ledger.step_execution_settle(execution=row, status=Status.SENT, ses_message_id=f"ses-{n}")
            return "done"
        finally:
            connection.close()

    with ThreadPoolExecutor(len(rows)) as pool:
        outcomes = list(pool.map(send, rows, range(len(rows))))

    assert outcomes == ["done"] * 11 + ["not ours"]
    for n, row in enumerate(rows[:-1]):
        row.refresh_from_db()
        assert row.send_started_at is not None
        assert row.lease_expires_at is None
        if n % 3 == 0:
            assert (row.status, row.last_error, row.ses_message_id) == (Status.FAILED, f"no {n}", "")
        else:
            assert (row.status, row.ses_message_id, row.last_error) == (Status.SENT, f"ses-{n}", "")
    lost.refresh_from_db()
    assert (lost.status, lost.send_started_at) == (Status.PENDING, None)


@pytest.mark.django_db
def test_one_settle_statement_writes_each_row_its_own_outcome_and_respects_who_owns_it():
    sending_sent, sending_failed, unknown_sent, unknown_failed, pending_sent, claimed_again = (
        StepExecutionFactory(status=status, attempts=1)
        for status in (
            Status.SENDING,
            Status.SENDING,
            Status.UNKNOWN,
            Status.UNKNOWN,
            Status.PENDING,
            Status.SENDING,
        )
    )
    StepExecution.objects.filter(pk=claimed_again.pk).update(attempts=2)  # Swept, then claimed anew.
    accepted = timezone.now()
    written = ledger._settle_write(
        [
            ledger._Outcome(sending_sent.pk, 1, Status.SENT, "", "ses-1", accepted),
            ledger._Outcome(sending_failed.pk, 1, Status.FAILED, "rejected"),
            ledger._Outcome(unknown_sent.pk, 1, Status.SENT, "", "ses-3", accepted),
            ledger._Outcome(unknown_failed.pk, 1, Status.FAILED, "too late"),
            ledger._Outcome(pending_sent.pk, 1, Status.SENT, "", "ses-5", accepted),
            ledger._Outcome(claimed_again.pk, 1, Status.FAILED, "the first claim's"),
        ]
    )
    assert written == [True, True, True, False, False, False]
    claimed_again.refresh_from_db()
    assert claimed_again.status == Status.SENDING  # The second claimant's to settle.
    rows = {row.pk: row for row in StepExecution.objects.all()}
    assert (rows[sending_sent.pk].status, rows[sending_sent.pk].ses_message_id) == (Status.SENT, "ses-1")
    assert rows[sending_sent.pk].sent_at == accepted
    assert (rows[sending_failed.pk].status, rows[sending_failed.pk].last_error) == (Status.FAILED, "rejected")
    assert rows[sending_failed.pk].ses_message_id == ""  # Untouched where no value was given.
    assert (rows[unknown_sent.pk].status, rows[unknown_sent.pk].ses_message_id) == (Status.SENT, "ses-3")
    assert rows[unknown_failed.pk].status == Status.UNKNOWN
    assert rows[pending_sent.pk].status == Status.PENDING
