"""The campaign report: figures checked against a hand-built campaign, charts, CSV exports."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from delivery import compose as delivery_compose
from tests.factories import CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tests.utils import staff_login
from tracking import engagement
from tracking.selectors import campaign_report

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
    report = campaign_report(campaign=campaign)
    assert (report["sent"], report["delivered"], report["bounces_hard"], report["bounces_soft"]) == (
        5,
        3,
        1,
        1,
    )
    assert (report["complained"], report["unsubscribed"]) == (1, 1)
    assert (report["opens_unique"], report["opens_total"], report["machine_opens_total"]) == (1, 2, 1)
    assert (report["clicks_unique"], report["clicks_total"]) == (1, 1)
    assert report["rates"]["open"] == round(1 / 3, 4)
    assert report["links"] == [
        {"url": "https://shop.example.com/", "clicks_unique": 1, "clicks_total": 1, "machine_clicks_total": 0}
    ]
    assert [(step["order"], step["sent"], step["opens_unique"]) for step in report["steps"]] == [
        (1, 5, 1),
        (2, 0, 0),
    ]
    hourly = report["hourly"]
    assert hourly["sent"] == [
        (NINE, 2),
        (NINE + timedelta(hours=1), 1),
        (NINE + timedelta(hours=2), 1),
        (NINE + timedelta(hours=3), 1),
    ]
    assert [n for _hour, n in hourly["opens"]] == [0, 1, 1, 0]  # 10:10 and 11:10; the machine's 10:00 is out.
    assert [n for _hour, n in hourly["delivered"]] == [2, 1, 0, 0]


def test_the_report_page_shows_figures_charts_and_links_to_the_exports(admin_client, campaign):
    page = admin_client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()
    assert page.count('<figure class="campanile-chart">') == 4
    for text in ("Hard bounces", "33.33%", "https://shop.example.com/", "recipients.csv", "events.csv"):
        assert text in page, text
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert reverse("admin:campaigns_campaign_report", args=[campaign.pk]) in change


def _csv(client, name, campaign) -> list[dict]:
    response = client.get(reverse(f"admin:campaigns_campaign_{name}_csv", args=[campaign.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
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
    assert client.get(reverse("admin:campaigns_campaign_events_csv", args=[campaign.pk])).status_code == 403


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
