"""The preference centre behind the unsubscribe link: lists to stay on, a break, a name, a brand."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import preferences
from campaigns import services as campaign_services
from campaigns.mailable import contact_mail_paused
from campaigns.models import Contact, Signup
from campaigns.selectors import campaign_audience_breakdown
from delivery import services as delivery_services
from delivery import tokens
from delivery.models import StepExecution
from tests.factories import (
    ContactListFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    sendable_campaign,
)
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def _page_of(row: StepExecution) -> str:
    return reverse(
        "unsubscribe", args=[tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)]
    )


def _row_on(*lists) -> StepExecution:
    """Return a campaign row whose contact is on the campaign's list and on these lists."""
    campaign = sendable_campaign(contacts=1)
    contact = campaign.lists.get().contacts.get()
    for contact_list in lists:
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    step = campaign.steps.get()
    return StepExecutionFactory(step=step, contact=contact, email=contact.email)


def test_a_contact_keeps_the_lists_they_tick_leaves_the_others_and_renames_themselves():
    news, offers = ContactListFactory(name="News"), ContactListFactory(name="Offers")
    internal = ContactListFactory(name="Scored leads Q3", shown_to_contacts=False)
    row = _row_on(news, offers, internal)
    campaign_list = row.step.campaign.lists.get()
    client = Client(enforce_csrf_checks=True)

    page = client.get(_page_of(row)).content.decode()
    saved = client.post(
        _page_of(row),
        {
            "action": "preferences",
            "shown": [campaign_list.pk, news.pk, offers.pk],
            "lists": [campaign_list.pk, news.pk],
            "first_name": "Ada",
            "last_name": "L.",
        },
    )

    assert "News" in page
    assert "Offers" in page
    assert "Scored leads Q3" not in page  # A list kept from contacts is never named to them.
    assert saved.status_code == 200
    assert "You left Offers." in saved.content.decode()
    contact = Contact.objects.get(pk=row.contact_id)
    assert (contact.first_name, contact.last_name, contact.status) == ("Ada", "L.", Contact.Status.SUBSCRIBED)
    assert set(contact.lists.values_list("name", flat=True)) == {
        row.step.campaign.lists.get().name,
        "News",
        "Scored leads Q3",
    }
    event = TrackingEvent.objects.get(type=TrackingEvent.Type.UNSUBSCRIBE)
    assert event.raw["scope"] == "lists"
    assert event.raw["lists"] == [offers.pk]


def test_a_break_keeps_campaigns_away_until_it_ends_and_skips_what_came_meanwhile(ses):
    row = _row_on()
    campaign = row.step.campaign
    client = Client()

    paused = client.post(_page_of(row), {"action": "pause", "days": "30"})

    assert paused.status_code == 200
    assert "Enjoy the break" in paused.content.decode()
    contact = Contact.objects.get(pk=row.contact_id)
    assert contact.paused_until > timezone.now() + timedelta(days=29)
    breakdown = campaign_audience_breakdown(campaign=campaign)
    assert (breakdown["paused"], breakdown["sendable"]) == (1, 0)  # Counted apart: not sent now.
    campaign_services.campaign_schedule(campaign=campaign)  # The row queued before the break…
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    row.refresh_from_db()
    assert row.status == StepExecution.Status.SKIPPED  # …is skipped, never sent late.
    assert row.last_error == "The contact paused their email."
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert campaign_audience_breakdown(campaign=campaign)["sendable"] == 1


def test_a_break_can_be_ended_early_and_only_thirty_or_ninety_days_are_offered():
    row = _row_on()
    client = Client()
    preferences.contact_pause(contact=row.contact, days=90)

    page = client.get(_page_of(row)).content.decode()
    odd = client.post(_page_of(row), {"action": "pause", "days": "3650"})
    resumed = client.post(_page_of(row), {"action": "resume"})

    assert "No marketing email until" in page
    assert odd.status_code == 400
    assert resumed.status_code == 200
    assert not contact_mail_paused(contact=Contact.objects.get(pk=row.contact_id))


def test_the_page_refuses_a_name_it_cannot_keep_and_choices_once_unsubscribed():
    row = _row_on()
    client = Client()

    too_long = client.post(_page_of(row), {"action": "preferences", "first_name": "A" * 151})
    nul = client.post(_page_of(row), {"action": "preferences", "first_name": "A\x00B"})
    bidi = client.post(_page_of(row), {"action": "preferences", "last_name": "Smith\u202egnp.exe"})
    client.post(_page_of(row), {"action": "all"})
    after = client.post(_page_of(row), {"action": "pause", "days": "30"})

    assert (too_long.status_code, nul.status_code, bidi.status_code) == (400, 400, 400)
    assert "U+202E" in bidi.content.decode()
    assert Contact.objects.get(pk=row.contact_id).last_name != "Smith\u202egnp.exe"
    assert after.status_code == 409
    assert Contact.objects.get(pk=row.contact_id).paused_until is None


def test_the_page_speaks_the_language_the_signup_recorded_and_wears_the_brand(settings):
    settings.BRAND_LOGO_URL = "https://cdn.shop.example/logo.png"
    row = _row_on()
    Signup.objects.create(
        form_name="Footer",
        email=row.email,
        consent_text="Yes",
        language="de",
        contact=row.contact,
        status=Signup.Status.CONFIRMED,
    )

    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(_page_of(row))

    page = response.content.decode()
    assert "Ihre E-Mail-Einstellungen" in page
    assert 'src="https://cdn.shop.example/logo.png"' in page
    assert "https://cdn.shop.example" in response["Content-Security-Policy"]


