import email
import re

import pytest
from django.test import Client

from campaigns import services as campaign_services
from campaigns.models import Contact
from delivery import services as delivery_services
from delivery import tokens
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    ContactListFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    SuppressionFactory,
    TemplateFactory,
    sendable_campaign,
)
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def _sent_campaign(**template_fields):
    campaign = sendable_campaign(contacts=1)
    if template_fields:
        step = campaign.steps.get()
        step.template = TemplateFactory(**template_fields)
        step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    (sent,) = sent_messages()
    return StepExecution.objects.get(step__campaign=campaign), email.message_from_string(sent.raw_data)


def _url_path(header: str) -> str:
    (url,) = re.findall(r"<(https?://[^>]+)>", header)
    return url.split("://", 1)[1].split("/", 1)[1]


def test_campaign_mail_carries_one_click_unsubscribe_that_works_without_cookies(ses):
    row, mime = _sent_campaign()
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = "/" + _url_path(mime["List-Unsubscribe"])
    client = Client(enforce_csrf_checks=True)

    looked = client.get(path)  # A link scanner, or the person reading first.
    assert looked.status_code == 200
    assert row.email in looked.content.decode()
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.SUBSCRIBED
    assert not TrackingEvent.objects.exists()

    first = client.post(path, {"List-Unsubscribe": "One-Click"})
    again = client.post(path, {"List-Unsubscribe": "One-Click"})  # Mail providers retry.
    assert (first.status_code, again.status_code) == (200, 200)
    assert "Set-Cookie" not in first.headers
    assert "no-store" in first.headers["Cache-Control"]
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.UNSUBSCRIBED
    event = TrackingEvent.objects.get()
    assert (event.type, event.step_execution, event.raw) == (
        TrackingEvent.Type.UNSUBSCRIBE,
        row,
        {"source": "one-click"},
    )


def test_a_tampered_or_foreign_token_changes_nothing():
    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    other_purpose = tokens.step_execution_token(tracking_id=row.tracking_id, purpose="click")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    client = Client()
    for bad in (tampered, other_purpose, "nonsense", token.split(":")[0]):
        assert client.get(f"/u/{bad}").status_code == 404
        assert client.post(f"/u/{bad}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.SUBSCRIBED
    assert not TrackingEvent.objects.exists()


def test_an_unsubscribe_token_spelled_other_than_issued_is_refused_and_changes_nothing():
    import base64

    # 15 characters: the sealed bytes do not fill the last base64 group, so its last character
    # has unused bits, which a lax decoder ignores.
    row = StepExecutionFactory(contact__email="ada@example.com")
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other_last_bits = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]

    def sealed(spelling: str) -> bytes:
        return base64.urlsafe_b64decode(spelling + "=" * (-len(spelling) % 4))

    assert sealed(other_last_bits) == sealed(token)  # Other text, the very same bytes.
    client = Client()
    for bad in (
        token + "==",
        token + "=======",
        token[:10] + "~~~" + token[10:],
        token[:10] + "...." + token[10:],
        other_last_bits,
    ):
        assert client.get(f"/u/{bad}").status_code == 404, bad
        assert client.post(f"/u/{bad}", {"List-Unsubscribe": "One-Click"}).status_code == 404, bad
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.SUBSCRIBED
    assert not TrackingEvent.objects.exists()

    assert client.get(f"/u/{token}").status_code == 200  # The token as issued still works.
    assert client.post(f"/u/{token}", {"List-Unsubscribe": "One-Click"}).status_code == 200
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.UNSUBSCRIBED


def test_links_signed_before_a_key_rotation_keep_working_while_the_old_key_is_a_fallback(settings):
    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "a-new-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert Client().get(f"/u/{token}").status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert Client().get(f"/u/{token}").status_code == 404


