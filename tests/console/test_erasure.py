"""Erasing a contact at its owner's request: no trace of them is left but a keyed hash of the address."""

import copy
import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook
from rest_framework.test import APIClient

from campaigns import import_jobs
from campaigns import services as campaign_services
from campaigns.admin import SuppressionForm
from campaigns.admin_contacts import ContactForm
from campaigns.erasure import address_digest, address_erasure, addresses_erased
from campaigns.models import (
    ConsentChange,
    Contact,
    ContactImport,
    ContactList,
    ErasedAddress,
    ListMembership,
    Signup,
    SignupForm,
    Suppression,
)
from campaigns.signups import SignupFields, signup_apply
from console.erasure import contact_erase
from core.exceptions import ObjectNotFound
from core.models import ApiKey
from core.services import api_key_create
from delivery import fan_out, sending, tokens
from delivery import services as delivery_services
from delivery.models import Engagement, StepExecution, TrackedLink, TransactionalMessage
from delivery.selectors import step_execution_counts
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    SignupFormFactory,
    StepExecutionFactory,
    SuppressionFactory,
    TemplateFactory,
    TransactionalMessageFactory,
    sendable_campaign,
)
from tests.tracking.sns_signing import TOPIC
from tests.utils import staff_login
from tracking import hits, inbox, signups
from tracking.models import SnsMessage, SoftBounceStreak, StepEngagement, TrackingEvent

pytestmark = pytest.mark.django_db

ADDRESS = "ada.lovelace@example.com"
#: What must be gone: the address, the surname, the client's network and browser.
TRACES = (ADDRESS, "lovelace", "198.51.100", "erasuretestagent")
#: Whoever reads the email: their network and browser are what tracking keeps of them.
READER = Client(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="ErasureTestAgent/1.0")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def _stored_text(value) -> str:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode(errors="replace")
    return json.dumps(value, default=str, ensure_ascii=False)


def _traces() -> list[str]:
    """Return "table: trace" for every stored value, in every table, that holds one of TRACES."""
    found = []
    for model in apps.get_models():
        if not model._meta.managed or model._meta.proxy or model is ErasedAddress:
            continue
        columns = [field.attname for field in model._meta.concrete_fields]
        for row in model._base_manager.values_list(*columns):
            text = " ".join(_stored_text(value) for value in row).lower()
            found += [f"{model._meta.db_table}: {trace}" for trace in TRACES if trace in text]
    return found


def _ses_record(name: str, row: StepExecution) -> str:
    """Return an SES event record of a fixture, about this row's email, as SNS carries it."""
    record = copy.deepcopy(json.loads((FIXTURES / name).read_text()))
    record["mail"]["messageId"] = row.ses_message_id
    record["mail"]["destination"] = [row.email]
    record["mail"].setdefault("tags", {})["campanile_step_execution"] = [str(row.tracking_id)]
    record["mail"].setdefault("commonHeaders", {})["to"] = [f"Ada Lovelace <{row.email}>"]
    for key, entries in (("bounce", "bouncedRecipients"), ("complaint", "complainedRecipients")):
        for entry in record.get(key, {}).get(entries, []):
            entry["emailAddress"] = row.email
    if "delivery" in record:
        record["delivery"]["recipients"] = [row.email]
    return json.dumps(record)


def _ses_reports(name: str, row: StepExecution) -> SnsMessage:
    message = SnsMessage.objects.create(
        message_id=str(uuid.uuid4()), topic_arn=TOPIC, message=_ses_record(name, row)
    )
    inbox.sns_message_apply(message_id=message.pk)
    return message


def _tracked_paths(html: str) -> dict[str, str]:
    """Return the path of the email's open pixel ("o") and of its first tracked link ("c")."""
    urls = [part for part in html.split('"') if part.startswith("http")]
    return {kind: "/" + next(url for url in urls if f"/{kind}/" in url).split("/", 3)[3] for kind in "oc"}


