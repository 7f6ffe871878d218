"""A real browser through a signup form: a marketer makes a double opt-in form and copies its HTML;
a visitor signs up on the shop's page that holds it, confirms from the email, and the next
campaign reaches them, while a visitor who never confirms is never mailed. Screenshots go to
var/screenshots/ (and the admin guide's images)."""

import email
import re

import pytest

from campaigns import services as campaign_services
from campaigns.admin_signups import CONFIRMATION_TEMPLATE
from campaigns.models import Campaign, CampaignStep, Contact, SignupForm, Template
from delivery import sending
from delivery import services as delivery_services
from tests.browser.pages import click, marketer_logged_in, shot
from tests.conftest import sent_messages
from tests.factories import CampaignFactory, ContactListFactory, TemplateFactory
from tracking import signups


def _confirm_link(address: str) -> str:
    """Return the confirmation link of the email sent to an address."""
    (raw,) = [message.raw_data for message in sent_messages() if address in message.destinations]
    html = next(
        part for part in email.message_from_string(raw).walk() if part.get_content_type() == "text/html"
    )
    return re.search(r'href="([^"]+/confirm/[^"]+)"', html.get_payload(decode=True).decode()).group(1)


@pytest.mark.django_db(transaction=True)
def test_a_visitor_signs_up_through_an_embedded_form_confirms_and_gets_the_next_campaign(
    browser, live_server, ses, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SIGNUP_MAX_PER_IP = 1_000_000  # Every test's browser is 127.0.0.1, counted in a shared Redis.
    page = browser
    newsletter = ContactListFactory(name="Newsletter")
    # What the migrations make on a new install (a transactional test's flush may have taken it).
    Template.objects.get_or_create(
        name=CONFIRMATION_TEMPLATE,
        defaults={
            "subject": "Please confirm",
            "html_body": '<p><a href="{{ confirm_url }}">Yes, subscribe me</a></p>',
        },
    )
    ContactListFactory(name="Press releases")
    marketer_logged_in(page, live_server.url)

    click(page, "#nav-sidebar-apps >> text=Signup forms")
    click(page, "a[href='/admin/campaigns/signupform/add/']")
    page.fill("#id_name", "Shop footer")
    page.fill("#id_title", "Our newsletter")
    page.fill("#id_consent_text", "Yes, send me the newsletter. I can leave at any time.")
    page.check("label:has-text('Newsletter') input")
    page.fill("#id_from_email", "News <news@campanile.test>")
    assert page.locator("#id_confirmation_template option:checked").inner_text() == "signup-confirmation"
    shot(page, "40-signup-form-editor")
    click(page, "[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    form = SignupForm.objects.get(name="Shop footer")
    assert list(form.lists.all()) == [newsletter]
    snippet = page.input_value("textarea.cp-snippet")
    assert snippet.startswith('<form method="post"')
    shot(page, "41-signup-form-snippet")

    for visitor in ("ada@example.com", "bob@example.com"):
        page.set_content(f"<html><body><h1>The shop</h1><p>Stay in touch:</p>{snippet}</body></html>")
        page.fill("input[name=email]", visitor)
        page.fill("input[name=first_name]", visitor.split("@")[0].title())
        page.check("input[name=consent]")
        if visitor.startswith("ada"):
            shot(page, "42-signup-snippet-on-a-shop")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Please check your inbox")
    shot(page, "43-signup-thanks")
    signups.signups_process_waiting(older_than_seconds=0)  # What a worker does next.
    assert Contact.objects.get(email="ada@example.com").status == Contact.Status.PENDING

    sending.messages_send(budget_seconds=10)  # What the transactional dispatcher does on its tick.
    page.goto(_confirm_link("ada@example.com"))
    page.wait_for_selector("text=Yes, subscribe me")
    assert "You asked for “Our newsletter” at ada@example.com." in page.inner_text("body")
    shot(page, "44-signup-confirm")
    page.click("text=Yes, subscribe me")
    page.wait_for_selector("text=You are subscribed")
    assert Contact.objects.get(email="ada@example.com").status == Contact.Status.SUBSCRIBED
    assert Contact.objects.get(email="bob@example.com").status == Contact.Status.PENDING
    page.goto(f"{live_server.url}/f/{form.slug}")  # The form's own page, refusing a slip.
    page.fill("input[name=email]", "cy@example")
    page.click("button[type=submit]")
    page.wait_for_selector(".error")
    assert "Tick this box to sign up." in page.inner_text("body")
    assert "is not a valid address" in page.inner_text("body")
    shot(page, "45-signup-page-refusing")

    campaign = CampaignFactory(name="Spring news")
    campaign.lists.add(newsletter)
    CampaignStep.objects.create(campaign=campaign, order=1, template=TemplateFactory(name="spring"))
    Contact.objects.get(email="bob@example.com").lists.add(newsletter)  # Even on the list…
    before = len(sent_messages())
    campaign_services.campaign_schedule(campaign=campaign)
    for campaign_id in delivery_services.delivery_tick():  # What beat and a worker do next.
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=20)
    campaign_mail = sent_messages()[before:]
    assert [set(message.destinations) for message in campaign_mail] == [{"ada@example.com"}]  # …never Bob.
    assert page.overflowing == [], "\n".join(page.overflowing)
    assert page.csp_refusals == []
