from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from campaigns import demo
from campaigns.models import Campaign, Contact, Template
from delivery import fan_out as delivery_fan_out
from delivery import services as delivery_services
from delivery.models import StepExecution

pytestmark = pytest.mark.django_db


def _kinds(campaign: Campaign) -> Counter:
    """Count a campaign's recipients by the mailbox simulator's behaviour (success, bounce, …)."""
    emails = StepExecution.objects.filter(step__campaign=campaign).values_list("email", flat=True)
    return Counter(email.split("+")[0] for email in emails)


def test_demo_creates_login_audiences_templates_and_campaigns_due_now(settings):
    settings.DEBUG = True  # As make run's .env has it.
    out = StringIO()
    call_command("demo", stdout=out)

    assert "admin / campanile" in out.getvalue()
    assert get_user_model().objects.get(username="admin").is_superuser
    newsletter, winback = Campaign.objects.order_by("scheduled_at")
    assert {newsletter.status, winback.status} == {Campaign.Status.SCHEDULED}
    assert (winback.scheduled_at - newsletter.scheduled_at) == demo.WINBACK_DELAY
    assert delivery_services.delivery_tick() == [newsletter.pk]
    # The unsubscribed and the suppressed contacts stay out of the ledger.
    assert delivery_fan_out.step_fan_out(step=newsletter.steps.get()) == demo.NEWSLETTER_SIZE
    assert not StepExecution.objects.filter(email__contains="+unsubscribed@").exists()
    kinds = _kinds(newsletter)
    # A healthy list: 1% hard bounces, one complaint, the last address, under the guard's 0.08%.
    assert 0.005 < kinds["bounce"] / demo.NEWSLETTER_SIZE <= 0.01
    assert kinds["complaint"] == 1
    assert 1 / demo.NEWSLETTER_SIZE < 0.0008
    assert kinds["suppressionlist"] > 0
    assert kinds["ooto"] > 0
    last = StepExecution.objects.filter(step__campaign=newsletter).order_by("pk").last()
    assert last.email.startswith("complaint+")
    # The templates the README's API example and the Artillery scenario name exist, with links.
    assert Template.objects.filter(name__in=["demo-welcome", demo.SAMPLE_TEMPLATE]).count() == 2
    assert 'href="https://' in Template.objects.get(name="demo-welcome").html_body


def test_the_winback_list_bounces_enough_for_the_reputation_guard_to_pause_it(settings):
    call_command("demo", stdout=StringIO())
    winback = Campaign.objects.get(name__startswith="Win-back")
    addresses = Contact.objects.filter(lists__campaigns=winback).values_list("email", flat=True)
    bounces = sum(email.startswith("bounce+") for email in addresses)
    assert bounces / len(addresses) > 2 * settings.SES_BOUNCE_RATE_LIMIT
    assert len(addresses) > settings.SES_REPUTATION_MIN_SENT


def test_demo_runs_again_with_one_more_newsletter_and_the_same_audience(settings):
    settings.DEBUG = True
    call_command("demo", stdout=StringIO())
    contacts = Contact.objects.count()
    call_command("demo", stdout=StringIO())
    assert Contact.objects.count() == contacts
    assert Campaign.objects.filter(name__startswith="Spring newsletter").count() == 2
    assert Campaign.objects.filter(name__startswith="Win-back").count() == 1
    assert get_user_model().objects.count() == 1


def test_with_debug_off_the_demo_makes_no_published_login(settings):
    settings.DEBUG = False
    out = StringIO()
    call_command("demo", stdout=out)
    assert not get_user_model().objects.exists()
    assert "campanile" not in out.getvalue().split("No demo login")[-1]
    assert "createsuperuser" in out.getvalue()
    assert Campaign.objects.count() == 2  # The demo itself is there.


def test_addresses_check_lists_the_rows_saved_before_the_address_rule_and_changes_nothing():
    from tests.factories import CampaignFactory, ContactFactory, SuppressionFactory

    ContactFactory(email="fine@example.com")
    # Saved around the rule, as rows from before it were.
    Contact.objects.bulk_create([Contact(email="x@example.com\u200b"), Contact(email="info@bücher.de")])
    SuppressionFactory(email="y@example.com\u00ad")
    sender = CampaignFactory()
    Campaign.objects.filter(pk=sender.pk).update(from_email="a@campanile.test, b@evil.test")
    out, err = StringIO(), StringIO()

    call_command("addresses_check", stdout=out, stderr=err)

    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert any("'x@example.com\\u200b'" in line and "U+200B" in line for line in lines)
    assert any("'info@bücher.de'" in line and "'info@xn--bcher-kva.de'" in line for line in lines)
    assert any(line.startswith("campaigns.Suppression") and "U+00AD" in line for line in lines)
    assert any(line.startswith(f"campaigns.Campaign {sender.pk} from_email") for line in lines)
    assert "4 stored addresses" in err.getvalue()
    assert Contact.objects.filter(email="x@example.com\u200b").exists()
