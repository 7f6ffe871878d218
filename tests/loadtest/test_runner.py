"""The built-in load test: real runs against the stand-ins, and a check that can fail."""

import json
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep, Contact, ContactList
from core.models import ApiKey
from core.services import api_key_create
from delivery.models import StepExecution, TransactionalMessage
from loadtest import proof, runner, tasks
from loadtest.models import LoadTestRun
from tests.factories import (
    ContactFactory,
    StepExecutionFactory,
    TrackingEventFactory,
    TransactionalMessageFactory,
    sendable_campaign,
)
from tracking.models import TrackingEvent

Status = StepExecution.Status


def loadtest_json(*args) -> tuple[dict, CommandError | None]:
    """Run manage.py loadtest --json; return its report and the error it exited with, if any."""
    out, error = StringIO(), None
    try:
        call_command("loadtest", *args, "--json", stdout=out)
    except CommandError as exc:
        error = exc
    return json.loads(out.getvalue()), error


@pytest.fixture
def standin_env(monkeypatch):
    """Keep claims short-lived so a killed worker's rows come back within a small run."""
    monkeypatch.setenv("SEND_BATCH_SIZE", "25")
    monkeypatch.setenv("SEND_CONCURRENCY", "4")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")


def test_500_messages_through_the_api_arrive_once_each(
    postgres_only, redis_only, transactional_db, standin_env
):
    report, error = loadtest_json("--messages", "500", "--rate", "250", "--standin-latency-ms", "5")

    assert error is None, report
    assert report["status"] == "passed"
    assert (report["requested"], report["accepted"], report["sent"]) == (500, 500, 500)
    assert (report["duplicates"], report["missing"], report["failed"], report["unknown"]) == (0, 0, 0, 0)
    assert report["receipts"].startswith("the stand-in's record")
    assert report["proof"] == "ses"
    assert report["verdict"] == f"Passed — counted at SES ({report['receipts']})"
    assert report["api_statuses"] == {"202": 500}
    assert all(report["api_latency_ms"][p] > 0 for p in ("p50", "p95", "p99"))
    assert report["ses_latency_ms"]["p50"] is not None
    assert report["achieved_rate"] > 0
    assert report["configured_rate"] == 250
    assert max(depth for _, depth, _ in report["queue_depth"]) > 0  # The queue was watched filling.
    # Every message is one ledger row of its own, sent, under the run's label.
    rows = StepExecution.objects.filter(email__contains=f"+{report['label']}-")
    assert rows.count() == rows.filter(status=Status.SENT).count() == 500
    assert len(set(rows.values_list("email", flat=True))) == 500
    # The contacts the API made for the run's addresses are load-test data, through its key.
    assert ApiKey.objects.get(name=f"Load test {report['label']}").is_load_test
    contacts = Contact.objects.filter(email__contains=f"+{report['label']}-")
    assert contacts.count() == contacts.filter(is_load_test=True).count() == 500


def test_a_planted_duplicate_or_a_lost_row_fails_the_check(
    postgres_only, redis_only, transactional_db, standin_env
):
    report, error = loadtest_json("--messages", "40", "--rate", "100", "--standin-latency-ms", "5")
    assert error is None, report
    assert report["duplicates"] == 0
    run = LoadTestRun.objects.get(label=report["label"])
    seventh = StepExecution.objects.get(email__contains=f"+{run.label}-7@")
    # A second row for the seventh address, as a double send would leave.
    twin = TransactionalMessage.objects.create(
        api_key_id=seventh.message.api_key_id,
        unique_code="planted",
        fingerprint="planted",
        template=seventh.message.template,
        contact=seventh.contact,
        to_email=seventh.email,
        from_email=seventh.message.from_email,
    )
    StepExecution.objects.create(
        message=twin, contact=seventh.contact, email=seventh.email, status=Status.SENT, sent_at=timezone.now()
    )

    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("loadtest", "--verify", run.label, "--json", stdout=out)

    assert failed.value.returncode == 1
    assert json.loads(out.getvalue())["duplicates"] == 1
    run.refresh_from_db()
    assert run.status == LoadTestRun.Status.FAILED

    # And a message whose row went missing.
    StepExecution.objects.filter(message=twin).delete()
    StepExecution.objects.filter(email__contains=f"+{run.label}-8@").delete()
    report, error = loadtest_json("--verify", run.label)
    assert error is not None
    assert (report["duplicates"], report["missing"]) == (0, 1)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    postgres_only, redis_only, transactional_db, standin_env
):
    report, error = loadtest_json(
        "--messages", "300", "--rate", "150", "--kill-worker-at", "30", "--standin-latency-ms", "20"
    )

    assert error is None, report
    assert report["worker_killed_at"] is not None
    assert 0 < report["worker_killed_at"] < 300
    assert (report["duplicates"], report["missing"]) == (0, 0)
    # A row whose worker died between "the call begins" and SES receiving it stays unknown, never
    # resent and never silently dropped: at most one per thread of the killed worker.
    assert report["sent"] + report["unknown"] == 300
    assert report["unknown"] <= 4