def _everything_held(api_client) -> tuple[Contact, StepExecution, dict[str, str]]:
    """Give a contact something of everything Campanile keeps: mail, opens, clicks, SES events, a
    transactional email, a signup, a soft-bounce streak, an import's report, the admin's history."""
    contact = ContactFactory(
        email=ADDRESS, first_name="Ada", last_name="Lovelace", attributes={"maiden": "Byron"}
    )
    campaign = sendable_campaign(contacts=0)
    ListMembership.objects.create(contact=contact, contact_list=campaign.lists.get())
    step = campaign.steps.get()
    step.template = TemplateFactory(
        html_body='<p>Hi {{ contact.last_name }} <a href="https://shop.example.com/">shop</a></p>'
    )
    step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    row = StepExecution.objects.get(step__campaign=campaign)
    paths = _tracked_paths(sent_messages()[-1].raw_data.replace("=\r\n", "").replace("=3D", "="))
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):  # A person, not a scanner.
        for path in paths.values():
            READER.get(path)
    hits.tracking_hits_apply()
    _ses_reports("event-delivery.json", row)
    TemplateFactory(name="Receipt", subject="Your receipt, {{ contact.last_name }}")
    answer = api_client.post(
        "/api/v1/messages",
        {"from": campaign.from_email, "to": ADDRESS, "template_name": "Receipt", "unique_code": ADDRESS},
        format="json",
    )
    assert answer.status_code == 202
    sending.messages_send(budget_seconds=10)
    _ses_reports("event-complaint.json", row)
    SoftBounceStreak.objects.create(email=ADDRESS, count=1)
    ContactImport.objects.create(
        file_name="fair.csv",
        file_kind="csv",
        data=b"",
        errors=[
            {"row": 2, "email": ADDRESS, "errors": {"email": ["Repeats row 1."]}, "cells": [ADDRESS]},
            {"row": 3, "email": "grace@example.com", "errors": {}, "cells": ["grace@example.com"]},
        ],
    )
    LogEntry.objects.create(
        user=User.objects.create_user("staffer", is_staff=True),
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(contact.pk),
        object_repr=str(contact),
        action_flag=CHANGE,
        # As Django writes it when staff add a list on the contact's page: the membership's name.
        change_message=json.dumps([{"added": {"name": "membership", "object": f"{ADDRESS} in Newsletter"}}]),
    )
    return contact, row, paths


def _counts(campaign) -> tuple:
    """Return what the campaign's report counts: its emails by status, its opens, clicks, outcomes."""
    engagement = list(StepEngagement.objects.filter(step__campaign=campaign).values())
    return step_execution_counts(campaign=campaign), engagement


def test_an_erased_contact_leaves_no_trace_but_a_hash_and_every_count_stays(api_client, ses):
    contact, row, _paths = _everything_held(api_client)
    campaign = row.campaign_step.campaign
    before = _counts(campaign)
    held = _traces()
    # Everywhere the contact was: the proof below has something to find gone.
    for table in (
        "campaigns_contact",
        "delivery_stepexecution",
        "tracking_trackingevent",
        "tracking_snsmessage",
    ):
        assert any(trace.startswith(table) for trace in held), table

    answer = api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert answer.status_code == 200
    assert _traces() == []
    (entry,) = ErasedAddress.objects.all()
    assert entry.digest == address_digest(email=ADDRESS)
    assert entry.suppression_reason == Suppression.Reason.COMPLAINT  # It still holds, as a hash.
    assert entry.by.startswith("API key")
    assert _counts(campaign) == before
    # The emails stay, without anyone: two of them (the campaign's and the receipt).
    assert StepExecution.objects.filter(contact=None, email="").count() == 2
    message = TransactionalMessage.objects.get()
    assert message.contact is None
    read = api_client.get(f"/api/v1/messages/{message.pk}")  # Its key still reads it, addressless.
    assert read.status_code == 200, read.content
    assert read.json()["user_id"] is None
    assert Engagement.objects.get(step_execution=row).contact_id is None
    click = TrackingEvent.objects.get(type="click", is_machine=False)
    assert click.recipient == ""
    assert set(click.raw) == {"link_id"}
    assert not Contact.objects.exists()


def test_an_erased_address_is_added_again_by_no_import_nor_by_hand(api_client):
    contact = ContactFactory(email=ADDRESS)
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    bulk = api_client.post(
        "/api/v1/contacts/bulk",
        {"contacts": [{"email": "Ada.Lovelace@Example.com"}, {"email": "grace@example.com"}]},
        format="json",
    )
    single = api_client.post("/api/v1/contacts", {"email": ADDRESS}, format="json")
    renamed = api_client.patch(f"/api/v1/contacts/{ContactFactory().pk}", {"email": ADDRESS}, format="json")
    suppressed = api_client.post(
        "/api/v1/suppressions", {"email": ADDRESS, "reason": "manual"}, format="json"
    )
    by_hand = ContactForm(data={"email": ADDRESS, "status": "subscribed", "attributes": "{}"})

    assert bulk.status_code == 200
    assert bulk.json()["created"] == 1
    (refused,) = bulk.json()["errors"]
    assert refused["row"] == 0
    assert "erased" in refused["errors"]["email"][0]
    for refusal in (single, renamed, suppressed):
        assert refusal.status_code == 400
        assert "erased" in refusal.json()["error"]["fields"]["email"][0]
    assert not by_hand.is_valid()
    assert "erased" in by_hand.errors["email"][0]
    assert not Contact.objects.filter(email=ADDRESS).exists()
    assert not Suppression.objects.filter(email=ADDRESS).exists()


def test_mail_to_the_address_under_another_contact_loses_the_address_too(api_client, ses):
    TemplateFactory(name="Receipt")
    contact = ContactFactory(email=ADDRESS)
    account = ContactFactory(email="family@example.com", external_id="acct-7")
    for user_id in ("acct-7", "acct-7"):  # One sent, one still waiting when the erasure comes.
        api_client.post(
            "/api/v1/messages",
            {
                "from": "App <app@campanile.test>",
                "to": ADDRESS,
                "template_name": "Receipt",
                "user_id": user_id,
            },
            format="json",
        )
        if not sent_messages():
            sending.messages_send(budget_seconds=10)

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert _traces() == []
    rows = StepExecution.objects.filter(message__contact=account).order_by("pk")
    assert [row.status for row in rows] == [StepExecution.Status.SENT, StepExecution.Status.CANCELLED]
    assert {row.contact_id for row in rows} == {account.pk}  # Still the account's mail, addressless.


