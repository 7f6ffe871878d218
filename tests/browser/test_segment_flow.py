"""A real browser through a marketer's segment: build "pro customers on the newsletter" with the rule
builder, watch the count follow each change, save it, give it to a campaign as its audience, and
schedule: the schedule page's count is what the fan-out makes. Screenshots go to var/screenshots/
(and the admin guide's images)."""

import json

import pytest

from campaigns.models import Campaign, CampaignStep, Segment
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.browser.pages import click, marketer_logged_in, shot
from tests.conftest import sent_messages
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    TemplateFactory,
)


def _audience() -> int:
    """Make 40 contacts on the newsletter (every third on the pro plan) and 10 pro customers off
    it; return how many pro customers the newsletter holds."""
    newsletter = ContactListFactory(name="Newsletter")
    for n in range(40):
        contact = ContactFactory(
            email=f"reader{n}@example.com", attributes={"plan": "pro" if n % 3 == 0 else "free"}
        )
        ListMembershipFactory(contact_list=newsletter, contact=contact)
    for n in range(10):
        ContactFactory(email=f"customer{n}@example.com", attributes={"plan": "pro"})
    return len(range(0, 40, 3))


@pytest.mark.django_db(transaction=True)
def test_a_marketer_builds_a_segment_and_mails_it_in_a_browser(browser, live_server, ses):
    page = browser
    pro_readers = _audience()
    campaign = CampaignFactory(name="Pro offer")
    CampaignStep.objects.create(campaign=campaign, order=1, template=TemplateFactory(name="offer"))
    marketer_logged_in(page, live_server.url)

    click(page, "#nav-sidebar-apps >> text=Segments")
    click(page, "a[href='/admin/campaigns/segment/add/']")
    page.fill("#id_name", "Pro readers")
    page.wait_for_selector("#segment-counts:has-text('50 contacts match')")  # The first row matches all.
    rule = page.locator(".cp-segment-rule").nth(0)
    rule.locator("select").nth(0).select_option("attribute")
    rule = page.locator(".cp-segment-rule").nth(0)  # Drawn again for its new kind.
    rule.locator("input").nth(0).fill("plan")
    rule.locator("select").nth(1).select_option("gte")  # A number comparison first…
    page.locator(".cp-segment-rule").nth(0).locator("input").nth(1).fill("10")
    assert json.loads(page.input_value("#id_definition"))["rules"][0]["value"] == 10
    page.locator(".cp-segment-rule").nth(0).locator("select").nth(1).select_option("eq")
    assert json.loads(page.input_value("#id_definition"))["rules"][0]["value"] == "10"  # …kept as text.
    rule = page.locator(".cp-segment-rule").nth(0)
    rule.locator("input").nth(1).fill("pro")
    page.wait_for_selector(f"#segment-counts:has-text('{pro_readers + 10} contacts match')")
    click(page, "text=+ Add a condition")
    second = page.locator(".cp-segment-rule").nth(1)
    second.locator("select").nth(0).select_option("list")
    page.wait_for_selector(f"#segment-counts:has-text('{pro_readers} contacts match')")
    assert "reader0@example.com" in page.inner_text("#segment-sample")  # The first of them, by name.
    shot(page, "30-segment-editor")
    click(page, "[name=_save]")
    page.wait_for_selector(".messagelist .success")
    segment = Segment.objects.get(name="Pro readers")
    assert segment.definition["match"] == "all"
    assert len(segment.definition["rules"]) == 2

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    click(page, "#campaign-tabs >> text=Audience")
    click(page, "text=Pro readers")
    shot(page, "31-campaign-audience-segment")
    click(page, "[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/schedule/")
    page.wait_for_selector("text=Will be mailed")
    dry_run = page.inner_text("#content")
    assert "Contacts who match one of the campaign's segments" in dry_run
    shot(page, "32-segment-schedule")
    click(page, "input[value='Schedule it']")
    page.wait_for_selector(".messagelist .success")

    for campaign_id in delivery_services.delivery_tick():  # What beat and a worker do next.
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=20)
    rows = StepExecution.objects.filter(step__campaign=campaign)
    assert rows.count() == pro_readers  # The count the marketer read is what was queued…
    assert len(sent_messages()) == pro_readers  # …and mailed.
    assert all("reader" in message.raw_data for message in sent_messages())
    assert page.clicks <= 12, page.clicks
    assert page.overflowing == [], "\n".join(page.overflowing)
    assert page.csp_refusals == []
