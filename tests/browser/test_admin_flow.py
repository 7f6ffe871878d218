"""A real browser (Playwright driving Debian's chromium, headless) through the marketer's flow:
log in (password, then enrolling an authenticator app), make a template and a campaign, preview,
send a test, schedule, watch progress, read the report; and through the login's defences: a
guesser locked out, a staff member enrolling and coming back with a code. Screenshots of each page
go to var/screenshots/. Every page must work under the Content-Security-Policy: the browser's
reports of what the policy refused fail the test."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign
from delivery import services as delivery_services
from delivery.models import StepExecution, TrackedLink
from tests.browser.pages import READER, click, enrol, log_in, marketer_logged_in, shot
from tests.conftest import sent_messages
from tests.factories import ContactListFactory, ListMembershipFactory
from tests.tracking.test_ses_events import bounce, deliver, fixture, for_row
from tests.utils import totp_code_from_secret
from tracking import hits


@pytest.mark.django_db(transaction=True)
def test_a_marketer_goes_from_template_to_report_in_a_browser(browser, live_server, ses):
    page = browser
    audience = ContactListFactory(name="Everyone")
    for _ in range(3):
        ListMembershipFactory(contact_list=audience)

    marketer_logged_in(page, live_server.url)
    shot(page, "01-index")

    # The flow, counted in clicks (typing aside): template → campaign → preview → test → schedule
    # → watch → report.
    click(page, "#nav-sidebar-apps >> text=Templates")
    click(page, "a[href='/admin/campaigns/template/add/']")
    page.fill("#id_name", "welcome")
    page.fill("#id_subject", "Welcome, {{ contact.first_name }}")
    page.fill(
        "#id_html_body",
        '<p>Hello {{ contact.first_name }}!</p><a href="https://shop.example.com/">Shop</a>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )
    # The live preview follows the typing: as the first subscribed contact, its variables listed.
    first = audience.contacts.order_by("pk").first()
    page.wait_for_selector(f"#template-subject:has-text('Welcome, {first.first_name}')")
    assert "Shows an unsubscribe link." in page.inner_text("#template-preview")
    assert first.email in page.inner_text("#template-preview .cp-variables")
    click(page, "label[for=preview-mobile]")  # At a phone's width.
    width = "(frame) => frame.getBoundingClientRect().width"
    assert page.locator(".cp-preview-frame iframe").evaluate(width) == 375
    shot(page, "01b-template-editor")
    click(page, "#template-to-campaign")  # Save, and start a campaign that sends it.
    page.wait_for_selector(".messagelist .success")

    page.fill("#id_name", "Browser campaign")
    page.fill("#id_from_email", "News <news@campanile.test>")
    shot(page, "02-campaign-form")
    assert not page.is_visible("#steps-group")  # Content and Audience are tabs of the form.
    page.click("#campaign-tabs >> text=Content")  # A look, not a step the flow needs.
    assert "welcome" in page.inner_text("#steps-group")  # The first step sends the new template.
    shot(page, "02b-campaign-content")
    click(page, "#campaign-tabs >> text=Audience")
    page.wait_for_selector("#steps-group", state="hidden")
    click(page, "text=Everyone (3 subscribed)")  # Each list with its size.
    shot(page, "02c-campaign-audience")
    click(page, "[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    campaign = Campaign.objects.get(name="Browser campaign")

    click(page, "#campaign-tabs >> text=Preview & test")
    page.wait_for_selector("iframe[sandbox]")
    assert "Welcome," in page.inner_text("#content")
    shot(page, "03-preview")

    click(page, "text=Send a test")
    page.fill("input[name=addresses]", "me@campanile.test")
    click(page, "input[type=submit].default")
    page.wait_for_selector(".messagelist .success")
    (test,) = sent_messages()
    assert "me@campanile.test" in test.raw_data
    shot(page, "04-test-sent")

    click(page, "#test-then-schedule")
    page.wait_for_selector("text=Will be mailed")
    shot(page, "05-schedule-confirm")
    click(page, "input[value='Schedule it']")
    page.wait_for_selector(".messagelist .success")
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED
    assert page.url.endswith(f"/campaigns/campaign/{campaign.pk}/progress/")  # Lands on progress…
    shot(page, "06-progress")

    for campaign_id in delivery_services.delivery_tick():  # What beat and a worker do next.
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=20)
    assert len(sent_messages()) == 1 + 3
    # …which follows the campaign live, and turns into the report when it is done.
    page.wait_for_url(f"**/campaigns/campaign/{campaign.pk}/report/", timeout=15_000)
    assert page.clicks <= 12, page.clicks

    # SES reports one address gone for good: it bounces and is suppressed, as the report must say.
    gone, *reached = StepExecution.objects.filter(step__campaign=campaign).order_by("pk")
    deliver(bounce(gone))
    for row in reached:  # The others are delivered; a reader opens one and clicks its link.
        delivered = for_row(fixture("event-delivery.json"), row)
        delivered["delivery"]["timestamp"] = timezone.now().isoformat()
        deliver(delivered)
    link = TrackedLink.objects.get(step__campaign=campaign, url="https://shop.example.com/")
    # Minutes later (a click within seconds of the send is a scanner's): the mail went out then.
    StepExecution.objects.filter(step__campaign=campaign).update(
        sent_at=timezone.now() - timedelta(minutes=3)
    )
    for kind, link_id in (("open", None), ("click", link.pk)):
        tracking_id = reached[0].tracking_id
        hits.hit_record(
            kind=kind, tracking_id=tracking_id, link_id=link_id, method="GET", user_agent=READER, ip=""
        )
    hits.tracking_hits_apply()
    page.reload()
    figures = {
        name: page.locator(".figure", has_text=name).locator("b").inner_text()
        for name in ("Sent", "Delivered", "Opened (people)", "Clicked (people)", "Hard bounces", "Suppressed")
    }
    assert figures == {
        "Sent": "3",
        "Delivered": "2",
        "Opened (people)": "1",
        "Clicked (people)": "1",
        "Hard bounces": "1",
        "Suppressed": "1",
    }
    # Chart.js drew every chart (the comparison aside: the sender's first campaign), and the
    # numbers under them hold the three sends and the reader's open and click.
    page.wait_for_selector("#chart-canvas-domains")  # The breakdown by domain comes after the page.
    assert page.locator("canvas.chart").count() == 5
    assert "No earlier campaign from" in page.inner_text("#chart-comparison")
    opened = page.locator("#chart-engagement table").evaluate(
        "(table) => [...table.tBodies[0].rows]"
        ".map((row) => [row.cells[1].textContent, row.cells[2].textContent])"
        ".filter(([opens, clicks]) => opens !== '0' || clicks !== '0')"
    )
    assert opened == [["1", "1"]]
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas.chart')].every((c) => Chart.getChart(c))"
    )
    funnel = page.locator("#chart-funnel details")
    funnel.locator("summary").click()
    assert funnel.locator("tbody tr").first.inner_text().split("\t")[:3] == ["Sent", "3", "100.0%"]
    sending = page.locator("#chart-sending table").evaluate(
        "(table) => [...table.tBodies[0].rows].reduce((n, row) => n + Number(row.cells[1].textContent), 0)"
    )
    assert sending == 3
    with page.expect_download() as download:
        page.locator("#chart-funnel [data-chart-png]").click()
    assert download.value.suggested_filename == "funnel.png"
    assert "https://shop.example.com/" in page.inner_text("#content")
    shot(page, "07-report")
    page.goto(f"{live_server.url}/admin/delivery/stepexecution/dashboard/")
    shot(page, "08-dashboard")
    # The lists a marketer reads, with what they should show: names, not ids; addresses, not links'
    # numbers; nothing wider than the screen.
    contact = reached[0].contact
    for name, url, shows in (
        ("13-campaigns", "/admin/campaigns/campaign/", ["Browser campaign", "Completed", "Report"]),
        ("14-contacts", "/admin/campaigns/contact/", [contact.email]),
        ("15-contact", f"/admin/campaigns/contact/{contact.pk}/change/", ["Timeline", "Browser campaign"]),
        ("16-send-log", "/admin/delivery/stepexecution/", ["Browser campaign", contact.email]),
        ("17-opens-and-clicks", "/admin/tracking/trackingevent/", ["Click", "https://shop.example.com/"]),
        ("18-lists", "/admin/campaigns/contactlist/", ["Everyone"]),
        ("19-templates", "/admin/campaigns/template/", ["welcome"]),
    ):
        page.goto(f"{live_server.url}{url}")
        text = page.inner_text("#main")
        for expected in shows:
            assert expected in text, (name, expected)
        shot(page, name)
    assert page.overflowing == [], "\n".join(page.overflowing)
    assert page.csp_refusals == []


@pytest.mark.django_db(transaction=True)
def test_a_guesser_is_locked_out_and_staff_enrol_a_second_factor_then_log_in_with_its_code(
    browser, live_server, settings
):
    page = browser
    User.objects.create_superuser("editor", "editor@campanile.test", "a long password 42")

    for _ in range(settings.ADMIN_LOGIN_FAILURE_LIMIT):
        log_in(page, live_server.url, "editor", "a guess")
    page.wait_for_selector("#campanile-locked-out")
    assert "Try again after" in page.inner_text("#content")
    shot(page, "09-login-locked-out")
    log_in(page, live_server.url, "editor", "a long password 42")  # Right, but refused unread.
    page.wait_for_selector("#campanile-locked-out")

    call_command("axes_reset_username", "editor")  # How the operations page says to unlock someone.
    log_in(page, live_server.url, "editor", "a long password 42")
    secret = enrol(page, shots="10")
    page.wait_for_selector("#campanile-home")
    with page.expect_navigation():  # Logged out before the next page is asked for.
        page.locator("#logout-form").evaluate("form => form.submit()")  # It sits in the user's menu.

    log_in(page, live_server.url, "editor", "a long password 42")
    page.wait_for_selector("#second-factor-form")
    shot(page, "11-second-factor-code")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")  # Not before the code.
    page.wait_for_selector("#second-factor-form")
    # The app's next code: the one typed at enrolment may still be showing, and a code works once.
    page.fill("#id_token", totp_code_from_secret(secret, at=time.time() + 30))
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_selector("#changelist")  # On to the page first asked for.

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
    shot(page, "12-api-docs")
    assert page.csp_refusals == []
