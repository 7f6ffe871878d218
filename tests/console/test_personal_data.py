"""Everything held about one contact, as one JSON document, from the admin and the API."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from campaigns import preferences
from campaigns.consent import CONSENT_SYSTEM, contact_status_change
from campaigns.models import Contact, ContactConsent, Signup, Suppression
from delivery.models import StepExecution
from tests.factories import (
    ContactFactory,
    ListDepartureFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    TrackingEventFactory,
    sendable_campaign,
)
from tests.utils import role_client
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def _held():
    """Make a contact with something of everything: a list, a consent, a signup, an email and its open."""
    contact = ContactFactory(email="ada@example.com", first_name="Ada", attributes={"plan": "pro"})
    ListMembershipFactory(contact=contact, contact_list__name="Newsletter")
    ListDepartureFactory(contact=contact, contact_list__name="Offers")
    ContactConsent.objects.create(contact=contact, basis="consent", source="form", detail="Footer")
    Signup.objects.create(
        form_name="Footer",
        email=contact.email,
        consent_text="Yes",
        ip="203.0.113.0",
        status="confirmed",
        contact=contact,
    )
    Suppression.objects.create(email=contact.email, reason="soft_bounce", source="ses")
    campaign = sendable_campaign(contacts=0, name="Spring news")
    row = StepExecutionFactory(
        step=campaign.steps.get(),
        contact=contact,
        email=contact.email,
        status=StepExecution.Status.SENT,
        sent_at=timezone.now(),
    )
    TrackingEventFactory(step_execution=row, recipient=contact.email, type=TrackingEvent.Type.OPEN)
    preferences.contact_pause(contact=contact, days=30)
    return contact


def test_a_marketer_downloads_everything_held_about_a_contact():
    contact = _held()
    client = role_client("Marketers")

    page = client.get(reverse("admin:campaigns_contact_change", args=[contact.pk])).content.decode()
    download = client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk]))

    assert "Download it as JSON" in page
    assert download["Content-Disposition"] == f'attachment; filename="contact-{contact.pk}.json"'
    held = json.loads(download.content)
    assert held["profile"]["email"] == "ada@example.com"
    assert held["profile"]["attributes"] == {"plan": "pro"}
    assert held["lists"] == ["Newsletter"]
    assert [(left["list"], left["via"]) for left in held["lists_left"]] == [("Offers", "preferences_page")]
    (taken,) = held["breaks"]
    assert taken["ends_at"] == held["profile"]["paused_until"]
    assert held["consents"][0]["detail"] == "Footer"
    assert held["signups"][0]["ip"] == "203.0.113.0"
    assert held["suppressions"][0]["reason"] == "soft_bounce"
    (sent,) = held["emails"]
    assert (sent["campaign"], sent["status"]) == ("Spring news", "sent")
    assert [event["type"] for event in sent["events"]] == ["open"]


def test_staff_who_may_not_see_contacts_cannot_download_them():
    contact = _held()
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename="view_campaign"))

    refused = client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk]))

    assert refused.status_code in (302, 403)
    assert b"ada@example.com" not in refused.content


def test_an_integrator_reads_everything_held_with_a_read_key(api_client):
    contact = _held()

    response = api_client.get(f"/api/v1/contacts/{contact.pk}/personal-data")

    assert response.status_code == 200
    assert response.json()["emails"][0]["events"][0]["type"] == "open"


def test_a_key_reads_a_contacts_campaign_mail_and_its_own_messages_never_another_keys(api_client, api_key):
    from tests.factories import TransactionalMessageFactory

    contact = _held()
    theirs = StepExecutionFactory(
        step=None, message=TransactionalMessageFactory(), contact=contact, email=contact.email
    )
    TrackingEventFactory(step_execution=theirs, recipient=contact.email, type=TrackingEvent.Type.DELIVERY)
    mine = StepExecutionFactory(
        step=None,
        message=TransactionalMessageFactory(api_key=api_key[0]),
        contact=contact,
        email=contact.email,
    )

    held = api_client.get(f"/api/v1/contacts/{contact.pk}/personal-data").json()

    sent = [(email["campaign"], email["template"]) for email in held["emails"]]
    assert ("Spring news", StepExecution.objects.get(step__isnull=False).step.template.name) in sent
    assert (None, mine.message.template.name) in sent
    assert (None, theirs.message.template.name) not in sent
    assert len(sent) == 2
    assert all(event["type"] != "delivery" for email in held["emails"] for event in email["events"])


def test_the_export_holds_the_contacts_own_signups_and_what_the_reader_may_see():
    contact = _held()
    Signup.objects.create(form_name="Other", email="someone@example.org", consent_text="Yes")
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact"]))

    held = json.loads(client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk])).content)

    assert "signups" not in held
    assert "suppressions" not in held
    assert "emails" not in held
    assert held["profile"]["email"] == "ada@example.com"


@pytest.mark.parametrize(
    ("section", "permission"),
    [
        ("lists", "view_listmembership"),
        ("lists_left", "view_listmembership"),
        ("breaks", "view_contactbreak"),
        ("consents", "view_contactconsent"),
        ("consent_history", "view_consentchange"),
    ],
)
def test_a_contacts_lists_breaks_and_consents_go_only_to_staff_who_may_see_them_on_its_page(
    section, permission
):
    contact = _held()
    contact_status_change(
        contact=contact, status=Contact.Status.UNSUBSCRIBED, actor=CONSENT_SYSTEM, reason="Asked by phone"
    )
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename="view_contact"))
    url = reverse("admin:campaigns_contact_personal_data", args=[contact.pk])

    without = json.loads(client.get(url).content)
    user.user_permissions.add(Permission.objects.get(codename=permission))
    with_it = json.loads(client.get(url).content)

    assert section not in without
    assert with_it[section]


def test_an_events_network_and_browser_go_only_to_staff_who_may_see_events():
    contact = _held()
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "view_stepexecution"]))
    TrackingEvent.objects.update(raw={"ip": "198.51.100.0", "user_agent": "SecretBrowser/1.0"})

    download = client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk]))

    (sent,) = json.loads(download.content)["emails"]
    assert [event["type"] for event in sent["events"]] == ["open"]
    assert "detail" not in sent["events"][0]
    assert b"SecretBrowser" not in download.content
    user.user_permissions.add(Permission.objects.get(codename="view_trackingevent"))
    again = client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk]))
    assert b"SecretBrowser" in again.content


def test_a_role_that_sees_contacts_alone_gets_no_timeline_of_their_mail_nor_an_erase_link():
    contact = _held()
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact"]))
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])

    page = client.get(url).content.decode()

    assert "Timeline (newest first)" not in page
    assert "Download it as JSON" in page
    assert reverse("admin:campaigns_contact_erase", args=[contact.pk]) not in page
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_stepexecution", "view_trackingevent"])
    )
    user.user_permissions.add(Permission.objects.get(codename="delete_contact"))
    user = User.objects.get(pk=user.pk)  # Permissions are cached on the instance.
    again = client.get(url).content.decode()
    assert "Timeline (newest first)" in again
    assert reverse("admin:campaigns_contact_erase", args=[contact.pk]) in again


def test_a_key_reads_campaniles_own_mail_to_the_contact_as_the_admin_does_never_another_keys(api_client):
    from delivery.messages import message_queue_own
    from tests.factories import TemplateFactory, TransactionalMessageFactory

    contact = _held()
    confirmation = message_queue_own(
        template=TemplateFactory(name="confirm-your-signup"),
        contact=contact,
        from_email="News <news@campanile.test>",
        context={"confirm_url": "https://campanile.test/confirm"},
    )
    own = StepExecution.objects.get(message=confirmation)
    TrackingEventFactory(step_execution=own, recipient=contact.email, type=TrackingEvent.Type.DELIVERY)
    theirs = StepExecutionFactory(
        step=None, message=TransactionalMessageFactory(), contact=contact, email=contact.email
    )
    TrackingEventFactory(step_execution=theirs, recipient=contact.email, type=TrackingEvent.Type.BOUNCE)

    held = api_client.get(f"/api/v1/contacts/{contact.pk}/personal-data").json()
    downloaded = json.loads(
        role_client("Marketers")
        .get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk]))
        .content
    )

    sent = {email["template"]: [event["type"] for event in email["events"]] for email in held["emails"]}
    assert sent["confirm-your-signup"] == ["delivery"]
    assert theirs.message.template.name not in sent
    assert all("bounce" not in events for events in sent.values())
    assert "confirm-your-signup" in {email["template"] for email in downloaded["emails"]}
