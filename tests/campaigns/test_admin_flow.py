"""The campaign flow in the admin: preview as a contact, dry run and confirmation, test send, progress."""

import email
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from campaigns.models import Campaign, CampaignAudit
from delivery import fan_out as delivery_fan_out
from delivery import sending as delivery_sending
from delivery import services as delivery_services
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    ListMembershipFactory,
    SuppressionFactory,
    TemplateFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    campaign = sendable_campaign(contacts=2)
    step = campaign.steps.get()
    step.template = TemplateFactory(
        subject="Hello {{ contact.first_name }}",
        html_body='<p>Hi {{ contact.first_name }}</p><script>alert(1)</script><a href="https://a.example/">a</a>',
    )
    step.save()
    return campaign


def _url(name, campaign, **query):
    url = reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_preview_renders_a_chosen_contact_in_a_sandbox_with_the_text_part(admin_client, campaign):
    ada = ContactFactory(first_name="Ada")
    page = admin_client.get(_url("preview", campaign, contact=ada.email)).content.decode()
    assert "Subject: <strong>Hello Ada</strong>" in page
    assert "<iframe sandbox" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # Escaped into srcdoc, never run here.
    assert "<pre>Hi Ada" in page
    missing = admin_client.get(_url("preview", campaign, contact="nobody@example.com")).content.decode()
    assert "No such contact" in missing


def test_the_preview_shows_a_contacts_markup_in_the_subject_and_text_as_text(admin_client):
    campaign = sendable_campaign(contacts=1)
    step = campaign.steps.get()
    step.template = TemplateFactory(
        subject="Hi {{ contact.first_name }}",
        html_body="<p>x</p>",
        text_body="Hello {{ contact.first_name }}",
    )
    step.save()
    markup = '<meta http-equiv="refresh" content="0;url=https://evil.example/"><b>'
    contact = ContactFactory(first_name=markup)
    page = admin_client.get(_url("preview", campaign, contact=contact.email)).content.decode()
    assert "<meta http-equiv" not in page
    assert "<b>" not in page
    assert "<pre>Hello &lt;meta http-equiv=&quot;refresh&quot;" in page
    assert "Subject: <strong>Hi &lt;meta" in page


@pytest.mark.parametrize("wanted", ["\u00b2", "a@b\x00c", "1\x00"])
def test_the_preview_and_test_send_answer_an_odd_contact_with_a_message_never_a_500(
    admin_client, campaign, wanted
):
    page = admin_client.get(_url("preview", campaign), {"contact": wanted})
    assert page.status_code == 200
    assert "No such contact" in page.content.decode()
    sent = admin_client.post(
        _url("test_send", campaign), {"contact": wanted, "step": "1", "addresses": "me@example.com"}
    )
    assert sent.status_code < 500


