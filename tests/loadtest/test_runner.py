"""The built-in load test: real runs against the stand-ins, and a check that can fail."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from campaigns.models import Campaign, Contact
from core.models import ApiKey
from delivery.models import StepExecution, TransactionalMessage
from loadtest import proof, runner
from loadtest.models import LoadTestRun
from tests.loadtest.conftest import loadtest_json

Status = StepExecution.Status


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


def test_a_recipient_the_address_rule_refuses_is_refused_saying_why(db):
    with pytest.raises(CommandError, match=r"U\+200B"):
        call_command("loadtest", "--messages", "5", "--to", "success@simulator.amazonses.com\u200b")
    assert not LoadTestRun.objects.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_rate_that_is_no_finite_number_is_refused_by_the_command_with_a_message(value):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="is not a finite number"):
        call_command("loadtest", f"--rate={value}")
