"""Benchmark: the campaign report and the delivery dashboard, and how their time grows with the data.

Run by hand (needs PostgreSQL and Redis):

    .venv/bin/python benchmarks/report_pages.py [--sizes 100000,1000000] [--repeats 5] [--explain]

For each size N: resets the benchmark database and seeds N contacts, a completed one-step campaign
with a tracked link, one sent ledger row per contact (sent over 10 hours) and 5 events per row:
send, delivery (3% a bounce instead, hard or soft), two opens (10% of first opens by a machine)
and a click on the link (4% by a machine). The engagement counters are then counted from the
events in SQL (with --rebuild by `tracking.engagement.engagement_rebuild`, which counts about 1,800
events/s here: half an hour at 1,000,000 rows); the ledger and event tallies are kept by their
triggers while seeding and folded once, as beat does every minute. 17 minute snapshots of the
fleet counters are taken, and the database is VACUUM ANALYZEd. Both admin pages are fetched in-
process with Django's test client as a superuser: one warm-up, then the median of --repeats;
`campaign_report()` alone likewise. Prints milliseconds per page and the growth from the first
size to the last (goal under 2× for 10× the data). --explain prints EXPLAIN ANALYZE of each page's
slowest queries.
"""

import argparse
import hashlib
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import contacts_seed, database_reset, django_setup

EVENTS_PER_ROW = 5
EVENT_CHUNK = 100_000  # Ledger rows whose events go in one statement (and one transaction).
SLOWEST = 3  # Queries explained per page with --explain.

# One row per (ledger row e, n in 1..5); x holds what the row's events share.
EVENTS_SQL = """
INSERT INTO tracking_trackingevent (type, occurred_at, recipient, step_execution_id, ses_message_id,
    configuration_set, kind, is_machine, event_id, raw, created_at)
SELECT
    CASE n WHEN 1 THEN 'send' WHEN 2 THEN CASE WHEN x.bounced THEN 'bounce' ELSE 'delivery' END
        WHEN 5 THEN 'click' ELSE 'open' END,
    e.sent_at + CASE n WHEN 1 THEN interval '0' WHEN 2 THEN interval '5 seconds'
        WHEN 3 THEN x.opened WHEN 4 THEN x.opened + interval '90 minutes'
        ELSE x.opened + interval '2 minutes' END,
    e.email, e.id, CASE WHEN n <= 2 THEN e.ses_message_id ELSE '' END, '',
    CASE WHEN n = 2 AND x.bounced THEN CASE WHEN e.id %% 66 = 0 THEN 'hard' ELSE 'soft' END ELSE '' END,
    (n = 3 AND e.id %% 10 = 0) OR (n = 5 AND e.id %% 25 = 0),
    'bench-' || e.id || '-' || n,
    CASE WHEN n = 5 THEN jsonb_build_object('link_id', %s) ELSE '{}'::jsonb END,
    now()
FROM delivery_stepexecution e
CROSS JOIN LATERAL (
    SELECT e.id %% 33 = 0 AS bounced, interval '1 minute' * ((e.id * 7919) %% 360) AS opened
) AS x
CROSS JOIN generate_series(1, 5) AS n
WHERE e.id BETWEEN %s AND %s
ORDER BY e.id, n
"""