def test_an_erased_contacts_mail_not_yet_sent_never_goes(api_client):
    contact = ContactFactory(email=ADDRESS)
    campaign = sendable_campaign(contacts=0)
    ListMembership.objects.create(contact=contact, contact_list=campaign.lists.get())
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    fan_out.step_fan_out(step=campaign.steps.get())
    row = StepExecution.objects.get()
    assert row.status == StepExecution.Status.PENDING

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    row.refresh_from_db()
    assert row.status == StepExecution.Status.CANCELLED
    assert row.contact_id is None
    # No re-queue gives it back to a sender: there is no one to send it to.
    assert (
        delivery_services.step_executions_requeue(
            rows=StepExecution.objects.all(), status=StepExecution.Status.UNKNOWN
        )
        == 0
    )


def test_news_after_an_erasure_is_counted_without_the_address(api_client, ses):
    contact, row, paths = _everything_held(api_client)
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    row.refresh_from_db()
    row.email = ADDRESS  # What SES still says: the record names the address.

    late = _ses_reports("event-bounce-permanent.json", row)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        READER.get(paths["o"])  # Read again, from an old copy of the email.
    hits.tracking_hits_apply()

    late.refresh_from_db()
    assert late.applied_at is not None
    bounce = TrackingEvent.objects.get(type="bounce")
    assert bounce.step_execution_id == row.pk
    assert bounce.recipient == ""
    assert TrackingEvent.objects.filter(type="open", is_machine=False).count() == 2
    assert _traces() == []
    assert StepExecution.objects.get(pk=row.pk).outcome == StepExecution.Outcome.COMPLAINED


def test_an_erased_owner_comes_back_only_by_confirming_a_signup(api_client, ses):
    api_client.post(f"/api/v1/contacts/{ContactFactory(email=ADDRESS).pk}/erase")
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    fields = SignupFields(email=ADDRESS, first_name="Ada")

    # Anyone may type an address into a single opt-in form: an erased one must confirm.
    signup = signups.signup_submit(form=form, fields=fields, client_ip="")
    outcome = signups.signup_process(signup_id=signup.pk)

    assert outcome == signups.Outcome.MAILED
    assert Contact.objects.get(email=ADDRESS).status == Contact.Status.PENDING
    assert ErasedAddress.objects.exists()
    assert api_client.post("/api/v1/contacts/bulk", {"contacts": [{"email": ADDRESS}]}, format="json").json()[
        "errors"
    ]

    token = signups.signup_confirm_url(signup=signup).rsplit("/", 1)[1]
    signups.signup_confirm(token=token)

    assert Contact.objects.get(email=ADDRESS).status == Contact.Status.SUBSCRIBED
    assert not ErasedAddress.objects.exists()  # Their own confirmed choice lifts the erasure.


