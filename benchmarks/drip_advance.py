"""Benchmark: advancing N contacts from step 1 to step 2 of a drip, next to a plain INSERT … SELECT.

Run by hand (needs PostgreSQL):

    .venv/bin/python benchmarks/drip_advance.py [--contacts 1000000] [--rounds 3] [--explain]

Seeds N subscribed contacts, a campaign of two steps (step 2: one day after step 1, only for
contacts who did not open it), a sent step-1 ledger row two days old for every contact and an
Engagement row with one open for 30% of them. Each round first times the baseline, a plain
INSERT … SELECT of N step-2 rows from the step-1 rows (same columns, constant status), deletes
them, then times the real `drip.step_advance` and deletes its rows again. Prints seconds, the
ratio advance / INSERT … SELECT (goal at most 3) and whether the rows came out 30% skipped and
70% pending. --explain then prints EXPLAIN ANALYZE of the advance's statement.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import contacts_seed, database_reset, django_setup


def seed(contacts: int, now) -> tuple[int, int]:
    """Create the contacts, the two-step campaign, step 1's sent rows and 30% opens; return the steps' ids."""
    from django.db import connection

    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStep, ContactList, Template
    from delivery.ledger import _UUID7_SQL

    audience = ContactList.objects.create(name="Everyone")
    template = Template.objects.create(name="Bench", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(name="Bench", from_email="bench@campanile.test")
    campaign.lists.add(audience)
    first = CampaignStep.objects.create(campaign=campaign, template=template, order=1)
    second = CampaignStep.objects.create(
        campaign=campaign,
        template=template,
        order=2,
        delay=timedelta(days=1),
        condition=CampaignStep.Condition.NOT_OPENED,
    )
    with connection.cursor() as cursor:
        contacts_seed(cursor, contacts=contacts, list_id=audience.pk)
        sent_at = now - timedelta(days=2)
        cursor.execute(
            "INSERT INTO delivery_stepexecution (step_id, contact_id, email, status, tracking_id, "
            "ses_message_id, attempts, last_error, created_at, updated_at, sent_at, due_at) "
            f"SELECT %s, id, email, 'sent', {_UUID7_SQL['postgresql']}, '', 1, '', %s, %s, %s, %s "
            "FROM campaigns_contact ORDER BY id",
            [first.pk, sent_at, sent_at, sent_at, sent_at],
        )
        # Every third of ten contacts (ids ending in 1, 4 or 7) opened step 1: 30%.
        cursor.execute(
            "INSERT INTO delivery_engagement (step_execution_id, step_id, opens, clicks, machine_opens, "
            "machine_clicks, first_opened_at, links, machine_links) "
            "SELECT id, step_id, 1, 0, 0, 0, %s, '{}', '{}' FROM delivery_stepexecution "
            "WHERE step_id = %s AND contact_id %% 10 IN (1, 4, 7)",
            [sent_at + timedelta(hours=1), first.pk],
        )
    campaign_services.campaign_schedule(campaign=campaign)
    campaign_services.campaign_start(campaign=campaign)
    vacuum()
    return first.pk, second.pk


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def baseline_seconds(first_id: int, second_id: int, now) -> tuple[float, int]:
    """INSERT … SELECT a step-2 row per step-1 row, the advance's columns, constant status; time it."""
    from django.db import connection

    from delivery.ledger import _UUID7_SQL

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO delivery_stepexecution (step_id, contact_id, email, status, tracking_id, "
            "ses_message_id, attempts, last_error, created_at, updated_at, due_at) "
            f"SELECT %s, contact_id, email, 'pending', {_UUID7_SQL['postgresql']}, '', 0, '', %s, %s, "
            "sent_at + interval '1 day' FROM delivery_stepexecution WHERE step_id = %s",
            [second_id, now, now, first_id],
        )
        return time.perf_counter() - started, cursor.rowcount


def advance_seconds(second_id: int, now) -> tuple[float, int]:
    """Run the real step advance over every step-1 row; time it."""
    from campaigns.models import CampaignStep
    from delivery import drip

    step = CampaignStep.objects.get(pk=second_id)
    started = time.perf_counter()
    moved = drip.step_advance(step=step, now=now)
    return time.perf_counter() - started, moved


def reset(second_id: int) -> None:
    """Remove step 2's rows and progress, so the next run starts where the first one did."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM delivery_stepexecution WHERE step_id = %s", [second_id])
        cursor.execute("UPDATE campaigns_campaignstep SET advanced_through = NULL WHERE id = %s", [second_id])
    vacuum()


def statuses(second_id: int) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM delivery_stepexecution WHERE step_id = %s GROUP BY status",
            [second_id],
        )
        return dict(cursor.fetchall())


def explain(second_id: int, now) -> None:
    """Print EXPLAIN ANALYZE of the advance's INSERT … SELECT (it runs; its rows are removed after)."""
    from django.db import connection

    def wrapper(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "delivery_stepexecution"'):
            execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params, many, context)
            print(f"\n{connection.ops.compose_sql(sql, params)}\n")
            print("\n".join(row[0] for row in context["cursor"].fetchall()))
            return None
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        advance_seconds(second_id, now)
    reset(second_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the advance")
    args = parser.parse_args()

    database_reset()
    django_setup()
    from django.utils import timezone

    from delivery.models import Engagement

    now = timezone.now()
    started = time.perf_counter()
    first_id, second_id = seed(args.contacts, now)
    opened = Engagement.objects.filter(step_id=first_id, opens__gt=0).count()
    print(f"seeded {args.contacts} contacts, {opened} opened, in {time.perf_counter() - started:.0f} s")
    baselines, advances, correct = [], [], True
    for round_ in range(args.rounds):
        seconds, rows = baseline_seconds(first_id, second_id, now)
        if rows != args.contacts:
            raise SystemExit(f"INSERT … SELECT made {rows} rows, not {args.contacts}")
        baselines.append(seconds)
        reset(second_id)
        seconds, rows = advance_seconds(second_id, now)
        advances.append(seconds)
        counts = statuses(second_id)
        expected = {"skipped": opened, "pending": args.contacts - opened}
        correct = correct and rows == args.contacts and counts == expected
        reset(second_id)
        print(
            f"round {round_ + 1}: INSERT … SELECT {baselines[-1]:.2f} s, advance {advances[-1]:.2f} s "
            f"({advances[-1] / baselines[-1]:.2f}x), {rows} rows {counts}"
        )
    baseline, advance = statistics.median(baselines), statistics.median(advances)
    print(f"\n{args.contacts} contacts, {opened / args.contacts:.0%} opened, median of {args.rounds} rounds")
    print(f"INSERT … SELECT {baseline:.2f} s ({args.contacts / baseline:,.0f} rows/s)")
    print(f"step advance {advance:.2f} s ({args.contacts / advance:,.0f} rows/s)")
    print(f"advance / INSERT … SELECT = {advance / baseline:.2f}   (goal <= 3)")
    verdict = "correct" if correct else "WRONG"
    print(f"rows: {verdict} in every round (expected {opened} skipped, {args.contacts - opened} pending)")
    if args.explain:
        explain(second_id, now)


if __name__ == "__main__":
    main()
