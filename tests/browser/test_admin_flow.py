"""A real browser (Playwright driving Debian's chromium, headless) through the marketer's flow:
log in, make a template and a campaign, preview, send a test, schedule, watch progress, read the
report. Screenshots of each page go to var/screenshots/."""

import os
import shutil

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections

from campaigns.models import Campaign
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import _services_required, sent_messages
from tests.factories import ContactListFactory, ListMembershipFactory
from tests.tracking.test_ses_events import bounce, deliver

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = settings.VAR_DIR / "screenshots"


@pytest.fixture
def browser(monkeypatch):
    """Yield a headless chromium page; without chromium or Playwright, skip (fail in CI)."""
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or CHROMIUM is None:
        reason = "needs Playwright and chromium (apt-get install chromium)"
        if _services_required():
            pytest.fail(f"The browser test {reason}.")
        pytest.skip(reason)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(15_000)
        yield page
        chromium.close()
        # Playwright runs the test in a greenlet of its own, which Django sees as another context
        # with its own connection: close it, or the test database can't be dropped at the end.
        connections.close_all()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_goes_from_template_to_report_in_a_browser(browser, live_server, ses):
    page = browser
    User.objects.create_superuser("marketer", "marketer@campanile.test", "a long password 42")
    audience = ContactListFactory(name="Everyone")
    for _ in range(3):
        ListMembershipFactory(contact_list=audience)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "a long password 42")
    page.click("input[type=submit]")
    page.wait_for_selector("#campanile-operations")
    _shot(page, "01-index")

    page.goto(f"{live_server.url}/admin/campaigns/template/add/")
    page.fill("#id_name", "welcome")
    page.fill("#id_subject", "Welcome, {{ contact.first_name }}")
    page.fill(
        "#id_html_body", '<p>Hello {{ contact.first_name }}!</p><a href="https://shop.example.com/">Shop</a>'
    )
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Browser campaign")
    page.fill("#id_from_email", "News <news@campanile.test>")
    page.dblclick("#id_lists_from option:has-text('Everyone')")
    page.fill("#id_steps-0-order", "1")
    page.click("[aria-labelledby='select2-id_steps-0-template-container']")  # The autocomplete box.
    page.fill(".select2-search__field", "welcome")
    page.click(".select2-results__option:has-text('welcome')")
    _shot(page, "02-campaign-form")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    campaign = Campaign.objects.get(name="Browser campaign")

    page.click("text=Preview")
    page.wait_for_selector("iframe[sandbox]")
    assert "Welcome," in page.inner_text("#content")
    _shot(page, "03-preview")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/test/")
    page.fill("input[name=addresses]", "me@campanile.test")
    page.click("input[type=submit].default")
    page.wait_for_selector(".messagelist .success")
    (test,) = sent_messages()
    assert "me@campanile.test" in test.raw_data
    _shot(page, "04-test-sent")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("text=Schedule…")
    page.wait_for_selector("text=Will be mailed")
    _shot(page, "05-schedule-confirm")
    page.click("input[value='Schedule it']")
    page.wait_for_selector(".messagelist .success")
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED

    for campaign_id in delivery_services.delivery_tick():  # What beat and a worker do next.
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=20)
    assert len(sent_messages()) == 1 + 3

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/progress/")
    assert "Completed" in page.inner_text("#content")
    _shot(page, "06-progress")
    # SES reports one address gone for good: it bounces and is suppressed, as the report must say.
    gone = StepExecution.objects.filter(step__campaign=campaign).order_by("pk").first()
    deliver(bounce(gone))
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/report/")
    figures = {
        name: page.locator(".figure", has_text=name).locator("b").inner_text()
        for name in ("Sent", "Hard bounces", "Suppressed")
    }
    assert figures == {"Sent": "3", "Hard bounces": "1", "Suppressed": "1"}
    assert page.locator("figure.campanile-chart").count() == 4
    assert page.locator("figure.campanile-chart rect").first.get_attribute("height") != "0.0"  # Sends.
    assert "https://shop.example.com/" in page.inner_text("#content")
    _shot(page, "07-report")
    page.goto(f"{live_server.url}/admin/delivery/stepexecution/dashboard/")
    _shot(page, "08-dashboard")
