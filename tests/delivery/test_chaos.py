"""Two real worker processes, one SIGKILLed mid-campaign and restarted: every contact mailed once."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
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

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 2000
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
    finally:
        for process in [*workers, standin]:
            process.kill()
            process.wait(10)

    received = _received(log)
    assert 0 < killed_at < CONTACTS  # The kill landed mid-campaign.
    # Nobody twice, counted where the mail arrives.
    assert max(Counter(r["to"] for r in received).values()) == 1
    assert max(Counter(r["tracking"] for r in received).values()) == 1
    # A row the killed worker was sending is `unknown`; SES's Send event settles it, here played by
    # the stand-in's own record of what it accepted.
    by_tracking = {r["tracking"]: r for r in received}
    # The message SES accepted from the dying worker was not sent again: its row waits, unknown.
    (stalled_row,) = [r for r in received if r["id"] == stalled_id]
    assert StepExecution.objects.get(tracking_id=stalled_row["tracking"]).status == Status.UNKNOWN
    for row in StepExecution.objects.filter(step__campaign=campaign, status=Status.UNKNOWN):
        if str(row.tracking_id) in by_tracking:
            ledger.step_execution_reconcile(
                tracking_id=row.tracking_id,
                ses_message_id=by_tracking[str(row.tracking_id)]["id"],
                accepted_at=timezone.now(),
            )
    statuses = Counter(StepExecution.objects.filter(step__campaign=campaign).values_list("status", flat=True))
    # Nobody lost: every contact got their email, except that a kill between "the call begins"
    # (committed) and the request leaving the machine leaves a row unknown, never silently: at
    # most one per sending thread that was killed.
    assert statuses[Status.SENT] == len(received)
    assert statuses[Status.SENT] + statuses[Status.UNKNOWN] == CONTACTS
    assert statuses[Status.UNKNOWN] <= 2 * 4
