"""The load test's proof: per address, the ledger against what SES received, and the verdict."""

from django.urls import reverse
from django.utils import timezone

from delivery.models import StepExecution
from loadtest import proof, runner
from loadtest.models import LoadTestRun
from tests.factories import (
    ContactFactory,
    StepExecutionFactory,
    TrackingEventFactory,
)
from tests.loadtest.conftest import loadtest_json
from tracking.models import TrackingEvent

Status = StepExecution.Status


def _row(run, n, status=Status.SENT):
    contact = ContactFactory(email=f"success+{run.label}-{n}@simulator.amazonses.com")
    return StepExecutionFactory(contact=contact, email=contact.email, status=status, sent_at=timezone.now())


def test_the_report_counts_what_ses_received_per_address(db):
    run = runner.loadtest_create(messages=5, rate=1)
    rows = [_row(run, n) for n in range(4)]  # Message 4 never reached the ledger.
    address = [row.email for row in rows]
    receipts = {
        # SES got message 0 twice, message 2 never (though its row says sent); 3 once.
        "by_address": {address[0]: 2, address[1]: 1, address[3]: 1},
        "ids": {},
        "source": "test",
    }

    report = proof.loadtest_report(run=run, receipts=receipts)

    assert report["duplicates"] == 1
    assert report["missing"] == 2  # Message 2 (never received) and message 4 (no row).
    assert (report["sent"], report["accepted"]) == (4, 4)


def test_unknown_rows_ses_received_are_reconciled(db):
    run = runner.loadtest_create(messages=2, rate=1)
    received, lost = _row(run, 0, Status.UNKNOWN), _row(run, 1, Status.UNKNOWN)

    settled = proof.loadtest_reconcile(run, {"ids": {str(received.tracking_id): "standin-1"}})

    assert settled == 1
    received.refresh_from_db(), lost.refresh_from_db()
    assert (received.status, received.ses_message_id, lost.status) == (
        Status.SENT,
        "standin-1",
        Status.UNKNOWN,
    )
    report = proof.loadtest_report(run=run, receipts=None)
    assert (report["sent"], report["unknown"], report["missing"]) == (1, 1, 0)


def test_against_the_configured_ses_the_send_events_are_the_receipts(db):
    run = runner.loadtest_create(messages=3, rate=1, ses=LoadTestRun.Ses.CURRENT)
    rows = [_row(run, n) for n in range(3)]
    assert proof.loadtest_receipts(run=run) is None  # No Send events yet: the ledger alone.
    # SES's Send events: message 0 went out under two SES message ids, message 2 never did.
    for n, ses_id in ((0, "ses-a"), (0, "ses-b"), (1, "ses-c"), (1, "ses-c")):
        TrackingEventFactory(
            type=TrackingEvent.Type.SEND,
            recipient=rows[n].email,
            ses_message_id=ses_id,
            step_execution=rows[n],
        )

    receipts = proof.loadtest_receipts(run=run)
    report = proof.loadtest_report(run=run, receipts=receipts)

    assert receipts["source"] == "SES Send events"
    assert (report["duplicates"], report["missing"]) == (1, 1)


def test_a_pass_names_whether_ses_or_only_the_ledger_was_checked(transactional_db, admin_client):
    run = runner.loadtest_create(messages=2, rate=1, ses=LoadTestRun.Ses.CURRENT)
    rows = [_row(run, n) for n in range(2)]

    report, error = loadtest_json("--verify", run.label)  # No Send events: the ledger alone.

    assert error is None
    assert (report["status"], report["proof"]) == ("passed", "ledger")
    assert report["verdict"] == "Passed — ledger only: SES's side was not checked"
    run.refresh_from_db()
    assert run.report["proof"] == "ledger"
    assert (
        proof.loadtest_summary(run=run)
        .splitlines()[0]
        .endswith("Passed — ledger only: SES's side was not checked")
    )
    listed = admin_client.get(reverse("admin:loadtest_loadtestrun_changelist")).content.decode()
    assert "Passed — ledger only: SES&#x27;s side was not checked" in listed

    # SES's Send events arrive: counted again, the pass is SES's word.
    for n, row in enumerate(rows):
        TrackingEventFactory(
            type=TrackingEvent.Type.SEND, recipient=row.email, ses_message_id=f"ses-{n}", step_execution=row
        )
    report, error = loadtest_json("--verify", run.label)

    assert error is None
    assert report["proof"] == "ses"
    assert report["verdict"] == "Passed — counted at SES (SES Send events)"
    page = admin_client.get(reverse("admin:loadtest_loadtestrun_change", args=[run.pk])).content.decode()
    assert "Passed — counted at SES (SES Send events)" in page


def test_a_failure_reads_as_before_whatever_was_checked(transactional_db):
    run = runner.loadtest_create(messages=2, rate=1, ses=LoadTestRun.Ses.CURRENT)
    _row(run, 0)  # Message 1 never reached the ledger.

    report, error = loadtest_json("--verify", run.label)

    assert error.returncode == 1
    assert (report["status"], report["missing"]) == ("failed", 1)
    assert report["verdict"] == "Failed: duplicates or missing messages"
