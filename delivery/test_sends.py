"""Test sends: one email, as a campaign's step or a template renders it, to a few addresses now."""

from collections.abc import Mapping
from dataclasses import replace

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.erasure import addresses_erased
from campaigns.models import CampaignStep, Contact, Suppression, Template, email_normalize
from campaigns.rendering import template_compile, template_render
from campaigns.suppressions import addresses_suppressed
from delivery import throttle
from delivery.compose import (
    TAG_TEST,
    Envelope,
    step_envelope,
    step_execution_build_message,
)
from delivery.exceptions import SuppressedRecipient
from delivery.models import StepExecution
from delivery.ses import ses_send

TEST_SEND_MAX = 10


def campaign_send_test(*, step: CampaignStep, contact: Contact, addresses: list[str]) -> list[str]:
    """Send one step's email, rendered for `contact`, to a few addresses now, in the step's own
    envelope (its sender, reply-to, configuration set); return SES message ids."""
    return _test_send(
        envelope=step_envelope(step=step, tags={TAG_TEST: "1"}), contact=contact, addresses=addresses
    )


def template_send_test(*, template: Template, contact: Contact, addresses: list[str]) -> list[str]:
    """Send a template's email (saved or not), rendered for `contact`, to a few addresses now, from
    the default sender (DEFAULT_FROM_EMAIL): a template has no sender of its own."""
    envelope = Envelope(
        from_email=settings.DEFAULT_FROM_EMAIL,
        reply_to="",
        configuration_set=settings.SES_CONFIGURATION_SET,
        tags={TAG_TEST: "1"},
        template=template,
    )
    return _test_send(envelope=envelope, contact=contact, addresses=addresses)


#: How a contact taking a break, and an erased address, are named among a refused test's reasons.
PAUSED = "paused"
ERASED = "erased"


def _listed(reasons: dict[str, str], words: Mapping[str, object]) -> str:
    """Name each address with its reason, in the reader's language."""
    return ", ".join(f"{email} ({words.get(reason, reason)})" for email, reason in sorted(reasons.items()))


def _test_send(*, envelope: Envelope, contact: Contact, addresses: list[str]) -> list[str]:
    """Send a test for a marketer's own eyes: no ledger row, no tracking, "[Test]" in the subject,
    at the transactional lane's place in the fleet's rate; never to a suppressed address or one
    whose contact unsubscribed (SuppressedRecipient). Raises TemplateRenderError or an SesError as
    the send would."""
    if not 1 <= len(addresses) <= TEST_SEND_MAX:
        raise ValueError(gettext("A test goes to 1 to %(n)d addresses.") % {"n": TEST_SEND_MAX})
    # A complaint or a bounce suppresses an address for everything we send, tests included.
    normalized = [email_normalize(address) for address in addresses]
    suppressed = addresses_suppressed(emails=normalized, marketing=True)
    if suppressed:
        # Each reason in the words of its choice: "Complaint", "Hard bounce", in the reader's language.
        said = gettext("On the suppression list, so never mailed: %(listed)s.")
        reasons: dict[str, object] = dict(Suppression.Reason.choices)
        raise SuppressedRecipient(said % {"listed": _listed(suppressed, reasons)})
    # A test is marketing mail: someone who unsubscribed, has yet to confirm a signup, or takes a
    # break, gets none, as from a campaign.
    declined = dict(
        Contact.objects.filter(email__in=normalized, status__in=Contact.SUBSCRIBING_NEEDS_REASON).values_list(
            "email", "status"
        )
    )
    for paused in Contact.objects.filter(email__in=normalized, paused_until__gt=timezone.now()):
        declined.setdefault(paused.email, PAUSED)
    for erased in addresses_erased(emails=normalized):  # Its owner asked to be forgotten.
        declined.setdefault(erased, ERASED)
    if declined:
        words = dict(Contact.Status.choices) | {
            PAUSED: gettext("Taking a break"),
            ERASED: gettext("Erased at their request"),
        }
        said = gettext("Not asking for campaign email now, so never sent a test: %(listed)s.")
        raise SuppressedRecipient(said % {"listed": _listed(declined, words)})
    compiled = template_compile(template=envelope.template)
    rendered = template_render(
        compiled=compiled, contact=contact, extra={"unsubscribe_url": settings.PUBLIC_BASE_URL + "/u/test"}
    )
    ids = []
    for address in addresses:
        message = step_execution_build_message(
            execution=StepExecution(email=address),
            envelope=envelope,
            rendered=replace(rendered, subject=f"[Test] {rendered.subject}"),
        )
        throttle.send_slot_wait(lane=throttle.LANE_TRANSACTIONAL)
        ids.append(ses_send(message=message))
    return ids