# The counters engagement_rebuild keeps, recounted from the events in set-based statements.
COUNTERS_SQL = (
    """
    INSERT INTO delivery_engagement (step_execution_id, step_id, opens, clicks, machine_opens,
        machine_clicks, first_opened_at, first_clicked_at, links, machine_links, outcomes)
    SELECT g.step_execution_id, x.step_id,
        COALESCE(sum(n) FILTER (WHERE type = 'open' AND NOT is_machine), 0),
        COALESCE(sum(n) FILTER (WHERE type = 'click' AND NOT is_machine), 0),
        COALESCE(sum(n) FILTER (WHERE type = 'open' AND is_machine), 0),
        COALESCE(sum(n) FILTER (WHERE type = 'click' AND is_machine), 0),
        min(first) FILTER (WHERE type = 'open' AND NOT is_machine),
        min(first) FILTER (WHERE type = 'click' AND NOT is_machine),
        COALESCE(jsonb_object_agg(link, n) FILTER (WHERE link IS NOT NULL AND NOT is_machine), '{}'),
        COALESCE(jsonb_object_agg(link, n) FILTER (WHERE link IS NOT NULL AND is_machine), '{}'),
        '[]'
    FROM (
        SELECT step_execution_id, type, is_machine,
            CASE WHEN type = 'click' THEN raw ->> 'link_id' END AS link,
            count(*) AS n, min(occurred_at) AS first
        FROM tracking_trackingevent
        WHERE type IN ('open', 'click') AND step_execution_id IS NOT NULL
        GROUP BY 1, 2, 3, 4
    ) AS g
    JOIN delivery_stepexecution x ON x.id = g.step_execution_id
    GROUP BY g.step_execution_id, x.step_id
    """,
    """
    INSERT INTO tracking_stepengagement (step_id, opens_unique, opens_total, machine_opens_total,
        clicks_unique, clicks_total, machine_clicks_total, delivered, bounced, bounced_hard,
        bounced_soft, bounced_other, complained, rejected, unsubscribed, suppressed)
    SELECT step_id, count(*) FILTER (WHERE opens > 0), sum(opens), sum(machine_opens),
        count(*) FILTER (WHERE clicks > 0), sum(clicks), sum(machine_clicks), 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM delivery_engagement WHERE step_id IS NOT NULL GROUP BY step_id
    """,
    """
    UPDATE tracking_stepengagement s SET delivered = o.delivered, bounced = o.bounced,
        bounced_hard = o.hard, bounced_soft = o.soft, bounced_other = o.bounced - o.hard - o.soft,
        complained = o.complained, rejected = o.rejected, unsubscribed = o.unsubscribed,
        suppressed = o.hard + o.complained
    FROM (
        SELECT x.step_id,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'delivery') AS delivered,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'bounce') AS bounced,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'bounce' AND e.kind = 'hard') AS hard,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'bounce' AND e.kind = 'soft') AS soft,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'complaint') AS complained,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'reject') AS rejected,
            count(DISTINCT e.step_execution_id) FILTER (WHERE e.type = 'unsubscribe') AS unsubscribed
        FROM tracking_trackingevent e JOIN delivery_stepexecution x ON x.id = e.step_execution_id
        GROUP BY x.step_id
    ) AS o
    WHERE s.step_id = o.step_id
    """,
    """
    INSERT INTO tracking_linkengagement (link_id, clicks_unique, clicks_total, machine_clicks_total)
    SELECT l.id, count(DISTINCT e.step_execution_id) FILTER (WHERE NOT e.is_machine),
        count(*) FILTER (WHERE NOT e.is_machine), count(*) FILTER (WHERE e.is_machine)
    FROM tracking_trackingevent e JOIN delivery_trackedlink l ON l.id::text = e.raw ->> 'link_id'
    WHERE e.type = 'click' AND e.step_execution_id IS NOT NULL
    GROUP BY l.id
    """,
)


def seed(rows: int, now) -> int:
    """Create the contacts, the completed campaign, its ledger rows and their events; return its id."""
    from django.db import connection

    from campaigns.models import Campaign, CampaignStep, ContactList, Template
    from delivery.ledger import _UUID7_SQL
    from delivery.models import TrackedLink

    started_at = now - timedelta(days=2)
    audience = ContactList.objects.create(name="Everyone")
    template = Template.objects.create(name="Bench", subject="Hi", html_body="<p>Hi</p>")
    campaign = Campaign.objects.create(
        name="Bench",
        from_email="bench@campanile.test",
        status=Campaign.Status.COMPLETED,
        started_at=started_at,
        completed_at=started_at + timedelta(hours=10),
    )
    campaign.lists.add(audience)
    step = CampaignStep.objects.create(campaign=campaign, template=template, order=1)
    url = "https://example.com/offer"
    link = TrackedLink.objects.create(step=step, url=url, url_hash=hashlib.sha256(url.encode()).hexdigest())
    with connection.cursor() as cursor:
        contacts_seed(cursor, contacts=rows, list_id=audience.pk)
        cursor.execute(
            "INSERT INTO delivery_stepexecution (step_id, contact_id, email, status, outcome, tracking_id, "
            "ses_message_id, attempts, last_error, created_at, updated_at, sent_at, due_at) "
            "SELECT %s, id, email, 'sent', CASE WHEN id %% 33 = 0 THEN 'bounced' ELSE 'delivered' END, "
            f"{_UUID7_SQL['postgresql']}, 'bench-' || id, 1, '', %s, %s, "
            "%s + interval '1 second' * ((id - 1) * %s), %s FROM campaigns_contact ORDER BY id",
            [step.pk, started_at, started_at, started_at, 36_000 / rows, started_at],
        )
        cursor.execute("SELECT min(id), max(id) FROM delivery_stepexecution")
        first, last = cursor.fetchone()
        for low in range(first, last + 1, EVENT_CHUNK):
            cursor.execute(EVENTS_SQL, [link.pk, low, min(low + EVENT_CHUNK - 1, last)])
    return campaign.pk


def snapshots_take(now) -> None:
    """Snapshot the fleet counters for this minute and the 16 before it, with some sending in each."""
    from core import fleet_metrics as fleet
    from delivery import metrics

    fleet.metrics_reset()
    metrics.SEND_RATE.set(14)
    metrics.QUOTA_MAX.set(50_000)
    for minutes_ago in range(16, -1, -1):
        metrics.QUEUED.inc(900, kind="campaign")
        metrics.EMAILS.inc(840, outcome="sent")
        metrics.EMAILS.inc(3, outcome="failed")
        metrics.SES_ERRORS.inc(2, kind="throttled")
        for seconds in (0.04, 0.05, 0.06, 0.12):
            metrics.SES_SECONDS.observe(seconds)
        fleet.metrics_snapshot(now=now - timedelta(minutes=minutes_ago))


