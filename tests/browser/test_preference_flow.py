"""A real browser through a reader's preference page: from the unsubscribe link of a campaign email,
keep one list of two, fix a name, then take a break, which a marketer then sees on the contact's
page. Screenshots go to var/screenshots/ (and the docs' images)."""

import pytest
from django.urls import reverse
from django.utils import formats, timezone

from campaigns.models import Contact
from delivery import tokens
from tests.browser.pages import marketer_logged_in, shot
from tests.factories import ContactListFactory, ListMembershipFactory, StepExecutionFactory, sendable_campaign


@pytest.mark.django_db(transaction=True)
def test_a_reader_keeps_one_list_renames_themselves_and_takes_a_break(browser, live_server, settings):
    page = browser
    campaign = sendable_campaign(contacts=1, from_email="Acme News <news@campanile.test>")
    contact = campaign.lists.get().contacts.get()
    contact.first_name = "Ada"
    contact.save()
    offers, internal = (
        ContactListFactory(name="Weekly offers"),
        ContactListFactory(name="Leads Q3", shown_to_contacts=False),
    )
    for contact_list in (offers, internal):
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    row = StepExecutionFactory(step=campaign.steps.get(), contact=contact, email=contact.email)
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)

    page.goto(f"{live_server.url}/u/{token}")
    page.wait_for_selector("text=Your email preferences")
    shown = page.inner_text("body")
    assert "Acme News" in shown
    assert "Weekly offers" in shown
    assert "Leads Q3" not in shown
    shot(page, "50-preferences")
    page.uncheck("label:has-text('Weekly offers') input")
    page.fill("#preferences_first_name", "Ada Lovelace")
    page.click("text=Save my choices")
    page.wait_for_selector("text=Your choices are saved")
    assert "You left Weekly offers." in page.inner_text("body")
    contact.refresh_from_db()
    assert contact.first_name == "Ada Lovelace"
    assert set(contact.lists.values_list("name", flat=True)) == {campaign.lists.get().name, "Leads Q3"}

    page.goto(f"{live_server.url}/u/{token}")
    page.click("text=Pause for 90 days")
    page.wait_for_selector("text=Enjoy the break")
    shot(page, "51-preferences-break")
    contact.refresh_from_db()
    assert contact.paused_until is not None
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.SUBSCRIBED
    assert page.csp_refusals == []

    # The marketer sees the break on the contact's page, with when it began and ends, and the
    # address it held before.
    Contact.objects.filter(pk=contact.pk).update(former_emails=["ada.before@example.com"])
    page.context.clear_cookies()
    marketer_logged_in(page, live_server.url)
    page.goto(live_server.url + reverse("admin:campaigns_contact_change", args=[contact.pk]))
    page.wait_for_selector("text=Breaks from email")
    shot(page, "52-contact-breaks")
    started = timezone.localtime(contact.breaks.get().started_at)
    assert formats.date_format(started, "DATE_FORMAT") in page.inner_text("body")
    assert "ada.before@example.com" in page.inner_text("body")
