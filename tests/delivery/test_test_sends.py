"""Test sends: a step's or a template's email to a few addresses now, never to a suppressed one."""

import email

import pytest

from campaigns.models import Contact, Suppression
from delivery import test_sends
from delivery.exceptions import SuppressedRecipient
from tests.conftest import sent_messages
from tests.factories import ContactFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db


def test_a_test_send_carries_the_steps_own_envelope_tagged_as_a_test(ses):
    campaign = sendable_campaign(contacts=1, configuration_set="marketing", reply_to="desk@campanile.test")
    step = campaign.steps.get()
    test_sends.campaign_send_test(
        step=step, contact=campaign.lists.get().contacts.get(), addresses=["me@campanile.test"]
    )
    (message,) = sent_messages()
    mime = email.message_from_string(message.raw_data)
    assert mime["X-SES-CONFIGURATION-SET"] == "marketing"
    assert mime["Reply-To"] == "desk@campanile.test"
    # A long header is folded over lines; unfolded, it is "name=value, name=value".
    tags = dict(pair.split("=") for pair in " ".join(mime["X-SES-MESSAGE-TAGS"].split()).split(", "))
    assert tags == {
        "campanile_campaign": str(campaign.pk),
        "campanile_step": str(step.pk),
        "campanile_test": "1",
    }


def test_a_template_test_goes_from_the_default_sender_rendered_for_the_chosen_contact(ses, settings):
    settings.DEFAULT_FROM_EMAIL = "Campanile <news@campanile.test>"
    template = TemplateFactory.build(
        subject="Hi {{ contact.first_name }}", html_body="<p>{{ attributes.plan }}</p>"
    )
    contact = ContactFactory(first_name="Ada", attributes={"plan": "Gold"})

    test_sends.template_send_test(template=template, contact=contact, addresses=["me@campanile.test"])

    (message,) = sent_messages()
    mime = email.message_from_string(message.raw_data)
    assert mime["Subject"] == "[Test] Hi Ada"
    assert mime["From"] == "Campanile <news@campanile.test>"
    assert mime["To"] == "me@campanile.test"
    assert "Gold" in message.raw_data


def test_a_template_test_never_goes_to_a_suppressed_address(ses):
    Suppression.objects.create(email="gone@campanile.test", reason=Suppression.Reason.HARD_BOUNCE)
    with pytest.raises(SuppressedRecipient, match=r"gone@campanile\.test"):
        test_sends.template_send_test(
            template=TemplateFactory.build(), contact=ContactFactory(), addresses=["gone@campanile.test"]
        )
    assert sent_messages() == []


def test_a_template_test_never_goes_to_someone_yet_to_confirm_a_signup(ses):
    ContactFactory(email="new@campanile.test", status=Contact.Status.PENDING)

    with pytest.raises(SuppressedRecipient, match=r"new@campanile\.test \(Awaiting confirmation\)"):
        test_sends.template_send_test(
            template=TemplateFactory.build(), contact=ContactFactory(), addresses=["new@campanile.test"]
        )
    assert sent_messages() == []


def test_a_test_skips_none_but_those_who_decline_campaign_email_now(ses):
    from datetime import timedelta

    from django.utils import timezone

    ContactFactory(email="resting@campanile.test", paused_until=timezone.now() + timedelta(days=3))
    ContactFactory(email="customer@campanile.test", status=Contact.Status.TRANSACTIONAL)

    with pytest.raises(SuppressedRecipient, match=r"resting@campanile\.test \(Taking a break\)") as refused:
        test_sends.template_send_test(
            template=TemplateFactory.build(), contact=ContactFactory(), addresses=["resting@campanile.test"]
        )
    test_sends.template_send_test(
        template=TemplateFactory.build(), contact=ContactFactory(), addresses=["customer@campanile.test"]
    )

    assert "suppression list" not in str(refused.value)
    assert len(sent_messages()) == 1  # Only the one who never declined anything.
