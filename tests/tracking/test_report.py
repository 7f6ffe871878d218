"""The campaign report: figures checked against a hand-built campaign, charts and their CSVs, the
breakdowns by domain and client, the comparison with the sender's earlier campaigns, CSV exports."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from delivery import compose as delivery_compose
from tests.factories import CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tests.utils import staff_login
from tracking import engagement
from tracking.report import campaign_report

pytestmark = pytest.mark.django_db

NINE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def campaign():
    """Five emails: three delivered, a hard and a soft bounce; opens, a click, a complaint, an unsubscribe."""
    step = CampaignStepFactory()
    CampaignStepFactory(campaign=step.campaign, order=2)
    rows = [
        StepExecutionFactory(step=step, status="sent", sent_at=NINE + timedelta(minutes=50 * n))
        for n in range(5)
    ]
    link = delivery_compose.step_link_id(step_id=step.pk, url="https://shop.example.com/")

    def event(row, type_, minutes, **fields):
        TrackingEventFactory(
            step_execution=row,
            type=type_,
            recipient=row.email,
            occurred_at=NINE + timedelta(minutes=minutes),
            **fields,
        )

    for n, row in enumerate(rows[:3]):
        event(row, "delivery", 50 * n + 1)
    event(rows[3], "bounce", 151, kind="hard")
    event(rows[4], "bounce", 201, kind="soft")
    event(rows[0], "complaint", 120)
    event(rows[0], "open", 70)
    event(rows[0], "open", 130)
    event(rows[1], "open", 60, is_machine=True)
    event(rows[0], "click", 71, raw={"link_id": link})
    event(rows[1], "unsubscribe", 100)
    engagement.engagement_rebuild()
    return step.campaign


def test_the_report_adds_up_the_hand_built_campaign(campaign):
    report = campaign_report(campaign=campaign, now=NINE + timedelta(days=1))
    assert (report["sent"], report["delivered"], report["bounces_hard"], report["bounces_soft"]) == (
        5,
        3,
        1,
        1,
    )
    assert (report["complained"], report["unsubscribed"]) == (1, 1)
    assert (report["opens_unique"], report["opens_total"], report["machine_opens_total"]) == (1, 2, 1)
    assert (report["clicks_unique"], report["clicks_total"]) == (1, 1)
    assert report["rates"]["open"] == 1 / 3  # Exact; a page rounds it as it shows it.
    assert report["links"] == [
        {
            "url": "https://shop.example.com/",
            "step": 1,
            "clicks_unique": 1,
            "clicks_total": 1,
            "machine_clicks_total": 0,
            "share": 1.0,
        }
    ]
    assert [(step["order"], step["sent"], step["opens_unique"]) for step in report["steps"]] == [
        (1, 5, 1),
        (2, 0, 0),
    ]
    # From 09:00 to the last send at 12:20: 3 h 20 min, drawn in 5-minute buckets.
    activity = report["activity"]
    assert activity["bucket"] == timedelta(minutes=5)
    assert (activity["starts"][0], activity["starts"][-1], len(activity["starts"])) == (
        NINE,
        NINE + timedelta(minutes=200),
        41,
    )
    series = activity["series"]
    assert [i for i, n in enumerate(series["sent"]) if n] == [0, 10, 20, 30, 40]
    assert [i for i, n in enumerate(series["delivered"]) if n] == [0, 10, 20]
    # 10:10 and 11:10; the machine's 10:00 is out.
    assert {i: n for i, n in enumerate(series["opens"]) if n} == {14: 1, 26: 1}
    assert {i: n for i, n in enumerate(series["clicks"]) if n} == {14: 1}


def test_the_report_page_draws_each_chart_with_its_numbers_and_downloads(admin_client, campaign):
    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()
    for key in ("funnel", "engagement", "sending", "clients"):
        assert f'id="chart-canvas-{key}"' in page, key
        assert reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, key]) in page, key
    assert page.count('class="chart"') == 4
    assert page.count("<summary>The numbers</summary>") == 4
    # The breakdown by domain reads the ledger: the page loads it after itself.
    domains = reverse("admin:campaigns_campaign_report_domains", args=[campaign.pk])
    assert f'hx-get="{domains}" hx-trigger="load"' in page
    fragment = admin_client.get(domains).content.decode()
    assert 'id="chart-canvas-domains"' in fragment
    assert "<html" not in fragment
    assert reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, "domains"]) in fragment
    # The sender's first campaign: nothing to compare with, and the page says so.
    assert f"No earlier campaign from {escape(campaign.from_email)} to compare with yet." in page
    for text in ("Hard bounces", "33.33%", "https://shop.example.com/", "recipients.csv", "events.csv"):
        assert text in page, text
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert reverse("admin:campaigns_campaign_report", args=[campaign.pk]) in change


def _csv(client, name, campaign) -> list[dict]:
    response = client.get(reverse(f"admin:campaigns_campaign_{name}_csv", args=[campaign.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"  # Read as UTF-8 by whoever opens it.
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_exports_parse_back_to_the_ledger_and_the_events(admin_client, campaign):
    recipients = _csv(admin_client, "recipients", campaign)
    assert len(recipients) == 5
    first = recipients[0]
    assert (first["status"], first["opens"], first["clicks"], first["machine_opens"]) == (
        "sent",
        "2",
        "1",
        "0",
    )
    events = _csv(admin_client, "events", campaign)
    assert len(events) == 11
    (click,) = [event for event in events if event["type"] == "click"]
    assert click["link"] == "https://shop.example.com/"
    assert [event["machine"] for event in events if event["type"] == "open"].count("yes") == 1


def test_the_report_needs_permission_to_view_campaigns(campaign):
    nobody = User.objects.create_user(username="nobody", password="pw", is_staff=True)
    client = Client()
    staff_login(client, nobody)
    assert client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).status_code == 403
    for name in ("events_csv", "report_domains"):
        assert client.get(reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])).status_code == 403
    chart = reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, "funnel"])
    assert client.get(chart).status_code == 403


@pytest.mark.parametrize("published", [True, False])
def test_the_report_says_how_many_are_unconfirmed_and_who_settles_them(admin_client, settings, published):
    from tracking.models import SendEventsCheck

    settings.SES_CONFIGURATION_SET = "marketing"
    row = StepExecutionFactory(status="unknown", step__campaign__status="completed")
    SendEventsCheck.objects.create(configuration_set="marketing", published=published, detail="As SES said.")

    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[row.step.campaign.pk]))

    text = page.content.decode()
    assert "Completed — 1 unconfirmed" in text
    requeue = reverse("admin:campaigns_campaign_requeue_unknown", args=[row.step.campaign.pk])
    assert ("go back to the queue by themselves" in text) is published
    assert (requeue in text) is not published


def test_the_recipients_csv_names_each_contact_and_never_hands_a_spreadsheet_a_formula(admin_client):
    row = StepExecutionFactory(status="sent", contact__first_name='=HYPERLINK("http://evil")')
    row.contact.last_name = "-2+3"
    row.contact.save()
    (line,) = _csv(admin_client, "recipients", row.step.campaign)
    assert line["first_name"] == '\'=HYPERLINK("http://evil")'
    assert line["last_name"] == "'-2+3"
    assert line["email"] == row.email
    assert line["step"] == "1"  # Numbers stay numbers.


def test_the_recipients_csv_says_opened_as_the_report_counts_it(admin_client):
    from delivery.models import Engagement

    clicked, unread = StepExecutionFactory(status="sent"), None
    unread = StepExecutionFactory(status="sent", step=clicked.step)
    Engagement.objects.create(step_execution=clicked, step=clicked.step, clicks=1)  # Pixel blocked.

    lines = {line["email"]: line for line in _csv(admin_client, "recipients", clicked.step.campaign)}

    # Its click proved one open, as the report's total opens count it.
    assert (lines[clicked.email]["opened"], lines[clicked.email]["opens"]) == ("yes", "1")
    assert lines[unread.email]["opened"] == "no"


def test_recipients_count_people_once_however_many_steps_a_drip_has(ses):
    from datetime import timedelta

    from campaigns import services as campaign_services
    from campaigns.models import CampaignStep
    from delivery import drip
    from delivery import services as delivery_services
    from tests.factories import sendable_campaign
    from tracking.selectors import campaign_stats

    campaign = sendable_campaign(contacts=2)
    step = campaign.steps.get()
    CampaignStep.objects.create(campaign=campaign, order=2, template=step.template, delay=timedelta(0))
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    drip.campaign_advance(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)

    stats = campaign_stats(campaign=campaign)

    assert stats["sent"] == 4  # Two emails each…
    assert stats["recipients"] == 2  # …to two people.


def _chart_csv(client, campaign, key) -> list[list[str]]:
    response = client.get(reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, key]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_campaign_without_the_open_pixel_shows_no_opened_figure_stage_or_column(admin_client, campaign):
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=campaign.pk).update(track_opens=False)

    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()
    stages = [row[0] for row in _chart_csv(admin_client, campaign, "funnel")]
    (header, *_rows) = _chart_csv(admin_client, campaign, "domains")

    assert "not tracked: no open pixel" in page
    assert "Opened" not in stages
    assert "Clicked" in stages
    assert ("Opened" not in header, "Open rate" not in header, "Delivered" in header) == (True, True, True)
    for key in ("engagement", "clients"):  # Over time and by client: clicks alone.
        (chart_header, *_rows) = _chart_csv(admin_client, campaign, key)
        assert ("Opens" not in chart_header, "Clicks" in chart_header) == (True, True), key


def test_the_funnel_csv_gives_each_stage_and_its_share_of_sent(admin_client, campaign):
    assert _chart_csv(admin_client, campaign, "funnel") == [
        ["Stage", "Emails", "Of sent"],
        ["Sent", "5", "100.0%"],
        ["Delivered", "3", "60.0%"],
        ["Opened", "1", "20.0%"],
        ["Clicked", "1", "20.0%"],
        ["Unsubscribed", "1", "20.0%"],
        ["Bounced", "2", "40.0%"],
        ["Complained", "1", "20.0%"],
    ]


def test_a_chart_with_nothing_to_draw_says_so_instead_of_empty_axes(admin_client):
    row = StepExecutionFactory(status="sent", sent_at=NINE)
    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[row.step.campaign.pk])).content
    text = page.decode()
    assert "No opens or clicks by people yet." in text
    assert "No opens or clicks yet." in text
    assert 'id="chart-canvas-engagement"' not in text
    assert 'id="chart-canvas-sending"' in text


def test_the_chart_csv_over_time_names_each_bucket_by_its_start(admin_client, campaign):
    rows = _chart_csv(admin_client, campaign, "engagement")
    assert rows[0] == ["Time (UTC)", "Opens", "Clicks"]
    assert rows[1][0] == NINE.isoformat()
    assert sum(int(row[1]) for row in rows[1:]) == 2


def test_the_domains_csv_counts_each_providers_emails(admin_client, campaign):
    from delivery.models import StepExecution

    # What applying the events sets on the ledger: each email's final outcome (a complaint outranks
    # the delivery before it, and still counts as delivered here).
    rows = StepExecution.objects.filter(step__campaign=campaign)
    for event, outcome in (("delivery", "delivered"), ("bounce", "bounced"), ("complaint", "complained")):
        rows.filter(events__type=event).update(outcome=outcome)
    assert _chart_csv(admin_client, campaign, "domains") == [
        [
            "Domain",
            "Delivered",
            "Bounced",
            "Opened",
            "Sent",
            "Delivery rate",
            "Hard bounces",
            "Bounce (hard) rate",
            "Open rate",
        ],
        # The bounce rate is the campaign's: hard bounces (one of the two) over sent.
        ["example.com", "3", "2", "1", "5", "60.0%", "1", "20.0%", "33.3%"],
    ]


def test_an_unknown_chart_has_no_csv(admin_client, campaign):
    url = reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, "secrets"])
    assert admin_client.get(url).status_code == 404


def test_a_domains_email_opened_before_its_delivery_was_reported_counts_as_delivered():
    from tracking.report import campaign_domains

    step = CampaignStepFactory()
    reported, opened_first = (
        StepExecutionFactory(step=step, status="sent", email=f"p{n}@yahoo.fr", sent_at=NINE) for n in range(2)
    )
    TrackingEventFactory(step_execution=reported, type="delivery", recipient=reported.email, occurred_at=NINE)
    for row in (reported, opened_first):
        TrackingEventFactory(step_execution=row, type="open", recipient=row.email, occurred_at=NINE)
    engagement.engagement_rebuild()

    (yahoo,) = campaign_domains(campaign=step.campaign)

    assert (yahoo["sent"], yahoo["delivered"], yahoo["opened"]) == (
        2,
        2,
        2,
    )  # An open rate of 100%, not 200%.


def test_without_any_reported_delivery_a_domains_open_rate_is_over_sent():
    from tracking.report import campaign_domains
    from tracking.report_charts import domains_chart

    step = CampaignStepFactory()
    rows = [
        StepExecutionFactory(step=step, status="sent", email=f"p{n}@yahoo.fr", sent_at=NINE) for n in range(4)
    ]
    TrackingEventFactory(step_execution=rows[0], type="open", recipient=rows[0].email, occurred_at=NINE)
    engagement.engagement_rebuild()

    shown = campaign_domains(campaign=step.campaign)

    assert (shown[0]["sent"], shown[0]["delivered"], shown[0]["opened"]) == (4, 0, 1)
    extra = dict(domains_chart(shown).extra)
    assert extra["Open rate"] == ["25.0%"]  # Over sent, as the report's own rates then are.


def test_a_domains_delivered_are_the_campaigns_delivered_by_the_same_signs(settings):
    # Reported delivered, or shown so by their recipient (opened, unsubscribed, complained), even
    # after a bounce report: the domains sum to the campaign's figure.
    from tests.tracking.test_ses_events import bounce, deliver, fixture, for_row
    from tracking import unsubscribe
    from tracking.report import campaign_domains
    from tracking.selectors import campaign_stats

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [
        StepExecutionFactory(
            step=step, status="sent", email=f"p{n}@yahoo.com", sent_at=NINE, ses_message_id=f"m{n}"
        )
        for n in range(5)
    ]
    deliver(for_row(fixture("event-delivery.json"), rows[0]))
    TrackingEventFactory(step_execution=rows[1], type="open", recipient=rows[1].email, occurred_at=NINE)
    engagement.engagement_rebuild()
    deliver(bounce(rows[1]))  # Opened, then reported bounced: it arrived.
    unsubscribe.step_execution_unsubscribe(execution=rows[2], source="one-click")
    deliver(for_row(fixture("event-complaint.json"), rows[3]))

    (yahoo,) = campaign_domains(campaign=step.campaign)

    assert yahoo["delivered"] == campaign_stats(campaign=step.campaign)["delivered"] == 4
    assert (yahoo["sent"], yahoo["bounced"], yahoo["opened"]) == (5, 1, 1)


def test_without_a_delivery_event_a_complaint_leaves_the_domains_rates_over_sent(settings):
    from tests.tracking.test_ses_events import deliver, fixture, for_row
    from tracking.report import campaign_domains
    from tracking.report_charts import domains_chart

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [
        StepExecutionFactory(
            step=step, status="sent", email=f"p{n}@gmail.com", sent_at=NINE, ses_message_id=f"c{n}"
        )
        for n in range(10)
    ]
    deliver(for_row(fixture("event-complaint.json"), rows[0]))
    for row in rows[1:4]:
        TrackingEventFactory(step_execution=row, type="open", recipient=row.email, occurred_at=NINE)
    engagement.engagement_rebuild()

    (gmail,) = campaign_domains(campaign=step.campaign)

    assert (gmail["delivered"], gmail["rate_base"]) == (0, "sent")
    assert dict(domains_chart([gmail]).extra)["Open rate"] == ["30.0%"]


def test_domains_are_grouped_by_provider_and_the_smallest_summed(settings):
    from tracking.report import DOMAINS_SHOWN, campaign_domains

    step = CampaignStepFactory()
    domains = ["gmail.com", "googlemail.com", "hotmail.co.uk", "yahoo.fr"] + [
        f"d{n}.example" for n in range(DOMAINS_SHOWN + 1)
    ]
    rows = [
        StepExecutionFactory(step=step, status="sent", email=f"p{n}@{domain}", sent_at=NINE)
        for n, domain in enumerate(domains)
    ]
    StepExecutionFactory(step=step, status="queued", email="q@gmail.com")  # Not sent: not counted.
    TrackingEventFactory(step_execution=rows[2], type="bounce", kind="hard", recipient=rows[2].email)
    TrackingEventFactory(step_execution=rows[0], type="delivery", recipient=rows[0].email, occurred_at=NINE)
    # Marked as spam, its Delivery event not applied yet: delivered all the same.
    TrackingEventFactory(step_execution=rows[1], type="complaint", recipient=rows[1].email, occurred_at=NINE)
    TrackingEventFactory(step_execution=rows[0], type="open", recipient=rows[0].email, occurred_at=NINE)
    # A click with no open (images blocked) still says the email was opened.
    TrackingEventFactory(step_execution=rows[1], type="click", recipient=rows[1].email, occurred_at=NINE)
    engagement.engagement_rebuild()

    shown = campaign_domains(campaign=step.campaign)

    counted = ("name", "sent", "delivered", "bounced", "opened", "rate_base")
    rows_shown = [tuple(entry[key] for key in counted) for entry in shown]
    assert rows_shown[0] == ("Gmail", 2, 2, 0, 2, "delivered")
    assert ("Outlook", 1, 0, 1, 0, "delivered") in rows_shown
    assert len(shown) == DOMAINS_SHOWN + 1
    assert shown[-1]["name"] == "Other domains"
    assert sum(entry["sent"] for entry in shown) == len(domains)
    with translation.override("de"):
        assert campaign_domains(campaign=step.campaign)[-1]["name"] == "Andere Domains"


def test_opens_and_clicks_are_broken_down_by_who_made_them():
    from tracking.report import campaign_clients

    row = StepExecutionFactory(status="sent", sent_at=NINE)
    for type_, kind, machine in (
        ("open", "", False),
        ("open", "proxy", False),
        ("open", "proxy", True),
        ("open", "prefetch", True),
        ("open", "prefetch", True),
        ("click", "", False),
        ("click", "scanner", True),
        ("click", "", True),  # A machine's, from before kinds were kept.
    ):
        TrackingEventFactory(
            step_execution=row,
            type=type_,
            kind=kind,
            is_machine=machine,
            recipient=row.email,
            occurred_at=NINE,
        )

    clients = {entry["kind"]: entry for entry in campaign_clients(campaign=row.step.campaign)}

    assert {kind: (entry["opens"], entry["clicks"], entry["counted"]) for kind, entry in clients.items()} == {
        "person": (1, 1, True),
        "proxied": (1, 0, True),  # The proxy's first fetch: the person's open, the one in the rates…
        "prefetch": (2, 0, False),
        "scanner": (1, 2, False),  # …and its later fetch, a machine's.
    }


def test_the_comparison_sets_the_senders_earlier_campaigns_beside_this_one():
    from tracking.report import COMPARED_CAMPAIGNS, campaign_comparison

    def started(name, days_ago, sender="news@shop.example"):
        step = CampaignStepFactory(
            campaign__name=name,
            campaign__from_email=sender,
            campaign__status="completed",
            campaign__started_at=NINE - timedelta(days=days_ago),
        )
        StepExecutionFactory(step=step, status="sent", sent_at=NINE)
        return step.campaign

    this = started("This", 1)
    earlier = [started(f"Earlier {n}", 2 + n) for n in range(COMPARED_CAMPAIGNS + 1)]
    started("Later", 0)  # Started after this one: not an earlier campaign.
    started("Someone else's", 3, sender="other@shop.example")

    rows = campaign_comparison(campaign=this)

    assert [row["campaign"] for row in rows] == [this, *earlier[:COMPARED_CAMPAIGNS]]
    assert [row["current"] for row in rows] == [True] + [False] * COMPARED_CAMPAIGNS
    assert rows[0]["counts"]["sent"] == 1


def test_the_comparisons_export_names_each_campaign_in_full_where_the_chart_cuts_it():
    from tracking.report import campaign_comparison
    from tracking.report_charts import comparison_chart

    name = "Spring newsletter 2026 for everyone who bought boots"
    step = CampaignStepFactory(campaign__name=name, campaign__status="completed", campaign__started_at=NINE)
    StepExecutionFactory(step=step, status="sent", sent_at=NINE)

    chart = comparison_chart({"comparison": campaign_comparison(campaign=step.campaign)})

    assert chart.labels[0] != f"{name} (this one)"  # Cut to fit the axis…
    assert chart.csv_rows()[1][0] == f"{name} (this one)"  # …whole in the file.


def test_a_campaign_read_for_days_is_drawn_in_longer_buckets_summed_by_the_database():
    row = StepExecutionFactory(status="sent", sent_at=NINE + timedelta(seconds=20))
    for days, minutes in ((0, 5), (0, 50), (4, 0), (10, 30)):
        TrackingEventFactory(
            step_execution=row,
            type="open",
            recipient=row.email,
            occurred_at=NINE + timedelta(days=days, minutes=minutes),
        )

    activity = campaign_report(campaign=row.step.campaign, now=NINE + timedelta(days=30))["activity"]

    assert activity["bucket"] == timedelta(hours=6)  # Ten days and a half: 6-hour bars.
    assert activity["starts"][0] == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    opens = activity["series"]["opens"]
    assert (opens[0], sum(opens), len(opens)) == (2, 4, 41)  # 06:00 on the 2nd to 06:00 on the 12th.
    assert activity["series"]["sent"][0] == 1


def test_the_charts_over_time_start_at_the_first_send_whatever_an_event_claims():
    row = StepExecutionFactory(status="sent", sent_at=NINE)
    for moment in (NINE - timedelta(days=400), NINE + timedelta(minutes=2)):  # A skewed clock, then a reader.
        TrackingEventFactory(step_execution=row, type="open", recipient=row.email, occurred_at=moment)

    activity = campaign_report(campaign=row.step.campaign, now=NINE + timedelta(hours=3))["activity"]

    assert (activity["bucket"], activity["starts"][0]) == (timedelta(minutes=1), NINE)
    assert sum(activity["series"]["opens"]) == 1


def test_a_re_judged_click_days_later_leaves_the_first_hour_drawn_minute_by_minute():
    from tracking import hits

    row = StepExecutionFactory(status="sent", sent_at=NINE)
    for minutes in (20, 21):
        TrackingEventFactory(
            step_execution=row,
            type="open",
            recipient=row.email,
            occurred_at=NINE + timedelta(minutes=minutes),
        )
    later = TrackingEventFactory(
        step_execution=row, type="click", recipient=row.email, occurred_at=NINE + timedelta(days=2)
    )
    later.is_machine, later.kind = True, hits.SCANNER  # Re-judged: its tally rows now cancel out.
    later.save()
    later.delete()

    activity = campaign_report(campaign=row.step.campaign, now=NINE + timedelta(days=3))["activity"]

    assert activity["bucket"] == timedelta(minutes=1)
    assert {i: n for i, n in enumerate(activity["series"]["opens"]) if n} == {20: 1, 21: 1}


def test_whoever_may_only_view_campaigns_gets_the_figures_but_no_contacts_data(campaign):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(username="viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client()
    staff_login(client, viewer)

    assert client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).status_code == 200
    chart = reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, "funnel"])
    assert client.get(chart).status_code == 200
    for name in ("recipients_csv", "events_csv", "preview"):
        assert (
            client.get(reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])).status_code == 403
        ), name


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns", "Europe/Berlin"])
def test_a_long_campaign_drawn_by_the_day_keeps_its_first_minutes_in_any_zone(settings, zone):
    from django.utils import timezone

    settings.TIME_ZONE = zone
    first = datetime(2026, 11, 2, 18, 40, tzinfo=UTC)  # 00:10 in Kolkata, the next local day.
    row = StepExecutionFactory(status="sent", sent_at=first)
    StepExecutionFactory(step=row.step, status="sent", sent_at=first + timedelta(days=40))
    TrackingEventFactory(step_execution=row, type="open", recipient=row.email, occurred_at=first)

    with timezone.override(zone):
        activity = campaign_report(campaign=row.step.campaign, now=first + timedelta(days=41))["activity"]

    assert activity["bucket"] == timedelta(days=1)
    assert (sum(activity["series"]["sent"]), sum(activity["series"]["opens"])) == (2, 1)


def test_links_which_may_carry_contacts_data_need_the_permission_to_view_contacts(campaign):
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(username="viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = staff_login(Client(), viewer)

    page = client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()

    assert "https://shop.example.com/" not in page
    assert "a link may carry a contact's data" in page
    links = reverse("admin:campaigns_campaign_chart_csv", args=[campaign.pk, "links"])
    assert client.get(links).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))
    assert "https://shop.example.com/" in b"".join(client.get(links).streaming_content).decode()


def test_a_campaign_that_sent_without_any_event_still_shows_its_domains_with_sent_grouped(admin_client):
    from tracking.report import campaign_domains
    from tracking.report_charts import domains_chart

    step = CampaignStepFactory()
    for n in range(1001):
        StepExecutionFactory(step=step, status="sent", email=f"p{n}@gmail.com", sent_at=NINE)

    chart = domains_chart(campaign_domains(campaign=step.campaign))

    assert not chart.empty  # Sent 1,001, though nothing was reported delivered, bounced or opened.
    # Delivered is unknown there, not none: no bar, and its rate blank.
    assert chart.series[0].values == [None]
    assert dict(chart.extra)["Delivery rate"] == ["—"]
    page = admin_client.get(
        f"/admin/campaigns/campaign/{step.campaign_id}/report/domains/", HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "1.001" in page


def test_without_delivery_events_the_funnel_and_the_rates_table_leave_delivered_blank(admin_client):
    from tracking.report import campaign_report
    from tracking.report_charts import funnel_chart

    step = CampaignStepFactory()
    rows = [StepExecutionFactory(step=step, status="sent", sent_at=NINE) for _ in range(4)]
    TrackingEventFactory(step_execution=rows[0], type="open", recipient=rows[0].email)
    engagement.engagement_rebuild()

    funnel = funnel_chart(campaign_report(campaign=step.campaign))
    delivered = funnel.labels.index("Delivered")
    assert funnel.series[0].values[delivered] is None
    assert dict(funnel.extra)["Of sent"][delivered] == "—"
    page = admin_client.get(f"/admin/campaigns/campaign/{step.campaign_id}/report/").content.decode()
    rates = page.split('id="rates"')[1].split("</table>")[0]
    assert '<td>Delivery</td><td class="n">—</td>' in rates
    assert "0%" not in rates.split("<td>Delivery</td>")[1].split("</tr>")[0]


def test_without_delivery_events_the_sending_chart_draws_sent_alone_and_the_comparison_names_the_base():
    from tracking.report_charts import activity_charts, comparison_chart

    step = CampaignStepFactory()
    for _ in range(3):
        StepExecutionFactory(step=step, status="sent", sent_at=NINE)
    report = campaign_report(campaign=step.campaign, now=NINE + timedelta(hours=1))

    sending = next(chart for chart in activity_charts(report) if chart.key == "sending")
    comparison = comparison_chart(report)

    assert [series.label for series in sending.series] == ["Sent"]  # No line of 0s for "delivered".
    assert dict(comparison.extra)["Rates over"] == ["sent (no Delivery events)"]
    assert comparison.y_title == "Rate (percent)"


def test_an_unsent_campaigns_report_says_nothing_was_sent_under_its_sending_chart(admin_client):
    step = CampaignStepFactory()

    page = admin_client.get(f"/admin/campaigns/campaign/{step.campaign_id}/report/").content.decode()

    sending = page.split('id="chart-sending"')[1].split("</figure>")[0]
    assert "No email sent yet." in sending
    assert "No opens or clicks" not in sending


def test_a_drips_links_are_told_apart_by_their_step(admin_client):
    from delivery.models import TrackedLink
    from tracking.report_charts import links_chart

    first = CampaignStepFactory()
    second = CampaignStepFactory(campaign=first.campaign, order=2)
    for step in (first, second):
        TrackedLink.objects.create(step=step, url="https://shop.example.com/")
    report = campaign_report(campaign=first.campaign)

    assert [(link["url"], link["step"]) for link in report["links"]] == [
        ("https://shop.example.com/", 1),
        ("https://shop.example.com/", 2),
    ]
    assert dict(links_chart(report).extra)["Step"] == [1, 2]
    page = admin_client.get(f"/admin/campaigns/campaign/{first.campaign_id}/report/").content.decode()
    assert '<th class="n">Step</th>' in page.split('id="chart-links"')[1]
