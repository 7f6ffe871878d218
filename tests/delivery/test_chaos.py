"""Two real worker processes, one SIGKILLed mid-campaign and restarted: every contact mailed once."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign, Contact, ListMembership
from core.db import database_url
from delivery import ledger, services
from delivery.models import StepExecution
from tests.factories import sendable_campaign
from tests.utils import free_port, wait_until
from tracking import unknown_rows
from tracking.models import SendEventsCheck, TrackingEvent

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 2000
CONFIGURATION_SET = "chaos"
Status = StepExecution.Status


def _received(log: Path) -> list[dict]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [record for record in map(json.loads, lines) if not record.get("throttled")]


def _worker(campaign_id: int, env: dict) -> subprocess.Popen:
    """Start a worker: a process sending the campaign until it is no longer sending."""
    command = [sys.executable, "manage.py", "send_campaign", str(campaign_id)]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def test_a_worker_killed_mid_campaign_loses_nobody_and_mails_nobody_twice(
    postgres_only, redis_only, transactional_db, tmp_path
):
    campaign = sendable_campaign(contacts=0)
    audience = campaign.lists.get()
    contacts = Contact.objects.bulk_create(Contact(email=f"chaos{i}@example.com") for i in range(CONTACTS))
    ListMembership.objects.bulk_create(ListMembership(contact_list=audience, contact=c) for c in contacts)
    campaign = campaign_services.campaign_schedule(campaign=campaign)
    services.campaign_dispatch(campaign=campaign)

    log, port = tmp_path / "received.jsonl", free_port()
    standin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ses_standin",
            "--port",
            str(port),
            "--log",
            str(log),
            "--latency-ms",
            "5",
            # The 500th message is accepted but its answer held back: the workers die then, one
            # of them inside that SES call for certain, the other wherever it happens to be.
            "--stall-at",
            str(CONTACTS // 4),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "chaos-test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "chaos",
        "AWS_SECRET_ACCESS_KEY": "chaos",
        "SES_CONFIGURATION_SET": CONFIGURATION_SET,
        "SES_MAX_SEND_RATE": "2000",
        "SEND_BATCH_SIZE": "25",
        "SEND_CONCURRENCY": "4",
        "SEND_LEASE_SECONDS": "3",
        "LOG_LEVEL": "ERROR",
    }
    workers = []
    try:
        assert standin.stdout.readline().startswith("SES stand-in")
        workers = [_worker(campaign.pk, env), _worker(campaign.pk, env)]
        stalled = standin.stdout.readline()  # Blocks until the held-back message.
        assert stalled.startswith("stalled "), stalled
        stalled_id = stalled.split()[1]
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        killed_at = len(_received(log))
        workers = [_worker(campaign.pk, env), _worker(campaign.pk, env)]  # Restarted by a supervisor.

        def done():
            campaign.refresh_from_db()
            return campaign.status == Campaign.Status.COMPLETED

        assert wait_until(done, 120), (
            f"campaign stuck: {Counter(StepExecution.objects.values_list('status', flat=True))}"
        )
        # SES's Send events, played by the stand-in's record of what it accepted: each settles its
        # row, and together they prove which unknown rows SES never took, to be sent now.
        settings.SES_CONFIGURATION_SET = CONFIGURATION_SET
        _send_events(campaign, _received(log))
        resolved_at = timezone.now() + timedelta(seconds=settings.SES_UNKNOWN_RESOLVE_SECONDS + 1)
        if unknown_rows.unknown_rows_resolve(now=resolved_at):
            workers.append(_worker(campaign.pk, env))
            assert wait_until(done, 60), Counter(StepExecution.objects.values_list("status", flat=True))
    finally:
        for process in [*workers, standin]:
            process.kill()
            process.wait(10)

    received = _received(log)
    assert 0 < killed_at < CONTACTS  # The kill landed mid-campaign.
    # Everyone, exactly once, counted where the mail arrives; nobody left unknown.
    assert Counter(r["to"] for r in received) == Counter({contact.email: 1 for contact in contacts})
    assert max(Counter(r["tracking"] for r in received).values()) == 1
    statuses = Counter(StepExecution.objects.filter(step__campaign=campaign).values_list("status", flat=True))
    assert statuses == Counter({Status.SENT: CONTACTS})
    # The message SES accepted from the dying worker was not sent again: its Send event settled it.
    (stalled_row,) = [r for r in received if r["id"] == stalled_id]
    assert StepExecution.objects.get(tracking_id=stalled_row["tracking"]).ses_message_id == stalled_id


def _send_events(campaign: Campaign, received: list[dict]) -> None:
    """Apply a Send event for each message the stand-in accepted, as the webhook would."""
    rows = {str(row.tracking_id): row for row in StepExecution.objects.filter(step__campaign=campaign)}
    SendEventsCheck.objects.update_or_create(
        configuration_set=CONFIGURATION_SET, defaults={"published": True}
    )
    for record in received:
        row = rows[record["tracking"]]
        at = datetime.fromtimestamp(record["at"], UTC)
        TrackingEvent.objects.create(
            type=TrackingEvent.Type.SEND,
            event_id=f"send:{record['id']}",
            occurred_at=at,
            recipient=row.email,
            step_execution=row,
            ses_message_id=record["id"],
            configuration_set=CONFIGURATION_SET,
        )
        ledger.step_execution_reconcile(
            tracking_id=row.tracking_id, ses_message_id=record["id"], accepted_at=at
        )
