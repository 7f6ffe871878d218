"""A marketer reads the report of a campaign whose reminder is text-only: the opened figure and the
open rate count the HTML step's emails alone, and the page says why. Screenshot: 07c-report-mixed."""

import pytest

from campaigns.models import Template
from tests.browser.pages import marketer_logged_in, shot
from tests.factories import CampaignStepFactory, step_emails_seen
from tracking import engagement


@pytest.mark.django_db(transaction=True)
def test_a_marketer_reads_a_mixed_campaigns_open_rate_over_its_html_emails(browser, live_server):
    page = browser
    html = CampaignStepFactory(order=1, campaign__name="Spring sale")
    text = CampaignStepFactory(campaign=html.campaign, order=2, template__html_body="")
    step_emails_seen(html, 10, opened=4)
    step_emails_seen(text, 10, clicked=2)
    engagement.engagement_rebuild()

    marketer_logged_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{html.campaign_id}/report/")

    opened = page.locator(".figure", has_text="Opened (people)")
    assert opened.locator("b").inner_text() == "4"
    assert "40.0%" in opened.inner_text()  # 4 of the step's 10, not 6 of all 20.
    assert "Step 2 sends text-only emails, which show no opens" in page.inner_text("#opens-over-pixel")
    rates = {
        row.locator("td").nth(0).inner_text(): row.locator("td").nth(2).inner_text()
        for row in page.locator("#rates tbody tr").all()
    }
    assert rates["Open (people)"] == "delivered with the open pixel"
    assert rates["Click (people)"] == "delivered"
    steps = page.locator("table", has_text="Waiting").locator("tbody tr")
    assert steps.nth(1).locator("td").nth(7).inner_text() == "—"  # Step 2's opened: unknowable.
    page.wait_for_selector("#chart-canvas-domains")
    page.locator("#opens-over-pixel").scroll_into_view_if_needed()
    shot(page, "07c-report-mixed")
    assert page.csp_refusals == []


@pytest.mark.django_db(transaction=True)
def test_a_marketer_wanting_a_text_only_version_of_a_sent_template_saves_it_as_new(browser, live_server):
    page = browser
    step = CampaignStepFactory(
        campaign__name="Spring sale", campaign__status="completed", template__name="spring"
    )
    marketer_logged_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/campaigns/template/{step.template.pk}/change/")

    page.fill("#id_html_body", "")
    page.fill("#id_text_body", "Hello, in plain words.")
    page.click("[name=_save]")
    error = page.locator(".errorlist, .errors, [class*=error]", has_text="Spring sale").first
    assert "sent this template with HTML" in error.inner_text()
    shot(page, "19b-template-form-kept")

    page.fill("#id_name", "spring-text")
    page.click("[name=_saveasnew]")
    page.wait_for_selector(".messagelist .success, [class*=success]")
    step.template.refresh_from_db()
    assert step.template.html_body != ""  # What Spring sale sent stays as it went out.
    assert Template.objects.get(name="spring-text").text_body == "Hello, in plain words."
    assert page.csp_refusals == []
