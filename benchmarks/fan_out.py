"""Benchmark: fanning a campaign step out to N contacts, next to a plain COPY of N ledger rows.

Run by hand (needs PostgreSQL):

    .venv/bin/python benchmarks/fan_out.py [--contacts 1000000] [--rounds 3]

Seeds N subscribed contacts on one list and a campaign for it. Each round COPYs N rows into the
ledger table (same table, same indexes, time-ordered tracking ids made in Python), empties it,
then runs the real fan-out in a fresh process and reads that process's peak RSS. Prints seconds,
the ratio fan-out / COPY (goal at most 1.5) and the peak RSS (goal under 300 MB).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, bench_env, contacts_seed, database_reset, django_setup

# Runs in its own process so its peak RSS is the fan-out's alone.
FAN_OUT = """
import json, sys, time
from benchmarks._common import django_setup
django_setup()
from campaigns.models import CampaignStep
from delivery import services
from delivery import fan_out as delivery_fan_out
step = CampaignStep.objects.get(pk=int(sys.argv[1]))
started = time.perf_counter()
rows = delivery_fan_out.step_fan_out(step=step)
seconds = time.perf_counter() - started
# VmHWM, not getrusage: Linux carries ru_maxrss over from the parent across fork and exec.
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
rss_mb = int(status["VmHWM"].split()[0]) / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": rss_mb}))
"""


def seed(contacts: int) -> int:
    """Create the audience and a started campaign with one step; return the step's id."""
    from django.db import connection

    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStep, ContactList, Template

    audience = ContactList.objects.create(name="Everyone")
    with connection.cursor() as cursor:
        contacts_seed(cursor, contacts=contacts, list_id=audience.pk)
        cursor.execute("ANALYZE")
    template = Template.objects.create(name="Bench", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(name="Bench", from_email="bench@campanile.test")
    campaign.lists.add(audience)
    step = CampaignStep.objects.create(campaign=campaign, template=template)
    campaign_services.campaign_schedule(campaign=campaign)
    campaign_services.campaign_start(campaign=campaign)
    return step.pk


def copy_seconds(step_id: int, contacts: int) -> float:
    """COPY N ledger rows for the step into the real table; return the seconds it took."""
    from django.db import connection
    from uuid_utils.compat import uuid7

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM campaigns_contact ORDER BY id")
        audience = cursor.fetchall()
        started = time.perf_counter()
        columns = (
            "step_id, contact_id, email, status, tracking_id, ses_message_id, attempts, last_error, "
            "created_at, updated_at"
        )
        with cursor.cursor.copy(f"COPY delivery_stepexecution ({columns}) FROM STDIN") as copy:
            for contact_id, email in audience:
                copy.write_row((step_id, contact_id, email, "pending", uuid7(), "", 0, "", "now", "now"))
        elapsed = time.perf_counter() - started
    if len(audience) != contacts:
        raise SystemExit(f"expected {contacts} contacts, found {len(audience)}")
    return elapsed


def reset(step_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE delivery_stepexecution CASCADE")
        cursor.execute(
            "UPDATE campaigns_campaignstep "
            "SET fan_out_until = NULL, fan_out_cursor = 0, fanned_out_at = NULL WHERE id = %s",
            [step_id],
        )
        cursor.execute("CHECKPOINT")


def fan_out_in_process(step_id: int) -> dict:
    """Fan the step out in a fresh process; return its rows, seconds and peak RSS (MB)."""
    output = subprocess.run(
        [sys.executable, "-c", FAN_OUT, str(step_id)],
        cwd=ROOT,
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_reset()
    django_setup()
    step_id = seed(args.contacts)
    copies, fan_outs, rss = [], [], []
    for round_ in range(args.rounds):
        reset(step_id)
        copies.append(copy_seconds(step_id, args.contacts))
        reset(step_id)
        result = fan_out_in_process(step_id)
        if result["rows"] != args.contacts:
            raise SystemExit(f"fan-out made {result['rows']} rows, not {args.contacts}")
        fan_outs.append(result["seconds"])
        rss.append(result["rss_mb"])
        print(
            f"round {round_ + 1}: COPY {copies[-1]:.2f} s, fan-out {fan_outs[-1]:.2f} s "
            f"({fan_outs[-1] / copies[-1]:.2f}x), peak RSS {rss[-1]:.0f} MB"
        )
    copy, fan_out = statistics.median(copies), statistics.median(fan_outs)
    print(f"\n{args.contacts} contacts, median of {args.rounds} rounds")
    print(f"COPY {copy:.2f} s ({args.contacts / copy:,.0f} rows/s)")
    print(f"fan-out {fan_out:.2f} s ({args.contacts / fan_out:,.0f} rows/s)")
    print(f"fan-out / COPY = {fan_out / copy:.2f}   (goal <= 1.5)")
    print(f"peak RSS of the fan-out process: {max(rss):.0f} MB   (goal < 300 MB)")


if __name__ == "__main__":
    main()