def test_leaving_the_emails_lists_names_only_those_shown_to_contacts():
    row = _row_on()
    campaign_list = row.step.campaign.lists.get()
    campaign_list.shown_to_contacts = False
    campaign_list.save()

    page = Client().get(_page_of(row)).content.decode()
    left = Client().post(_page_of(row), {"action": "lists"}).content.decode()

    assert campaign_list.name not in page
    assert campaign_list.name not in left
    assert "Only leave the lists this email was sent to" in page
    assert not Contact.objects.get(pk=row.contact_id).lists.exists()


def test_saving_choices_never_takes_the_contact_off_a_list_they_joined_while_the_page_was_open():
    row = _row_on()
    campaign_list = row.step.campaign.lists.get()
    page = Client().get(_page_of(row)).content.decode()
    joined = ContactListFactory(name="Old customers")
    ListMembershipFactory(contact_list=joined, contact=row.contact)  # In another tab, say.

    saved = Client().post(
        _page_of(row), {"action": "preferences", "shown": [campaign_list.pk], "lists": [campaign_list.pk]}
    )

    assert f'name="shown" value="{campaign_list.pk}"' in page
    assert saved.status_code == 200
    assert "You left" not in saved.content.decode()
    assert set(Contact.objects.get(pk=row.contact_id).lists.all()) == {campaign_list, joined}
    assert not TrackingEvent.objects.filter(type=TrackingEvent.Type.UNSUBSCRIBE).exists()


def test_the_sender_name_heads_the_page_when_no_brand_is_set(settings):
    settings.BRAND_NAME = ""
    row = _row_on()
    row.step.campaign.from_email = "Acme News <news@campanile.test>"
    row.step.campaign.save()

    assert "<strong>Acme News</strong>" in Client().get(_page_of(row)).content.decode()


def test_a_break_leaves_a_segments_mailable_count_as_it_leaves_the_audience():
    from campaigns.segments import segment_summary

    row = _row_on()
    preferences.contact_pause(contact=row.contact, days=30)

    summary = segment_summary({"match": "all", "rules": [{"field": "email", "op": "eq", "value": row.email}]})

    assert (summary["contacts"], summary["mailable"], summary["sample"]) == (1, 0, [])


def test_a_deleted_contacts_link_offers_only_to_leave_and_then_says_it_is_done():
    row = _row_on()
    path = _page_of(row)
    Contact.objects.filter(pk=row.contact_id).delete()

    before = Client().get(path).content.decode()
    Client().post(path, {"action": "all"})
    after = Client().get(path).content.decode()

    assert "Unsubscribe from all marketing email" in before
    assert "Take a break" not in before
    assert "Save my choices" not in before
    assert "You are unsubscribed" in after
    assert "Subscribe again" not in after  # Nothing offered that would answer 400.


def test_the_page_says_its_language_and_only_the_contacts_own_signup_sets_it(settings):
    row = _row_on()
    stranger = {"form_name": "Footer", "email": row.email, "consent_text": "Yes", "contact": row.contact}
    Signup.objects.create(**stranger, language="de", status=Signup.Status.PENDING)  # Never confirmed.
    assert "Your email preferences" in Client(HTTP_ACCEPT_LANGUAGE="en").get(_page_of(row)).content.decode()

    Signup.objects.create(**stranger, language="de", status=Signup.Status.CONFIRMED)
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(_page_of(row))

    assert "Ihre E-Mail-Einstellungen" in response.content.decode()
    assert response["Content-Language"] == "de"


def test_leaving_the_lists_of_an_email_sent_to_none_is_refused_and_counts_nothing():
    row = _row_on()
    row.step.campaign.lists.clear()  # A campaign of segments alone.

    refused = Client().post(_page_of(row), {"action": "lists"})

    assert refused.status_code == 400
    assert not TrackingEvent.objects.filter(type=TrackingEvent.Type.UNSUBSCRIBE).exists()


def test_subscribing_again_from_the_page_ends_a_break():
    row = _row_on()
    preferences.contact_pause(contact=row.contact, days=90)
    client = Client()
    client.post(_page_of(row), {"action": "all"})

    client.post(_page_of(row), {"action": "resubscribe"})

    contact = Contact.objects.get(pk=row.contact_id)
    assert contact.status == Contact.Status.SUBSCRIBED
    assert not contact_mail_paused(contact=contact)


def test_a_logo_address_that_is_no_plain_https_url_is_refused_at_start():
    import subprocess
    import sys

    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()"
    env = {"DJANGO_DEBUG": "1", "BRAND_LOGO_URL": "https://a.example;script-src *;x/logo.png", "PATH": ""}
    started = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )

    assert started.returncode != 0
    assert "BRAND_LOGO_URL must be an https:// URL." in started.stderr


def test_the_page_keeps_no_name_sent_twice_or_in_bytes_that_are_no_utf8_and_one_click_still_works():
    row = _row_on()
    contact = Contact.objects.get(pk=row.contact_id)
    contact.first_name = "Pia"
    contact.save()
    client = Client()

    twice = client.post(
        _page_of(row),
        "action=preferences&first_name=Pia&first_name=Mallory",
        content_type="application/x-www-form-urlencoded",
    )
    latin1 = client.post(
        _page_of(row), "action=preferences&first_name=Pi%E9", content_type="application/x-www-form-urlencoded"
    )
    one_click = client.post(
        _page_of(row), "List-Unsubscribe=One-Click&x=%E9", content_type="application/x-www-form-urlencoded"
    )

    assert twice.status_code == 400
    assert "“First name” more than once" in twice.content.decode()
    assert latin1.status_code == 415
    assert one_click.status_code == 200
    contact.refresh_from_db()
    assert (contact.first_name, contact.status) == ("Pia", Contact.Status.UNSUBSCRIBED)
