"""The fault run: a 2,000-contact campaign through two real workers while SES, Redis and the
database fail in turn. Every contact is mailed exactly once, none fails, none stays unknown, and
no worker is restarted by hand.

The stand-in publishes signed Send events to this test's web server, as SES does through SNS;
this process plays beat: it applies the stored events and resolves unknown rows.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import boto3
from django.db import connection

from benchmarks._common import redis_start
from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignAudit, Contact, ListMembership
from core.db import database_url
from delivery import ses as delivery_ses
from delivery.models import StepExecution
from tests.factories import sendable_campaign
from tests.ses_standin.conftest import start_standin  # noqa: F401 - the fixture, used below
from tests.utils import free_port
from tracking import inbox, unknown_rows
from tracking.models import SnsMessage, TrackingEvent

ROOT = Path(__file__).resolve().parents[1]
CONTACTS = 2000
TOPIC = "arn:aws:sns:us-east-1:000000000000:campanile-fault-run"
Status = StepExecution.Status


def _faults(standin, **faults) -> None:
    request = urllib.request.Request(  # noqa: S310 - the stand-in on loopback
        f"{standin.endpoint}/_standin/faults", data=json.dumps(faults).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310


def _received(log: Path) -> list[dict]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [record for record in map(json.loads, lines) if not record.get("throttled")]


def _beat(seconds: float, until=None) -> bool:
    """Do beat's event work for up to `seconds`; stop early once `until()` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        inbox.sns_messages_apply(budget_seconds=1)
        unknown_rows.unknown_rows_resolve()
        connection.close()  # Survive the test's own connection being killed with the others.
        if until is not None and until():
            return True
        time.sleep(0.3)
    return until is None


def _duplicates_told(received: Counter, log: Path) -> str:
    """Say what happened to each recipient mailed twice: what SES took, the row, its events."""
    lines = []
    for email in [email for email, count in received.items() if count > 1][:3]:
        lines += [f"{email}:", *(f"  took {r}" for r in _received(log) if r["to"] == email)]
        for row in StepExecution.objects.filter(email=email):
            lines.append(f"  row {row.pk} {row.status} started {row.send_started_at} sent {row.sent_at}")
            lines.append(f"    attempts {row.attempts} ses {row.ses_message_id} error {row.last_error!r}")
            for stored in SnsMessage.objects.filter(message__contains=str(row.tracking_id)):
                lines.append(
                    f"    sns received {stored.received_at} applied {stored.applied_at} "
                    f"attempts {stored.attempts} note {stored.note!r}"
                )
            for event in TrackingEvent.objects.filter(recipient=email):
                lines.append(f"    event {event.type} {event.ses_message_id} at {event.occurred_at}")
    for audit in CampaignAudit.objects.filter(note__contains="SES never took it"):
        lines.append(f"requeue audit at {audit.at}: {audit.note}")
    return "\n".join(lines)


def test_a_campaign_through_every_fault_mails_everyone_exactly_once(
    postgres_only,
    transactional_db,
    live_server,
    start_standin,  # noqa: F811 - the fixture imported above
    settings,
    tmp_path,
):
    log = tmp_path / "received.jsonl"
    standin = start_standin(
        "--verify-senders", "--events-to", f"{live_server.url}/webhooks/ses/", "--topic-arn", TOPIC,
        "--log", str(log), "--latency-ms", "5", "--open-share", "0", "--click-share", "0",
    )  # fmt: skip
    settings.DEBUG = True  # Trusts the stand-in's signing certificate, as make run does.
    settings.SNS_DEV_CERTIFICATE = str(standin.state / "sns-signing-certificate.pem")
    settings.SES_SNS_TOPIC_ARNS = [TOPIC]
    settings.AWS_ENDPOINT_URL = settings.AWS_SES_REGION_ENDPOINT_URL = standin.endpoint
    settings.SES_CONFIGURATION_SET = "campanile-fault-run"
    # Longer than the stand-in's SNS retries of a Send event it could not deliver while the database
    # was cut (0.5 s, doubling to 20 s), as the window must outlast SNS's (docs/configuration.md):
    # shorter, a Send event still being retried finds its row already queued again.
    settings.SES_UNKNOWN_RESOLVE_SECONDS = 45
    settings.SES_EVENT_WAIT_SECONDS = 0
    delivery_ses.ses_reset()
    ses = boto3.client("ses", region_name="us-east-1", endpoint_url=standin.endpoint)
    ses.verify_domain_identity(Domain="campanile.test")

    campaign = sendable_campaign(contacts=0, from_email="News <news@campanile.test>")
    audience = campaign.lists.get()
    contacts = Contact.objects.bulk_create(Contact(email=f"fault{i}@example.com") for i in range(CONTACTS))
    ListMembership.objects.bulk_create(ListMembership(contact_list=audience, contact=c) for c in contacts)
    campaign = campaign_services.campaign_schedule(campaign=campaign)

    redis_port = free_port()
    redis_process = redis_start(redis_port)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "fault-run",
        "DATABASE_URL": database_url(),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AWS_ENDPOINT_URL": standin.endpoint,
        "AWS_ACCESS_KEY_ID": "fault-run",
        "AWS_SECRET_ACCESS_KEY": "fault-run",
        "SES_CONFIGURATION_SET": "campanile-fault-run",
        "SES_MAX_SEND_RATE": "250",
        "SES_READ_TIMEOUT": "1",
        "SEND_BATCH_SIZE": "25",
        "SEND_CONCURRENCY": "4",
        "SEND_LEASE_SECONDS": "4",
        "SEND_TASK_BUDGET_SECONDS": "2",
        "PUBLIC_BASE_URL": live_server.url,
        "LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "manage.py", "send_worker"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(2)]
    try:
        sent = lambda: len(_received(log))  # noqa: E731
        assert _beat(60, until=lambda: sent() >= 300), "sending never got going"
        _faults(standin, hang=10, hang_seconds=2)  # SES hangs past the read timeout…
        _beat(10)
        _faults(standin, errors=5)  # …then answers a proxy's HTML 500s…
        _beat(5)
        redis_process.kill()  # …then Redis goes away…
        redis_process.wait(10)
        _beat(10)
        redis_process = redis_start(redis_port)
        _beat(3)
        with connection.cursor() as cursor:  # …and every database connection is cut.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

        def settled() -> bool:
            statuses = Counter(StepExecution.objects.values_list("status", flat=True))
            done = Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
            return done and statuses == Counter({Status.SENT: CONTACTS})

        finished = _beat(180, until=settled)
        assert [worker.poll() for worker in workers] == [None, None]  # Nobody restarted by hand.
    finally:
        for process in [*workers, redis_process]:
            process.kill()
            process.wait(10)

    statuses = Counter(StepExecution.objects.values_list("status", flat=True))
    assert finished, f"not settled: {statuses}"
    received = Counter(record["to"] for record in _received(log))
    assert len(received) == CONTACTS  # Everyone…
    assert set(received.values()) == {1}, _duplicates_told(received, log)  # …exactly once.
    # The hang left rows SES never took: proven so by later Send events, queued again and sent.
    proven = CampaignAudit.objects.filter(campaign=campaign, note__contains="SES never took it")
    assert proven.exists()