def test_a_complaint_held_through_an_erasure_still_stops_transactional_mail(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    Suppression.objects.create(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source="ses")
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    assert not Suppression.objects.exists()
    TemplateFactory(name="Receipt")

    answer = api_client.post(
        "/api/v1/messages",
        {"from": "App <app@campanile.test>", "to": ADDRESS, "template_name": "Receipt"},
        format="json",
    )

    assert answer.status_code == 202
    assert answer.json()["status"] == StepExecution.Status.SUPPRESSED
    # The address is back, for the mail its integrator sends only, with its complaint.
    assert Contact.objects.get(email=ADDRESS).status == Contact.Status.TRANSACTIONAL
    assert Suppression.objects.get(email=ADDRESS).reason == Suppression.Reason.COMPLAINT
    assert ErasedAddress.objects.exists()  # Still no import brings it back.


def test_a_complaint_held_through_an_erasure_stops_mail_to_the_address_under_another_contact(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    ContactFactory(external_id="crm-5001")  # Someone whose mail an integrator sends to the address.
    Suppression.objects.create(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source="ses")
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    TemplateFactory(name="Receipt")
    body = {
        "from": "App <app@campanile.test>",
        "to": ADDRESS,
        "template_name": "Receipt",
        "user_id": "crm-5001",
    }

    answer = api_client.post("/api/v1/messages", body, format="json")
    sending.messages_send(budget_seconds=5)

    assert answer.json()["status"] == StepExecution.Status.SUPPRESSED
    assert sent_messages() == []


def test_a_row_to_an_erased_address_that_held_a_complaint_is_suppressed_when_claimed(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    Suppression.objects.create(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source="ses")
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    # Queued before the rule, or by a path that asked nothing: the claim asks again.
    row = StepExecutionFactory(
        step=None, message=TransactionalMessageFactory(to_email=ADDRESS), email=ADDRESS
    )

    sending.messages_send(budget_seconds=5)

    assert StepExecution.objects.get(pk=row.pk).status == StepExecution.Status.SUPPRESSED
    assert sent_messages() == []


@pytest.mark.parametrize("held", ["complaint", "unsubscribed"])
def test_a_test_send_never_goes_to_an_erased_address(api_client, ses, held):
    from delivery.exceptions import SuppressedRecipient
    from delivery.test_sends import template_send_test

    contact = ContactFactory(email=ADDRESS, status="unsubscribed" if held == "unsubscribed" else "subscribed")
    if held == "complaint":
        Suppression.objects.create(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source="ses")
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    with pytest.raises(SuppressedRecipient) as refused:
        template_send_test(template=TemplateFactory(), contact=ContactFactory(), addresses=[ADDRESS.upper()])

    assert ("Complaint" if held == "complaint" else "Erased at their request") in str(refused.value)
    assert sent_messages() == []


def test_staff_who_may_not_delete_contacts_may_not_erase_them():
    contact = ContactFactory(email=ADDRESS)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client = Client()
    staff_login(client, viewer)

    page = client.get(reverse("admin:campaigns_contact_erase", args=[contact.pk]))
    tried = client.post(
        reverse("admin:campaigns_contact_changelist"),
        {"action": "erase_personal_data", "_selected_action": [contact.pk], "apply": "1", "confirm": "on"},
    )

    assert page.status_code == 403
    assert tried.status_code in (200, 302)
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert not ErasedAddress.objects.exists()


def test_a_read_only_key_may_not_erase(api_client):
    contact = ContactFactory(email=ADDRESS)
    _key, secret = api_key_create(name="reader", scopes=[ApiKey.Scope.READ])
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=secret)

    assert reader.post(f"/api/v1/contacts/{contact.pk}/erase").status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_an_erased_address_is_still_known_after_the_secret_key_changes(api_client, settings):
    api_client.post(f"/api/v1/contacts/{ContactFactory(email=ADDRESS).pk}/erase")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a new secret key, rotated as the operations guide says"

    assert address_erasure(email=ADDRESS) is not None
    assert addresses_erased(emails=[ADDRESS, "grace@example.com"]) == {ADDRESS}
    settings.SECRET_KEY_FALLBACKS = []
    assert address_erasure(email=ADDRESS) is None  # Without the old key the hash is unreadable.


def test_an_old_unsubscribe_link_of_an_erased_contact_names_no_one_and_keeps_nothing(api_client):
    contact = ContactFactory(email=ADDRESS)
    row = StepExecutionFactory(contact=contact, email=ADDRESS, status=StepExecution.Status.SENT)
    token = tokens.unsubscribe_token(tracking_id=row.tracking_id, email=row.email)
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    page = Client().get(f"/u/{token}")
    left = Client().post(f"/u/{token}", {"List-Unsubscribe": "One-Click"})

    assert page.status_code == 200
    assert "You are unsubscribed from all marketing email." in page.content.decode()
    assert left.status_code == 200
    assert ADDRESS not in page.content.decode()
    assert ADDRESS not in left.content.decode()
    assert _traces() == []


def test_the_import_wizard_says_so_on_its_preview_and_imports_the_rest(api_client):
    api_client.post(f"/api/v1/contacts/{ContactFactory(email=ADDRESS).pk}/erase")
    data = f"email,first_name\n{ADDRESS},Ada\ngrace@example.com,Grace\n".encode()
    job = import_jobs.contact_import_create(file_name="fair.csv", data=data, user=None)

    preview = import_jobs.contact_import_preview(job=job, mapping=job.mapping)
    import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=[], consent_basis="consent")
    import_jobs.contact_import_run(job_id=job.pk)

    assert "erased" in preview[0].errors[0]
    assert preview[1].errors == []
    job.refresh_from_db()
    assert (job.created, job.failed) == (1, 1)
    assert job.errors[0]["row"] == 2
    assert "erased" in job.errors[0]["errors"]["email"][0]
    assert _traces() == []  # The refusal itself keeps no trace of the address.
    assert list(Contact.objects.values_list("email", flat=True)) == ["grace@example.com"]


def test_an_address_back_for_transactional_mail_is_subscribed_only_by_its_owner(api_client, ses):
    contact = ContactFactory(email=ADDRESS, status=Contact.Status.UNSUBSCRIBED)
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    TemplateFactory(name="Receipt")
    api_client.post(
        "/api/v1/messages",
        {"from": "App <app@campanile.test>", "to": ADDRESS, "template_name": "Receipt"},
        format="json",
    )
    back = Contact.objects.get(email=ADDRESS)
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)

    # A stranger types the address into a single opt-in form; an integrator tries to subscribe it.
    signup = signups.signup_submit(form=form, fields=SignupFields(email=ADDRESS), client_ip="")
    signups.signup_process(signup_id=signup.pk)
    patched = api_client.patch(
        f"/api/v1/contacts/{back.pk}", {"status": "subscribed", "resubscribe": True, "reason": "CRM"}
    )
    staff = ContactForm(
        instance=back,
        initial={"status": back.status},
        data={"email": ADDRESS, "status": "subscribed", "attributes": "{}", "consent_reason": "Asked"},
    )

    assert Contact.objects.get(pk=back.pk).status == Contact.Status.TRANSACTIONAL
    assert patched.status_code == 409
    assert not staff.is_valid()
    assert "erased" in staff.errors["status"][0]
    # Only its owner, confirming, subscribes it.
    signup.refresh_from_db()
    assert signup.status == Signup.Status.PENDING
    signups.signup_confirm(token=signups.signup_confirm_url(signup=signup).rsplit("/", 1)[1])
    assert Contact.objects.get(pk=back.pk).status == Contact.Status.SUBSCRIBED


