"""Benchmark: sustained sending through the SES stand-in, against the configured fleet rate.

Run by hand (needs PostgreSQL and Redis):

    .venv/bin/python benchmarks/sending.py [--rates 50,200,400,0] [--seconds 20] [--workers 3]
        [--concurrency 24] [--batch 150] [--latency-ms 50] [--throttle 0] [--without-tallies]

For each rate (0: the limiter wide open), seeds a campaign big enough for --seconds of sending,
starts the SES stand-in with the given latency and throttling, runs --workers worker processes
(each a send loop with --concurrency SES calls in flight, claiming --batch rows at a time) and
reads the stand-in's log: the achieved rate over the steady middle of the run, the busiest
1-second window, duplicates and throttled calls. --without-tallies disables the ledger's tally
triggers first (the report's counts go wrong; for measuring what the triggers cost).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, bench_env, database_reset, django_setup, free_port


def seed(contacts: int) -> int:
    """Create a started, fanned-out campaign for `contacts` new contacts; return its id."""
    from django.db import connection

    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStep, ContactList, Template
    from delivery import fan_out

    audience = ContactList.objects.create(name=f"Run {time.time()}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM campaigns_contact")
        (offset,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO campaigns_contact (email, first_name, last_name, external_id, attributes, timezone, "
            "status, created_at, updated_at) SELECT 'send' || i || '@example.com', 'F', '', '', '{}', '', "
            "'subscribed', now(), now() FROM generate_series(%s, %s) AS i",
            [offset + 1, offset + contacts],
        )
        cursor.execute(
            "INSERT INTO campaigns_listmembership (contact_list_id, contact_id, created_at) "
            "SELECT %s, id, now() FROM campaigns_contact WHERE id > %s",
            [audience.pk, offset],
        )
    template, _ = Template.objects.get_or_create(
        name="Bench", defaults={"subject": "Hi {{ contact.first_name }}", "html_body": "<p>Hi</p>"}
    )
    campaign = Campaign.objects.create(name=f"Bench {time.time()}", from_email="bench@campanile.test")
    campaign.lists.add(audience)
    step = CampaignStep.objects.create(campaign=campaign, template=template)
    campaign_services.campaign_schedule(campaign=campaign)
    campaign_services.campaign_start(campaign=campaign)
    fan_out.step_fan_out(step=step)
    return campaign.pk


def busiest_second(times: list[float]) -> int:
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def run(rate: float, args, log: Path, port: int) -> dict:
    contacts = int((rate or 2000) * args.seconds)
    campaign_id = seed(contacts)
    log.write_text("")
    standin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ses_standin",
            f"--port={port}",
            f"--log={log}",
            f"--latency-ms={args.latency_ms}",
            f"--throttle={args.throttle}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    standin.stdout.readline()
    env = bench_env(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - the stand-in takes any
        SES_MAX_SEND_RATE=str(rate or 1_000_000),
        SEND_CONCURRENCY=str(args.concurrency),
        SEND_BATCH_SIZE=str(args.batch),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    # A fresh timeline for this run (this process has the workers' Redis and key).
    from delivery.throttle import send_slots_reset

    send_slots_reset()
    started = time.time()
    workers = [
        subprocess.Popen([sys.executable, "manage.py", "send_campaign", str(campaign_id)], cwd=ROOT, env=env)
        for _ in range(args.workers)
    ]
    try:
        for worker in workers:
            worker.wait(args.seconds * 20 + 120)
    finally:
        for process in [*workers, standin]:
            process.kill()
            process.wait(10)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    records = [r for r in lines if not r.get("throttled")]
    times = sorted(r["at"] for r in records)
    # The steady middle: drop the first and last tenth (start-up, the tail of the last batches).
    cut = len(times) // 10
    middle = times[cut : len(times) - cut]
    achieved = (len(middle) - 1) / (middle[-1] - middle[0])
    return {
        "rate": rate,
        "sent": len(records),
        "contacts": contacts,
        "duplicates": sum(n - 1 for n in Counter(r["to"] for r in records).values()),
        "throttled": len(lines) - len(records),
        "achieved": achieved,
        "busiest": busiest_second(times),
        "seconds": times[-1] - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200,400,0")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--batch", type=int, default=150)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--throttle", type=float, default=0.0)
    parser.add_argument(
        "--without-tallies", action="store_true", help="Disable the tally triggers: to measure their cost."
    )
    args = parser.parse_args()

    database_reset()
    django_setup()
    if args.without_tallies:
        from django.db import connection

        with connection.cursor() as cursor:
            for table in ("delivery_stepexecution", "tracking_trackingevent"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    log = Path(tempfile.gettempdir()) / "campanile-sending-bench.jsonl"
    for rate in (float(r) for r in args.rates.split(",")):
        result = run(rate, args, log, free_port())
        target = f"{rate:.0f}/s" if rate else "wide open"
        error = f"{(result['achieved'] / rate - 1) * 100:+.1f}%" if rate else ""
        over = f"{(result['busiest'] / rate - 1) * 100:+.1f}%" if rate else ""
        print(
            f"{target:>10}: achieved {result['achieved']:7.1f}/s {error:>7}, busiest second "
            f"{result['busiest']:5d} {over:>7}, sent {result['sent']}/{result['contacts']}, "
            f"duplicates {result['duplicates']}, throttled {result['throttled']}, {result['seconds']:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
