"""Benchmark: a segment over N contacts (an attribute filter and an engagement filter): its count,
and its fan-out next to a plain list's fan-out of the same contacts.

Run by hand (needs PostgreSQL):

    .venv/bin/python benchmarks/segments.py [--contacts 1000000] [--rounds 3]

Seeds N subscribed contacts with a `plan` attribute (three in four "pro"), and an earlier campaign
that mailed nine in ten of them, eight in ten of whom opened it. The segment is "plan is pro, and
opened the earlier campaign". Prints the median seconds of counting it (goal under 1 s), then,
each round, the fan-out of a campaign whose audience is that segment and of one whose audience
is a list holding exactly the same contacts, each in a fresh process, and their ratio (goal at
most 2).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import contacts_seed, database_reset, django_setup
from benchmarks.fan_out import fan_out_in_process


def seed(contacts: int) -> tuple[dict, int, int]:
    """Create the contacts, the earlier campaign's mail and opens, the segment, and two started
    campaigns (the segment's and the same contacts' list's); return the definition and the steps."""
    from django.db import connection

    from campaigns import services as campaign_services
    from campaigns.models import Campaign, CampaignStep, ContactList, Segment, Template
    from campaigns.segments import segment_contacts

    everyone = ContactList.objects.create(name="Everyone")
    template = Template.objects.create(name="Bench", subject="Hi", html_body="<p>Hi</p>")
    earlier = Campaign.objects.create(name="Earlier", from_email="bench@campanile.test")
    earlier_step = CampaignStep.objects.create(campaign=earlier, template=template)
    with connection.cursor() as cursor:
        contacts_seed(cursor, contacts=contacts, list_id=everyone.pk)
        cursor.execute(
            "UPDATE campaigns_contact SET attributes = jsonb_build_object("
            "'plan', CASE WHEN id % 4 = 0 THEN 'free' ELSE 'pro' END, 'seats', (id % 50)::text)"
        )
        cursor.execute(
            "INSERT INTO delivery_stepexecution (step_id, contact_id, email, status, tracking_id, "
            "ses_message_id, attempts, last_error, outcome, created_at, updated_at, sent_at) "
            "SELECT %s, id, email, 'sent', gen_random_uuid(), '', 1, '', 'delivered', now(), now(), "
            "now() - interval '10 days' FROM campaigns_contact WHERE id %% 10 <> 0",
            [earlier_step.pk],
        )
        cursor.execute(
            "INSERT INTO delivery_engagement (step_execution_id, step_id, contact_id, opens, clicks, "
            "machine_opens, machine_clicks, links, machine_links, outcomes) "
            "SELECT id, step_id, contact_id, 1, 0, 0, 0, '{}', '{}', "
            "'[\"delivered\"]' FROM delivery_stepexecution WHERE contact_id % 5 <> 0"
        )
        cursor.execute("ANALYZE")
    definition = {
        "match": "all",
        "rules": [
            {"field": "attributes.plan", "op": "eq", "value": "pro"},
            {"engagement": "opened", "campaigns": [earlier.pk]},
        ],
    }
    segment = Segment.objects.create(name="Pro openers", definition=definition)
    same = ContactList.objects.create(name="The same contacts")
    sql, params = segment_contacts(definition).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_listmembership (contact_list_id, contact_id, created_at) "
            f"SELECT %s, pk, now() FROM ({sql}) AS matching(pk)",
            [same.pk, *params],
        )
        cursor.execute("ANALYZE")
    steps = []
    for name, audience in (("By segment", segment), ("By list", same)):
        campaign = Campaign.objects.create(name=name, from_email="bench@campanile.test")
        (campaign.segments if isinstance(audience, Segment) else campaign.lists).add(audience)
        steps.append(CampaignStep.objects.create(campaign=campaign, template=template).pk)
        campaign_services.campaign_schedule(campaign=campaign)
        campaign_services.campaign_start(campaign=campaign)
    return definition, steps[0], steps[1]


def count_seconds(definition: dict, rounds: int) -> tuple[float, int]:
    """Return the median seconds of counting the segment's contacts as the editor and the API
    count it (without PostgreSQL's JIT), and the count."""
    from campaigns.segments import segment_contacts
    from core.db import without_jit

    times, counted = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        with without_jit():
            counted = segment_contacts(definition).count()
        times.append(time.perf_counter() - started)
    return statistics.median(times), counted


def fan_out(step_id: int) -> dict:
    """Empty the step's rows, then fan it out in a fresh process; return its rows and seconds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM delivery_stepexecution WHERE step_id = %s", [step_id])
        cursor.execute(
            "UPDATE campaigns_campaignstep "
            "SET fan_out_until = NULL, fan_out_cursor = 0, fanned_out_at = NULL WHERE id = %s",
            [step_id],
        )
        cursor.execute("VACUUM ANALYZE delivery_stepexecution")
    return fan_out_in_process(step_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_reset()
    django_setup()
    from django.db import connection

    definition, segment_step, list_step = seed(args.contacts)
    count, matching = count_seconds(definition, rounds=5)
    print(f"{args.contacts} contacts; the segment holds {matching}")
    print(f"count: {count:.3f} s, median of 5   (goal < 1 s)")
    by_segment, by_list = [], []
    for round_ in range(args.rounds):
        listed = fan_out(list_step)
        segmented = fan_out(segment_step)
        if listed["rows"] != matching or segmented["rows"] != matching:
            raise SystemExit(f"fan-outs made {segmented['rows']} and {listed['rows']} rows, not {matching}")
        by_list.append(listed["seconds"])
        by_segment.append(segmented["seconds"])
        print(
            f"round {round_ + 1}: list {by_list[-1]:.2f} s, segment {by_segment[-1]:.2f} s "
            f"({by_segment[-1] / by_list[-1]:.2f}x)"
        )
    connection.close()
    plain, segment = statistics.median(by_list), statistics.median(by_segment)
    print(f"\nfan-out of {matching} rows, median of {args.rounds} rounds")
    print(f"by list {plain:.2f} s, by segment {segment:.2f} s")
    print(f"segment / list = {segment / plain:.2f}   (goal <= 2)")


if __name__ == "__main__":
    main()