def test_suppressing_an_erased_address_in_the_admin_keeps_it_with_the_erasure(api_client, admin_client):
    api_client.post(f"/api/v1/contacts/{ContactFactory(email=ADDRESS).pk}/erase")

    one = SuppressionForm(data={"email": ADDRESS, "reason": "manual", "source": "admin"})
    many = admin_client.post(
        reverse("admin:campaigns_suppression_add_in_bulk"),
        {"addresses": f"{ADDRESS}\ngrace@example.com", "reason": "manual", "detail": ""},
        follow=True,
    )

    assert not one.is_valid()
    assert "erased" in one.errors["email"][0]
    assert "1 was erased" in many.content.decode()
    assert list(Suppression.objects.values_list("email", flat=True)) == ["grace@example.com"]
    assert ErasedAddress.objects.get().suppression_reason == Suppression.Reason.MANUAL


def test_an_address_the_contact_held_before_is_erased_with_it(api_client, ses):
    contact, _row, _paths = _everything_held(api_client)
    new_address = "ada.king@example.com"
    api_client.patch(f"/api/v1/contacts/{contact.pk}", {"email": new_address}, format="json")

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert _traces() == []  # The old address, on its emails, events and notifications, is gone.
    assert address_erasure(email=ADDRESS) is not None
    assert address_erasure(email=new_address) is not None


def test_ses_news_waiting_to_be_applied_at_the_erasure_is_applied_then_redacted(api_client, ses):
    contact, row, _paths = _everything_held(api_client)
    waiting = SnsMessage.objects.create(
        message_id=str(uuid.uuid4()), topic_arn=TOPIC, message=_ses_record("event-bounce-permanent.json", row)
    )
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    inbox.sns_message_apply(message_id=waiting.pk)

    waiting.refresh_from_db()
    assert waiting.note == ""  # Applied as SES sent it, not set aside as unreadable.
    assert TrackingEvent.objects.get(type="bounce").step_execution_id == row.pk
    assert _traces() == []