def test_a_campaign_run_sends_each_contact_once(postgres_only, redis_only, transactional_db, standin_env):
    report, error = loadtest_json(
        "--messages", "200", "--rate", "200", "--via", "campaign", "--standin-latency-ms", "5"
    )

    assert error is None, report
    assert (report["sent"], report["duplicates"], report["missing"]) == (200, 0, 0)
    assert "api_latency_ms" not in report
    # Its list, campaign and contacts are load-test data, apart from the marketer's.
    campaign = Campaign.objects.get(pk=LoadTestRun.objects.get(label=report["label"]).context["campaign_id"])
    assert campaign.is_load_test
    assert [audience.is_load_test for audience in campaign.lists.all()] == [True]
    contacts = Contact.objects.filter(email__contains=f"+{report['label']}-")
    assert contacts.count() == contacts.filter(is_load_test=True).count() == 200


def test_moto_counts_what_it_received(postgres_only, redis_only, transactional_db, standin_env):
    report, error = loadtest_json("--messages", "20", "--rate", "20", "--ses", "moto")

    assert error is None, report
    assert report["receipts"] == "moto's record of every message it accepted"
    assert (report["sent"], report["duplicates"], report["missing"]) == (20, 0, 0)


def test_real_mailboxes_are_refused_unless_allowed(db):
    with pytest.raises(CommandError, match="real mailbox"):
        call_command("loadtest", "--messages", "5", "--to", "someone@example.com")
    assert not LoadTestRun.objects.exists()

    run = runner.loadtest_create(
        messages=3, rate=1, to="a@example.com, success+x@simulator.amazonses.com", allow_real_recipients=True
    )
    assert proof.loadtest_addresses(run=run) == [
        f"a+{run.label}-0@example.com",
        f"success+x-{run.label}-1@simulator.amazonses.com",
        f"a+{run.label}-2@example.com",
    ]


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


def test_administrators_may_start_load_tests_and_marketers_may_not(db):
    administrators = Group.objects.get(name="Administrators").permissions.values_list("codename", flat=True)
    marketers = Group.objects.get(name="Marketers").permissions.values_list("codename", flat=True)

    assert {"add_loadtestrun", "view_loadtestrun"} <= set(administrators)
    assert "add_loadtestrun" not in marketers


def test_a_run_started_in_the_admin_is_queued_then_run_by_the_task(
    postgres_only, redis_only, transactional_db, standin_env, client, monkeypatch
):
    # Groups made by migrations don't outlive a transactional test's flush; permissions do.
    ops = User.objects.create_user("ops", is_staff=True, password=uuid.uuid4().hex)
    ops.user_permissions.set(Permission.objects.filter(codename__in=["add_loadtestrun", "view_loadtestrun"]))
    clerk = User.objects.create_user("clerk", is_staff=True, password=uuid.uuid4().hex)
    url = reverse("admin:loadtest_loadtestrun_add")
    form = {"messages": 30, "rate": 60, "via": "api", "ses": "standin"}
    form["to"] = "success@simulator.amazonses.com"
    queued = []
    monkeypatch.setattr(tasks.loadtest_run, "delay", queued.append)

    client.force_login(clerk)
    assert client.get(url).status_code == 403
    client.force_login(ops)
    refused = client.post(url, {**form, "to": "boss@example.com"})
    assert refused.status_code == 200
    assert "real mailbox" in refused.content.decode()
    response = client.post(url, form)
    assert response.status_code == 302
    run = LoadTestRun.objects.get()
    assert (run.status, run.started_by, queued) == (LoadTestRun.Status.QUEUED, "ops", [run.pk])

    tasks.loadtest_run(run.pk)  # What the worker it was queued for does.

    run.refresh_from_db()
    assert run.status == LoadTestRun.Status.PASSED, run.report
    page = client.get(reverse("admin:loadtest_loadtestrun_change", args=[run.pk])).content.decode()
    assert "duplicates 0  missing 0" in page
    assert "Passed — counted at SES (the stand-in&#x27;s record" in page


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