def _policy(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_preview_frame_takes_the_emails_styles_and_images_but_never_a_script(admin_client, campaign):
    response = admin_client.get(_url("preview", campaign))
    # The srcdoc frame takes this page's policy: the email's inline styles and remote images load…
    policy = _policy(response["Content-Security-Policy"])
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert policy["img-src"] == "'self' data: https:"
    # …its scripts neither under the policy (the admin's theme may evaluate its own scripts'
    # expressions, never run an inline script) nor in the sandbox, which allows nothing.
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert re.search(r"<iframe sandbox title=", response.content.decode())
    # Every other page keeps inline <style> elements to the nonce (when it has any): never unsafe-inline.
    other = _policy(admin_client.get(_url("change", campaign))["Content-Security-Policy"])
    assert "unsafe-inline" not in other["style-src"]


def test_scheduling_goes_through_a_dry_run_and_a_confirmation(admin_client, campaign):
    audience = campaign.lists.get()
    extra = ListMembershipFactory(contact_list=audience).contact
    SuppressionFactory(email=extra.email)
    page = admin_client.get(_url("schedule_confirm", campaign))
    assert page.context["breakdown"] == {
        "on_lists": 3,
        "unsubscribed": 0,
        "pending": 0,
        "transactional": 0,
        "suppressed": 1,
        "paused": 0,
        "sendable": 2,
        "duplicates_collapsed": 0,
    }
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"  # Looking changes nothing.
    admin_client.post(_url("schedule_confirm", campaign))
    assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"
    assert CampaignAudit.objects.get(campaign=campaign).action == "schedule"


def test_an_unsendable_campaign_shows_why_and_offers_no_button(admin_client):
    empty = sendable_campaign()
    empty.lists.clear()
    page = admin_client.get(_url("schedule_confirm", empty)).content.decode()
    assert "it has no audience: choose lists, segments or both" in page
    assert "Schedule it" not in page


def test_a_test_send_goes_to_the_given_addresses_only_and_touches_no_ledger(admin_client, campaign, ses):
    response = admin_client.post(
        _url("test_send", campaign),
        {"step": "1", "contact": "", "addresses": "me@campanile.test, you@campanile.test"},
    )
    assert response.status_code == 302
    mails = [email.message_from_string(message.raw_data) for message in sent_messages()]
    assert sorted(mail["To"] for mail in mails) == ["me@campanile.test", "you@campanile.test"]
    assert all(mail["Subject"].startswith("[Test] Hello") for mail in mails)
    assert not campaign.steps.get().executions.exists()

    bad = admin_client.post(
        _url("test_send", campaign), {"step": "1", "addresses": "not an address"}, follow=True
    )
    assert any("Nothing was sent" in str(m) for m in get_messages(bad.wsgi_request))
    assert len(sent_messages()) == 2


def test_progress_counts_rows_shows_the_rate_and_refreshes_while_sending(admin_client, campaign, ses):
    from campaigns import services as campaign_services

    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_fan_out.step_fan_out(step=campaign.steps.get())
    first = admin_client.get(_url("progress", campaign))
    assert dict(first.context["statuses"])["Pending"] == 2
    assert 'hx-trigger="every 3s"' in first.content.decode()
    delivery_sending.step_send_batch(step=campaign.steps.get())
    # htmx asks again at the address the page gave it, which carries the last count and its time.
    second = admin_client.get(first.context["live_url"], HTTP_HX_REQUEST="true")
    assert dict(second.context["statuses"])["Sent"] == 2
    assert second.context["rate"] > 0


def _test_send_refused(admin_client, campaign, address: str) -> str:
    """Ask a test send to me and `address`; return what the page said, after checking nothing went."""
    response = admin_client.post(
        _url("test_send", campaign),
        {"step": "1", "contact": "", "addresses": f"me@campanile.test, {address}"},
        follow=True,
    )
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Nothing was sent" in said
    assert sent_messages() == []
    return said


def test_a_test_send_never_reaches_a_suppressed_address(admin_client, campaign, ses):
    from tests.factories import SuppressionFactory

    SuppressionFactory(email="angry@campanile.test", reason="complaint")
    said = _test_send_refused(admin_client, campaign, "Angry@campanile.test")
    assert "angry@campanile.test (Complaint)" in said


def test_a_test_send_never_reaches_a_contact_who_unsubscribed(admin_client, campaign, ses):
    ContactFactory(email="left@campanile.test", status="unsubscribed")
    said = _test_send_refused(admin_client, campaign, "left@campanile.test")
    assert "left@campanile.test (Unsubscribed)" in said


@pytest.mark.parametrize("spelled", ["Angry <angry@campanile.test>", "angry@campanile.test\u200b"])
def test_a_test_send_never_reaches_a_suppressed_address_however_it_is_spelled(
    admin_client, campaign, ses, spelled
):
    from tests.factories import SuppressionFactory

    SuppressionFactory(email="angry@campanile.test", reason="complaint")
    response = admin_client.post(
        _url("test_send", campaign), {"step": "1", "contact": "", "addresses": spelled}, follow=True
    )
    assert "Nothing was sent" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert sent_messages() == []