def test_a_complaint_waiting_to_be_applied_at_the_erasure_still_stops_mail(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    row = StepExecutionFactory(
        contact=contact, email=ADDRESS, status=StepExecution.Status.SENT, ses_message_id="ses-waiting"
    )
    waiting = SnsMessage.objects.create(
        message_id=str(uuid.uuid4()), topic_arn=TOPIC, message=_ses_record("event-complaint.json", row)
    )
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    inbox.sns_message_apply(message_id=waiting.pk)

    assert ErasedAddress.objects.get().suppression_reason == Suppression.Reason.COMPLAINT
    assert StepExecution.objects.get(pk=row.pk).outcome == StepExecution.Outcome.COMPLAINED
    assert _traces() == []


def test_erasing_a_contact_twice_at_once_answers_404_to_the_second(api_client):
    contact = ContactFactory(email=ADDRESS)
    stale = Contact.objects.get(pk=contact.pk)  # Read by a second request before the first erased.

    assert api_client.post(f"/api/v1/contacts/{contact.pk}/erase").status_code == 200
    with pytest.raises(ObjectNotFound):
        contact_erase(contact=stale, by="a second request")
    assert api_client.post(f"/api/v1/contacts/{contact.pk}/erase").status_code == 404


def test_an_import_holding_the_address_stops_and_its_report_forgets_any_spelling(api_client):
    contact = ContactFactory(email="ida@xn--exmple-cua.com")
    waiting = import_jobs.contact_import_create(
        file_name="fair.csv",
        data=b"email,first_name\nIDA@EX\xc3\x84MPLE.com,Ida\ngrace@example.com,G\n",
        user=None,
    )
    done = ContactImport.objects.create(
        file_name="old.csv",
        file_kind="csv",
        data=b"",
        status=ContactImport.Status.DONE,
        errors=[
            {
                "row": 2,
                "email": "IDA@EXÄMPLE.com",
                "errors": {},
                "cells": ["IDA@EXÄMPLE.com", "Ida", "bogus"],
            },
            {"row": 3, "email": "grace@example.com", "errors": {}, "cells": ["grace@example.com"]},
        ],
    )

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    waiting.refresh_from_db()
    assert waiting.status == ContactImport.Status.FAILED
    assert bytes(waiting.data) == b""
    assert "erased" in waiting.problem
    done.refresh_from_db()
    assert [row["row"] for row in done.errors] == [3]


def test_an_upload_never_started_is_deleted_after_a_day():
    job = import_jobs.contact_import_create(file_name="fair.csv", data=b"email\nada@example.com\n", user=None)

    assert import_jobs.contact_imports_abandoned_drop() == 0
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert import_jobs.contact_imports_abandoned_drop() == 1
    job.refresh_from_db()
    assert job.status == ContactImport.Status.FAILED
    assert bytes(job.data) == b""


def test_ses_news_of_an_erased_address_with_no_email_on_record_keeps_no_address(api_client):
    api_client.post(f"/api/v1/contacts/{ContactFactory(email=ADDRESS).pk}/erase")
    unknown = StepExecution(email=ADDRESS, ses_message_id="ses-elsewhere")  # Never in this ledger.

    _ses_reports("event-delivery.json", unknown)

    assert TrackingEvent.objects.get(type="delivery").recipient == ""
    assert _traces() == []


def test_an_unstarted_workbook_holding_the_address_stops_too(api_client):
    contact = ContactFactory(email=ADDRESS)
    workbook = Workbook()
    workbook.active.append(["email", "first_name"])
    workbook.active.append([ADDRESS.upper(), "Ada"])
    data = io.BytesIO()
    workbook.save(data)
    job = import_jobs.contact_import_create(file_name="fair.xlsx", data=data.getvalue(), user=None)

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    job.refresh_from_db()
    assert job.status == ContactImport.Status.FAILED
    assert bytes(job.data) == b""


def test_an_integrators_tags_leave_the_stored_notifications_and_campanile_ids_stay(api_client):
    contact = ContactFactory(email=ADDRESS)
    row = StepExecutionFactory(contact=contact, email=ADDRESS, status="sent", ses_message_id="ses-tagged")
    record = json.loads(_ses_record("event-delivery.json", row))
    record["mail"]["tags"]["customer"] = ["Lovelace-account"]
    message = SnsMessage.objects.create(message_id="tagged", topic_arn=TOPIC, message=json.dumps(record))
    inbox.sns_message_apply(message_id=message.pk)

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    tags = json.loads(SnsMessage.objects.get(pk=message.pk).message)["mail"]["tags"]
    assert "customer" not in tags
    assert tags["campanile_step_execution"] == [str(row.tracking_id)]
    assert _traces() == []


def test_a_confirmation_landing_after_an_erasure_subscribes_no_one_and_never_fails(api_client, ses):
    form = SignupFormFactory()
    signup = signups.signup_submit(form=form, fields=SignupFields(email=ADDRESS), client_ip="")
    signups.signup_process(signup_id=signup.pk)
    read_before = Signup.objects.get(pk=signup.pk)  # The confirmation page read it, then…
    api_client.post(f"/api/v1/contacts/{Contact.objects.get(email=ADDRESS).pk}/erase")

    assert signup_apply(signup=read_before, confirmed=True) is None
    assert not Contact.objects.filter(email=ADDRESS).exists()
    assert ErasedAddress.objects.exists()


def _soft(record: str) -> str:
    """Return a permanent bounce's record made a soft one (a full mailbox, say)."""
    data = json.loads(record)
    data["bounce"]["bounceType"], data["bounce"]["bounceSubType"] = "Transient", "MailboxFull"
    for recipient in data["bounce"]["bouncedRecipients"]:
        recipient["status"], recipient["diagnosticCode"] = "4.2.2", "smtp; 452 4.2.2 Mailbox full"
    return json.dumps(data)


def test_a_soft_bounce_of_an_erased_address_with_no_email_on_record_starts_no_streak(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    # A test send's bounce, say: its email has no ledger row, and its tag names none.
    unrecorded = StepExecution(email=ADDRESS, ses_message_id="ses-test-send", tracking_id=uuid.uuid4())
    record = _soft(_ses_record("event-bounce-permanent.json", unrecorded))
    message = SnsMessage.objects.create(message_id="soft-bounce", topic_arn=TOPIC, message=record)

    inbox.sns_message_apply(message_id=message.pk)

    assert TrackingEvent.objects.get().kind == "soft"  # Applied, as a soft bounce…
    assert not SoftBounceStreak.objects.exists()  # …that starts no streak naming them.
    assert _traces() == []


def test_a_long_erased_address_leaves_no_part_of_itself_in_an_events_id(api_client, ses):
    long = f"{'a' * 64}@{'b' * 60}.{'c' * 60}.example.com"  # 202 characters: past the id's cap.
    contact = ContactFactory(email=long)
    row = StepExecutionFactory(contact=contact, email=long, status="sent", ses_message_id="ses-long")
    _ses_reports("event-delivery.json", row)  # Recorded before the erasure…
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    _ses_reports("event-delivery-delay.json", StepExecution.objects.get(pk=row.pk))  # …and after.

    ids = list(TrackingEvent.objects.values_list("event_id", flat=True))
    assert len(ids) == 2
    assert not [event_id for event_id in ids if "a" * 16 in event_id]


def test_an_old_address_whose_opt_out_was_kept_is_exported_and_erased_with_its_contact(api_client):
    contact = ContactFactory(email="ada.byron@example.com", status=Contact.Status.UNSUBSCRIBED)
    api_client.patch(f"/api/v1/contacts/{contact.pk}", {"email": ADDRESS}, format="json")
    assert Suppression.objects.filter(email="ada.byron@example.com").exists()  # Its opt-out, kept.

    held = api_client.get(f"/api/v1/contacts/{contact.pk}/personal-data").json()
    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert held["profile"]["former_emails"] == ["ada.byron@example.com"]
    assert [row["reason"] for row in held["suppressions"]] == [Suppression.Reason.UNSUBSCRIBE]
    assert not Suppression.objects.exists()
    assert address_erasure(email="ada.byron@example.com") is not None


def test_an_address_mailed_under_the_contacts_user_id_is_someone_elses_and_not_erased(api_client, ses):
    TemplateFactory(name="Gift card")
    contact = ContactFactory(email=ADDRESS, external_id="crm-4001")
    giftee = "giftee@example.net"
    SuppressionFactory(email=giftee, reason=Suppression.Reason.UNSUBSCRIBE)  # The giftee's own choice.
    body = {"from": "app@campanile.test", "to": giftee, "template_name": "Gift card", "user_id": "crm-4001"}
    api_client.post("/api/v1/messages", body, format="json")
    sending.messages_send(budget_seconds=5)

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")
    added = api_client.post("/api/v1/contacts", {"email": giftee}, format="json")

    assert address_erasure(email=giftee) is None
    assert added.status_code == 201
    assert Suppression.objects.get(email=giftee).reason == Suppression.Reason.UNSUBSCRIBE
    assert TransactionalMessage.objects.get().to_email == ""  # Still the contact's mail: no address.


def test_erasing_an_address_leaves_a_longer_one_that_holds_it_whole(api_client, ses):
    contact = ContactFactory(email="bo@example.com")
    jimbo = ContactFactory(email="jimbo@example.com")
    row = StepExecutionFactory(contact=jimbo, email=jimbo.email, status="sent", ses_message_id="ses-jimbo")
    notification = _ses_reports("event-delivery.json", row)
    before = SnsMessage.objects.get(pk=notification.pk).message
    history = LogEntry.objects.create(
        user=User.objects.create_user("staffer", is_staff=True),
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(jimbo.pk),
        object_repr="jimbo@example.com",
        action_flag=CHANGE,
        change_message="[]",
    )
    report = ContactImport.objects.create(
        file_name="old.csv",
        file_kind="csv",
        data=b"",
        status=ContactImport.Status.DONE,
        errors=[{"row": 2, "email": "jimbo@example.com", "errors": {}, "cells": ["jimbo@example.com"]}],
    )
    waiting = import_jobs.contact_import_create(
        file_name="team.csv", data=b"email\njimbo@example.com\nann@example.com.au\n", user=None
    )

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert SnsMessage.objects.get(pk=notification.pk).message == before
    assert LogEntry.objects.get(pk=history.pk).object_repr == "jimbo@example.com"
    assert len(ContactImport.objects.get(pk=report.pk).errors) == 1
    assert ContactImport.objects.get(pk=waiting.pk).status == ContactImport.Status.MAPPING


def test_an_erased_address_leaves_the_former_addresses_and_history_of_one_who_held_it_before(api_client):
    from tracking.unsubscribe import step_execution_unsubscribe

    before = ContactFactory(email=ADDRESS)
    step_execution_unsubscribe(execution=StepExecutionFactory(contact=before, email=ADDRESS), source="page")
    api_client.patch(f"/api/v1/contacts/{before.pk}", {"email": "bob@example.com"}, format="json")
    holder = ContactFactory(email=ADDRESS)  # Whose address it is now, and who asks to be forgotten.

    api_client.post(f"/api/v1/contacts/{holder.pk}/erase")

    assert Contact.objects.get(pk=before.pk).former_emails == []
    assert not [actor for actor in ConsentChange.objects.values_list("actor", flat=True) if ADDRESS in actor]
    assert _traces() == []


def test_an_export_leaves_out_the_suppression_of_an_old_address_someone_else_holds_now(api_client):
    contact = ContactFactory(email="shared@example.com")
    api_client.patch(f"/api/v1/contacts/{contact.pk}", {"email": ADDRESS}, format="json")
    ContactFactory(email="shared@example.com")  # Someone else's address now, and their complaint.
    SuppressionFactory(email="shared@example.com", reason=Suppression.Reason.COMPLAINT)

    held = api_client.get(f"/api/v1/contacts/{contact.pk}/personal-data").json()

    assert held["suppressions"] == []
    assert held["profile"]["former_emails"] == ["shared@example.com"]


def test_a_long_address_cut_short_in_the_admin_history_is_erased_too(api_client):
    long = f"{'a' * 64}@{'b' * 60}.{'c' * 60}.{'d' * 10}.example.com"  # 209: past the 200 cap.
    contact = ContactFactory(email=long)
    LogEntry.objects.create(
        user=User.objects.create_user("staffer", is_staff=True),
        content_type=ContentType.objects.get_for_model(Suppression),
        object_id="1",
        object_repr=f"{long} (complaint)"[:200],  # As Django cuts a suppression's name.
        action_flag=CHANGE,
        change_message="[]",
    )

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert LogEntry.objects.get().object_repr == "[erased]"


def test_a_link_personalised_with_the_address_names_no_one_once_it_is_erased(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    campaign = sendable_campaign(contacts=0)
    ListMembership.objects.create(contact=contact, contact_list=campaign.lists.get())
    step = campaign.steps.get()
    step.template = TemplateFactory(
        html_body='<a href="https://shop.example.com/account?email={{ contact.email|urlencode }}">account</a>'
        '<a href="https://shop.example.com/u/{{ contact.email }}">profile</a>'
        '<a href="https://shop.example.com/share?to=ops%40shop.example.com%2C{{ contact.email|urlencode }}">'
        "share</a>",
        text_body="",
    )
    step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    shop = TrackedLink.objects.filter(step=step, url__startswith="https://shop.example.com/")
    assert shop.count() == 3

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert sorted(shop.values_list("url", flat=True)) == [
        "https://shop.example.com/account?email=[erased]",
        "https://shop.example.com/share?to=ops%40shop.example.com%2C[erased]",
        "https://shop.example.com/u/[erased]",
    ]
    stats = api_client.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    assert "lovelace" not in json.dumps(stats).lower()


def test_an_erasure_leaves_a_third_partys_text_that_merely_ends_like_the_address(api_client):
    contact = ContactFactory(email="annabelle.lee@example.com")
    staff = User.objects.create_user("staffer", is_staff=True)
    names = {"short": "x" * 196 + " ann", "long": "x" * 190 + " Annabelle"}  # At the 200 cap.
    for name in names.values():
        LogEntry.objects.create(
            user=staff,
            content_type=ContentType.objects.get_for_model(ContactList),
            object_id="1",
            object_repr=name,
            action_flag=CHANGE,
            change_message="[]",
        )

    answer = api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert answer.status_code == 200
    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == sorted(names.values())


def test_an_address_in_quotes_or_after_an_equals_sign_is_written_out_of_a_notification(api_client, ses):
    contact = ContactFactory(email=ADDRESS)
    row = StepExecutionFactory(contact=contact, email=ADDRESS, status="sent", ses_message_id="ses-quoted")
    record = json.loads(_ses_record("event-bounce-permanent.json", row))
    said = f"smtp; 552 '{ADDRESS}' is over quota; see https://mx.example.com/help?user={ADDRESS}"
    for recipient in record["bounce"]["bouncedRecipients"]:
        recipient["diagnosticCode"] = said
    message = SnsMessage.objects.create(message_id="quoted", topic_arn=TOPIC, message=json.dumps(record))
    inbox.sns_message_apply(message_id=message.pk)

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert ADDRESS not in SnsMessage.objects.get(pk=message.pk).message.lower()


def test_the_notifications_of_its_mail_to_an_address_someone_holds_now_lose_its_name(api_client, ses):
    contact = ContactFactory(email="shared@example.com", last_name="Lovelace")
    row = StepExecutionFactory(contact=contact, email=contact.email, status="sent", ses_message_id="ses-old")
    notification = _ses_reports("event-delivery.json", row)  # Its headers: "Ada Lovelace <shared@…>".
    api_client.patch(f"/api/v1/contacts/{contact.pk}", {"email": ADDRESS}, format="json")
    ContactFactory(email="shared@example.com")  # The old address is someone else's now.

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    assert "lovelace" not in SnsMessage.objects.get(pk=notification.pk).message.lower()


def test_another_contacts_settled_email_to_the_address_loses_it_too(api_client):
    before = ContactFactory(email=ADDRESS)
    skipped = StepExecutionFactory(contact=before, email=ADDRESS, status=StepExecution.Status.SKIPPED)
    api_client.patch(f"/api/v1/contacts/{before.pk}", {"email": "bob@example.com"}, format="json")
    holder = ContactFactory(email=ADDRESS)

    api_client.post(f"/api/v1/contacts/{holder.pk}/erase")

    row = StepExecution.objects.get(pk=skipped.pk)
    assert (row.email, row.status, row.contact_id) == ("", StepExecution.Status.SKIPPED, before.pk)


def test_a_headerless_import_whose_first_line_named_them_forgets_it(api_client):
    contact = ContactFactory(email=ADDRESS)
    done = ContactImport.objects.create(
        file_name="no-header.csv",
        file_kind="csv",
        data=b"",
        status=ContactImport.Status.DONE,
        header=[ADDRESS, "Ada", "Lovelace"],  # Its first line, a person's, named the columns.
        mapping=[
            {"target": "email", "attribute": ""},
            {"target": "attribute", "attribute": "Ada"},
            {"target": "attribute", "attribute": "Lovelace"},
        ],
    )

    api_client.post(f"/api/v1/contacts/{contact.pk}/erase")

    done.refresh_from_db()
    assert done.header == ["column 1", "column 2", "column 3"]
    assert [column["attribute"] for column in done.mapping] == ["", "", ""]
    assert _traces() == []