def test_templates_get_the_unsubscribe_url_and_a_mailto_is_offered_when_configured(ses, settings):
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@campanile.test"
    row, mime = _sent_campaign(html_body='<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    https_path = _url_path(mime["List-Unsubscribe"])
    assert "<mailto:unsubscribe@campanile.test?subject=unsubscribe%20" in mime["List-Unsubscribe"]
    html = next(part for part in mime.walk() if part.get_content_type() == "text/html")
    assert f'href="{settings.PUBLIC_BASE_URL}/{https_path}"' in html.get_payload(decode=True).decode()
    assert https_path.startswith("u/")
    assert row.status == StepExecution.Status.SENT


def test_the_preference_page_can_leave_only_the_campaigns_lists_or_come_back(ses):
    row, mime = _sent_campaign()
    path = "/" + _url_path(mime["List-Unsubscribe"])
    contact = row.contact
    campaign_list = row.step.campaign.lists.get()
    other_list = ContactListFactory(name="Other news")
    ListMembershipFactory(contact_list=other_list, contact=contact)
    client = Client(enforce_csrf_checks=True)

    page = client.get(path).content.decode()
    assert f"Only leave {campaign_list.name}" in page

    left = client.post(path, {"action": "lists"})
    assert left.status_code == 200
    assert f"You left {campaign_list.name}" in left.content.decode()
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED
    assert list(contact.lists.all()) == [other_list]

    assert client.post(path, {"action": "all"}).status_code == 200
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert "Subscribe again" in client.get(path).content.decode()

    back = client.post(path, {"action": "resubscribe"})
    assert "Welcome back" in back.content.decode()
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (Contact.Status.SUBSCRIBED, None)
    assert client.post(path, {"action": "nonsense"}).status_code == 400


def test_a_suppressed_address_cannot_subscribe_again(ses):
    row, mime = _sent_campaign()
    path = "/" + _url_path(mime["List-Unsubscribe"])
    SuppressionFactory(email=row.email)
    Client().post(path, {"List-Unsubscribe": "One-Click"})
    refused = Client().post(path, {"action": "resubscribe"})
    assert "We cannot mail this address" in refused.content.decode()
    row.contact.refresh_from_db()
    assert row.contact.status == Contact.Status.UNSUBSCRIBED


def test_a_one_click_unsubscribe_is_in_the_contacts_consent_history():
    from campaigns.models import ConsentChange

    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})
    Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})  # A retry adds nothing.

    change = ConsentChange.objects.get()
    assert (change.contact, change.from_status, change.to_status) == (
        row.contact,
        "subscribed",
        "unsubscribed",
    )
    assert (change.by, change.actor, change.via) == ("contact", row.email, "one_click")
    assert row.campaign_step.campaign.name in change.reason


def test_subscribing_again_on_the_page_is_in_the_consent_history_as_the_contacts_own():
    from campaigns.models import ConsentChange

    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    Client().post(f"/u/{token}", {"action": "all"})
    Client().post(f"/u/{token}", {"action": "resubscribe"})

    back, gone = ConsentChange.objects.all()  # Newest first.
    assert (gone.to_status, gone.via, back.to_status, back.via) == (
        "unsubscribed",
        "unsubscribe_page",
        "subscribed",
        "unsubscribe_page",
    )
    assert (back.by, back.actor) == ("contact", row.email)
    row.contact.refresh_from_db()
    assert (row.contact.status, row.contact.unsubscribed_at) == ("subscribed", None)


@pytest.mark.parametrize("created_again", [True, False], ids=["created again", "gone"])
def test_an_unsubscribe_link_still_unsubscribes_after_its_contact_was_deleted(created_again):
    from campaigns.consent import contacts_delete
    from campaigns.models import Suppression
    from tests.factories import ContactFactory

    row = StepExecutionFactory()
    address = row.email
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=address)
    # A sync deletes the contact, with its rows, and perhaps adds it again, subscribed.
    contacts_delete(contacts=Contact.objects.filter(pk=row.contact_id), source=Suppression.Source.API)
    again = ContactFactory(email=address) if created_again else None

    assert Client().get(f"/u/{token}").status_code == 200  # The page still answers, changing nothing.
    response = Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    if again is not None:
        again.refresh_from_db()
        assert again.status == Contact.Status.UNSUBSCRIBED
    else:
        assert Suppression.objects.get(email=address).reason == Suppression.Reason.UNSUBSCRIBE


def test_a_link_made_before_addresses_rode_along_for_a_deleted_contact_is_a_404():
    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    row.contact.delete()
    assert Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"}).status_code == 404


def test_an_old_link_speaks_for_the_address_it_was_sent_to_never_the_contacts_new_one():
    from campaigns.models import ConsentChange
    from tests.factories import ContactFactory

    row = StepExecutionFactory()
    sent_to = row.email
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=sent_to)
    moved = row.contact
    moved.email = "moved@example.com"  # The contact's new mailbox; the old one may be another's now.
    moved.save()
    holder = ContactFactory(email=sent_to)

    # Whoever holds the old mailbox can neither subscribe the contact at its new address again…
    assert Client().post(f"/u/{token}", {"action": "resubscribe"}).status_code == 409
    # …nor unsubscribe it: the link unsubscribes the address it was sent to.
    assert Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"}).status_code == 200
    moved.refresh_from_db()
    holder.refresh_from_db()
    assert (moved.status, holder.status) == (Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED)
    assert ConsentChange.objects.get(contact=holder).via == ConsentChange.Via.ONE_CLICK


def test_an_unsubscribe_link_hides_its_address_and_survives_a_key_rotation(settings):
    import base64

    row = StepExecutionFactory()
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)
    # Scanners, proxies and logs see the URL: the address in it is sealed, not merely signed.
    padded = token + "=" * (-len(token) % 4)
    assert row.email.encode() not in base64.urlsafe_b64decode(padded)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert Client().get(f"/u/{tampered}").status_code == 404
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "a-new-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert Client().get(f"/u/{token}").status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert Client().get(f"/u/{token}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_a_one_click_unsubscribe_answers_503_so_the_sender_retries():
    from tests.utils import database_down

    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    with database_down():
        response = Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"  # German words arrive as written.
    assert Contact.objects.get(pk=row.contact_id).status == Contact.Status.SUBSCRIBED  # Nothing half-done.
    assert Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"}).status_code == 200  # The retry.
    assert Contact.objects.get(pk=row.contact_id).status == Contact.Status.UNSUBSCRIBED