def _load_test_data(run: LoadTestRun, *, contacts: int = 2) -> dict:
    """Make what a run makes, flagged as it flags it: a campaign run's list, campaign, contacts and
    ledger rows, and its API key's message to a contact of its own."""
    campaign = sendable_campaign(contacts=0, name=f"Load test {run.label}", is_load_test=True)
    audience = campaign.lists.get()
    ContactList.objects.filter(pk=audience.pk).update(name=f"Load test {run.label}", is_load_test=True)
    step = campaign.steps.get()
    for n in range(contacts):
        contact = ContactFactory(email=f"success+{run.label}-{n}@simulator.amazonses.com", is_load_test=True)
        audience.contacts.add(contact)
        StepExecutionFactory(step=step, contact=contact, status=Status.SENT)
    key, _secret = api_key_create(name=f"Load test {run.label}", is_load_test=True)
    message = TransactionalMessageFactory(
        api_key=key,
        contact=ContactFactory(email=f"success+{run.label}-api@simulator.amazonses.com", is_load_test=True),
    )
    StepExecutionFactory(step=None, message=message, contact=message.contact, email=message.to_email)
    return {"campaign": campaign, "list": audience, "key": key}


def _marketers_data() -> dict:
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    for contact in Contact.objects.filter(lists__campaigns=campaign):
        StepExecutionFactory(step=step, contact=contact, status=Status.SENT)
    message = TransactionalMessageFactory()  # An integrator's key, an integrator's contact.
    StepExecutionFactory(step=None, message=message, contact=message.contact, email=message.to_email)
    return {"campaign": campaign, "message": message}


def test_cleanup_deletes_the_load_tests_data_and_keeps_the_marketers_and_the_runs(db):
    first, second = (runner.loadtest_create(messages=2, rate=1) for _ in range(2))
    made = [_load_test_data(first), _load_test_data(second)]
    theirs = _marketers_data()
    before = {
        model: model.objects.count()
        for model in (Campaign, CampaignStep, ContactList, Contact, TransactionalMessage, StepExecution)
    }

    out = StringIO()
    call_command("loadtest_cleanup", "--dry-run", stdout=out)

    assert out.getvalue().strip() == (
        "Would delete the data of all load tests: ledger rows 6, messages 2, steps 2, campaigns 2, "
        "lists 2, contacts 6."
    )
    assert {model: model.objects.count() for model in before} == before  # Nothing went.

    out = StringIO()
    call_command("loadtest_cleanup", "--label", first.label, stdout=out)

    assert out.getvalue().strip() == (
        f"Deleted the data of load test {first.label}: ledger rows 3, messages 1, steps 1, campaigns 1, "
        "lists 1, contacts 3."
    )
    assert not Campaign.objects.filter(pk=made[0]["campaign"].pk).exists()
    assert Campaign.objects.filter(pk=made[1]["campaign"].pk).exists()

    call_command("loadtest_cleanup", stdout=StringIO())

    assert not Campaign.objects.filter(is_load_test=True).exists()
    assert not ContactList.objects.filter(is_load_test=True).exists()
    assert not Contact.objects.filter(is_load_test=True).exists()
    assert not TransactionalMessage.objects.filter(api_key__is_load_test=True).exists()
    # The marketer's data is all there, and so is the history of runs.
    assert Campaign.objects.get() == theirs["campaign"]
    assert Contact.objects.count() == 4
    assert StepExecution.objects.count() == 4
    assert TransactionalMessage.objects.get() == theirs["message"]
    assert set(LoadTestRun.objects.values_list("label", flat=True)) == {first.label, second.label}


def test_cleanup_of_an_unknown_run_says_so(db):
    with pytest.raises(CommandError, match="No load test run is labelled 'lt404'"):
        call_command("loadtest_cleanup", "--label", "lt404")
