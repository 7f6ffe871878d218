"""A real browser through an erasure: a marketer opens a contact who asked to be forgotten, erases
them from their page, and finds them gone. Screenshots go to var/screenshots/ (and the docs' images)."""

import pytest
from django.utils import timezone

from campaigns.models import Contact, ErasedAddress
from delivery.models import StepExecution
from tests.browser.pages import marketer_logged_in, shot
from tests.factories import ContactFactory, StepExecutionFactory, TrackingEventFactory


@pytest.mark.django_db(transaction=True)
def test_a_marketer_erases_a_contact_from_its_page(browser, live_server):
    page = browser
    contact = ContactFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    row = StepExecutionFactory(
        contact=contact, email=contact.email, status=StepExecution.Status.SENT, sent_at=timezone.now()
    )
    TrackingEventFactory(step_execution=row, recipient=contact.email, type="open")
    marketer_logged_in(page, live_server.url)

    page.goto(f"{live_server.url}/admin/campaigns/contact/{contact.pk}/change/")
    page.click("text=Erase it…")
    page.wait_for_selector("text=This erases ada@example.com.")
    assert "this cannot be undone" in page.inner_text("body")
    shot(page, "60-erase-contact")
    page.check("#id_confirm")
    page.click("#contact-action-form input[type=submit]")
    page.wait_for_selector("text=1 contact erased.")
    shot(page, "61-erased")

    assert "ada@example.com" not in page.inner_text("#main")
    assert not Contact.objects.exists()
    assert ErasedAddress.objects.count() == 1
    row.refresh_from_db()
    assert row.contact_id is None
    assert row.status == StepExecution.Status.SENT  # Still counted as the email it was.
