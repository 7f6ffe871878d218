"""Benchmark: how long Celery sending stalls after a Redis outage ends.

Run by hand (needs PostgreSQL; starts its own Redis, Celery worker, beat and SES stand-in):

    .venv/bin/python benchmarks/redis_outage.py [--down 12] [--rate 100] [--contacts 6000]

Sends a campaign through a real Celery worker and beat on a Redis of its own, stops that Redis
for --down seconds once sending is under way, starts it again, and reports the stall: the time
from Redis answering again to the next message the stand-in accepts, and the longest gap between
two accepted messages.
"""

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    ROOT,
    bench_env,
    contacts_seed,
    database_reset,
    django_setup,
    free_port,
    redis_start,
)


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _arrivals(log: Path) -> list[float]:
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(record["at"] for record in map(json.loads, lines) if not record.get("throttled"))


def seed(contacts: int) -> int:
    """Create a scheduled campaign for `contacts` new contacts; return its id."""
    from django.db import connection

    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStep, ContactList, Template

    audience = ContactList.objects.create(name=f"Outage {time.time()}")
    with connection.cursor() as cursor:
        contacts_seed(cursor, contacts=contacts, list_id=audience.pk)
    template = Template.objects.create(name="Outage", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(name="Outage", from_email="bench@campanile.test")
    campaign.lists.add(audience)
    CampaignStep.objects.create(campaign=campaign, template=template)
    campaign_services.campaign_schedule(campaign=campaign)
    return campaign.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down", type=float, default=12.0, help="Seconds Redis stays stopped.")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--contacts", type=int, default=6000)
    args = parser.parse_args()

    redis_port, ses_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    log = Path(tempfile.mkdtemp()) / "accepted.jsonl"
    processes = [redis_start(redis_port)]
    env = bench_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{ses_port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - the stand-in takes any
        SES_MAX_SEND_RATE=str(args.rate),
        CAMPAIGN_TICK_SECONDS="5",
    )
    database_reset()
    django_setup()
    seed(args.contacts)
    standin = [sys.executable, "-m", "ses_standin", f"--port={ses_port}", f"--log={log}", "--latency-ms=20"]
    celery = [sys.executable, "-m", "celery", "--app", "config"]
    worker = [
        *celery,
        "worker",
        "--queues",
        "celery,transactional",
        "--pool",
        "threads",
        "--concurrency",
        "4",
    ]
    try:
        processes.append(subprocess.Popen(standin, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        processes.append(subprocess.Popen([*worker, "--loglevel", "ERROR"], cwd=ROOT, env=env))
        processes.append(subprocess.Popen([*celery, "beat", "--loglevel", "ERROR"], cwd=ROOT, env=env))
        if not _wait(lambda: len(_arrivals(log)) >= 300, 120):
            raise SystemExit("sending never got going")
        processes[0].kill()
        processes[0].wait(10)
        stopped = time.time()
        time.sleep(args.down)
        processes[0] = redis_start(redis_port)
        back = time.time()
        _wait(lambda: any(at > back for at in _arrivals(log)), 300)
        time.sleep(5)
    finally:
        for process in processes:
            process.kill()
            process.wait(10)
    arrivals = _arrivals(log)
    first_after = min((at for at in arrivals if at > back), default=float("nan"))
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    print(
        f"Redis down {back - stopped:.1f} s; first message accepted {first_after - back:.1f} s after it "
        f"answered again; longest gap between messages {max(gaps):.1f} s; {len(arrivals)} accepted."
    )


if __name__ == "__main__":
    main()