def sql_run(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)


def median_ms(call, repeats: int) -> float:
    """Call once to warm up, then `repeats` times; return the median in milliseconds."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def page_get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return response


def queries_of(client, url: str) -> list[dict]:
    """Return the queries one GET of `url` runs, slowest first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        page_get(client, url)
    return sorted(captured.captured_queries, key=lambda query: float(query["time"]), reverse=True)


def explain(queries: list[dict]) -> None:
    from django.db import connection

    selects = [query for query in queries if query["sql"].lstrip().upper().startswith("SELECT")]
    for query in selects[:SLOWEST]:
        print(f"\n-- {float(query['time']) * 1000:.0f} ms: {query['sql']}")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def measure(rows: int, args) -> dict[str, float]:
    """Seed a campaign of `rows` ledger rows in a fresh database; time both pages and the report."""
    database_reset()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from campaigns.models import Campaign
    from core.tasks import tallies_compact
    from tracking import engagement
    from tracking.report import campaign_report

    connection.close()  # The database was dropped and made again under this connection.
    now = timezone.now()
    started = time.perf_counter()
    campaign_id = seed(rows, now)
    seeded = time.perf_counter()
    if args.rebuild:
        how = f"engagement_rebuild counted {engagement.engagement_rebuild():,} opens and clicks"
    else:
        for sql in COUNTERS_SQL:
            sql_run(sql)
        how = "counters filled in SQL"
    tallies_compact()  # The triggers kept the tallies while seeding; fold them as beat would.
    counted = time.perf_counter()
    snapshots_take(now)
    sql_run("VACUUM ANALYZE")
    sql_run("CHECKPOINT")
    print(
        f"\n{rows:,} ledger rows, {rows * EVENTS_PER_ROW:,} events: seeded in {seeded - started:.0f} s, "
        f"{how} in {counted - seeded:.0f} s"
    )

    client = Client(HTTP_HOST="localhost")
    user = get_user_model().objects.create_superuser("bench", "bench@campanile.test", "bench")
    client.force_login(user)
    # The admin wants the second factor too: an authenticator app enrolled, its current code typed.
    device = TOTPDevice.objects.create(user=user, name="Benchmark", confirmed=True)
    client.post(reverse("admin:second_factor"), {"token": f"{TOTP(device.bin_key).token():06d}"})
    campaign = Campaign.objects.get(pk=campaign_id)
    report = campaign_report(campaign=campaign)
    print(
        f"report: {report['recipients']:,} recipients, {report['delivered']:,} delivered, "
        f"{report['bounces_hard']:,} hard / {report['bounces_soft']:,} soft bounces, "
        f"{report['opens_unique']:,} opened, {report['clicks_unique']:,} clicked, "
        f"{len(report['activity']['starts'])} bars of {report['activity']['bucket']}"
    )
    urls = {
        "report page": reverse("admin:campaigns_campaign_report", args=[campaign_id]),
        # Loaded after the report page: it groups the campaign's ledger rows by domain.
        "report's domains": reverse("admin:campaigns_campaign_report_domains", args=[campaign_id]),
        "dashboard page": reverse("admin:delivery_dashboard"),
    }
    results = {}
    for name, url in urls.items():
        results[name] = median_ms(lambda url=url: page_get(client, url), args.repeats)
        queries = queries_of(client, url)
        sql_ms = sum(float(query["time"]) for query in queries) * 1000
        print(f"{name}: {results[name]:.0f} ms (another GET: {len(queries)} queries, {sql_ms:.0f} ms in SQL)")
        if args.explain:
            explain(queries)
    results["campaign_report()"] = median_ms(lambda: campaign_report(campaign=campaign), args.repeats)
    print(f"campaign_report(): {results['campaign_report()']:.0f} ms")
    connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=lambda text: [int(n) for n in text.split(",")], default=[100_000, 1_000_000]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="recount the engagement counters with engagement_rebuild (about 1,800 events/s here), not SQL",
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the slowest queries")
    args = parser.parse_args()

    django_setup()
    results = {rows: measure(rows, args) for rows in args.sizes}
    small, large = args.sizes[0], args.sizes[-1]
    print(f"\nmedian of {args.repeats} after a warm-up, ms")
    print(f"{'':>20}" + "".join(f"{rows:>12,}" for rows in args.sizes) + f"{'growth':>10}")
    for name in results[small]:
        growth = results[large][name] / results[small][name]
        verdict = "met" if growth < 2 else "NOT met"
        print(
            f"{name:>20}"
            + "".join(f"{results[rows][name]:>12.0f}" for rows in args.sizes)
            + f"{growth:>9.2f}x   (goal < 2x for {large / small:.0f}x the data: {verdict})"
        )


if __name__ == "__main__":
    main()