def _deleted_after_the_first_read(monkeypatch, row: StepExecution) -> list:
    """Delete the row's contact just after the page first reads its link, as a sync would before
    the page acts; return the reads made."""
    from campaigns.consent import contacts_delete
    from tracking import unsubscribe as unsubscribing

    read = unsubscribing.step_execution_by_unsubscribe_token
    calls: list = []

    def read_then_the_contact_goes(**kwargs):
        found = read(**kwargs)
        if not calls:
            contacts_delete(contacts=Contact.objects.filter(pk=row.contact_id), source="api")
        calls.append(found)
        return found

    monkeypatch.setattr(unsubscribing, "step_execution_by_unsubscribe_token", read_then_the_contact_goes)
    return calls


@pytest.mark.parametrize("post", [{"action": "all"}, {"List-Unsubscribe": "One-Click"}])
def test_an_unsubscribe_landing_while_its_contact_is_deleted_keeps_the_opt_out_never_a_500(monkeypatch, post):
    from campaigns.models import Suppression

    row = StepExecutionFactory(status=StepExecution.Status.SENT)
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)
    _deleted_after_the_first_read(monkeypatch, row)

    answer = Client().post(f"/u/{token}", post)

    assert answer.status_code == 200
    assert Suppression.objects.get(email=row.email).reason == Suppression.Reason.UNSUBSCRIBE


@pytest.mark.parametrize(
    "post",
    [
        {"action": "lists"},
        {"action": "preferences", "first_name": "Ada"},
        {"action": "pause", "days": "30"},
        {"action": "resume"},
    ],
)
def test_a_choice_made_while_its_contact_is_deleted_says_only_leaving_is_left_never_a_500(monkeypatch, post):
    row = StepExecutionFactory(status=StepExecution.Status.SENT)
    audience = ContactListFactory()
    row.step.campaign.lists.add(audience)
    ListMembershipFactory(contact=row.contact, contact_list=audience)
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)
    calls = _deleted_after_the_first_read(monkeypatch, row)

    answer = Client().post(f"/u/{token}", post)

    assert len(calls) == 2  # Read again after the choice found its contact gone.
    assert answer.status_code == 409
    assert "Only unsubscribing is offered for this address now" in answer.content.decode()
    assert "Unsubscribe from all marketing email" in answer.content.decode()


@pytest.mark.parametrize("left_by", ["another email", "the api"])
def test_an_unsubscribe_link_of_one_who_left_already_counts_no_unsubscribe(api_client, ses, left_by):
    from tracking.unsubscribe import step_execution_unsubscribe

    first, _mime = _sent_campaign()
    second = StepExecutionFactory(contact=first.contact, email=first.email, status=StepExecution.Status.SENT)
    if left_by == "another email":
        step_execution_unsubscribe(execution=first, source="one-click")
    else:
        api_client.patch(
            f"/api/v1/contacts/{first.contact_id}",
            {"status": "unsubscribed", "reason": "By phone."},
            format="json",
        )
    token = tokens.unsubscribe_token(tracking_id=second.tracking_id, email=second.email)

    answer = Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})

    assert answer.status_code == 200
    stats = api_client.get(f"/api/v1/campaigns/{second.step.campaign_id}/stats").json()
    assert stats["unsubscribed"] == 0  # Its email did not make them leave.
    assert not TrackingEvent.objects.filter(step_execution=second).exists()
    assert Contact.objects.get(pk=first.contact_id).status == Contact.Status.UNSUBSCRIBED


def test_a_one_click_read_before_its_contact_changed_address_speaks_for_the_old_address(monkeypatch):
    from campaigns.consent import contact_address_leave
    from campaigns.models import Suppression
    from tracking import unsubscribe as unsubscribing

    row = StepExecutionFactory(status=StepExecution.Status.SENT)
    old = row.email
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=old)
    read = unsubscribing.step_execution_by_unsubscribe_token
    calls: list = []

    def read_then_the_address_changes(**kwargs):
        found = read(**kwargs)
        if not calls:  # The page read the contact at its old address; a sync moves it now.
            contact = Contact.objects.get(pk=row.contact_id)
            contact_address_leave(contact=contact, new_email="moved@example.com", source="api")
            Contact.objects.filter(pk=row.contact_id).update(email="moved@example.com")
        calls.append(found)
        return found

    monkeypatch.setattr(unsubscribing, "step_execution_by_unsubscribe_token", read_then_the_address_changes)

    answer = Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})

    assert answer.status_code == 200
    assert Contact.objects.get(pk=row.contact_id).status == Contact.Status.SUBSCRIBED  # At its new address.
    assert Suppression.objects.get(email=old).reason == Suppression.Reason.UNSUBSCRIBE
