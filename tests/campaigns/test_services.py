from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import audience, services
from campaigns.audience import (
    address_validate,
    contact_bulk_upsert,
    contact_unsubscribe,
    suppression_add,
)
from campaigns.exceptions import CampaignNotReady, InvalidTransition, TemplateRenderError
from campaigns.models import Campaign, CampaignStep, Contact, Suppression
from campaigns.rendering import template_compile, template_render
from tests.factories import (
    CampaignFactory,
    CampaignStepFactory,
    ContactFactory,
    TemplateFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db

S = Campaign.Status
ACTIONS = {
    "schedule": services.campaign_schedule,
    "unschedule": services.campaign_unschedule,
    "start": services.campaign_start,
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "complete": services.campaign_complete,
    "reopen": services.campaign_reopen,
    "cancel": services.campaign_cancel,
}
# The status machine, written out independently of the code: (action, from) → to.
VALID = {
    ("schedule", S.DRAFT): S.SCHEDULED,
    ("unschedule", S.SCHEDULED): S.DRAFT,
    ("start", S.SCHEDULED): S.SENDING,
    ("pause", S.SCHEDULED): S.PAUSED,
    ("pause", S.SENDING): S.PAUSED,
    ("resume", S.PAUSED): S.SENDING,  # for a campaign that had started; see the next test
    ("complete", S.SENDING): S.COMPLETED,
    ("reopen", S.COMPLETED): S.SENDING,
    ("cancel", S.DRAFT): S.CANCELLED,
    ("cancel", S.SCHEDULED): S.CANCELLED,
    ("cancel", S.SENDING): S.CANCELLED,
    ("cancel", S.PAUSED): S.CANCELLED,
}
ALL_PAIRS = [(action, status) for action in ACTIONS for status in S.values]


def _campaign_in(status: str) -> Campaign:
    campaign = sendable_campaign(contacts=1)
    started = timezone.now() if status != S.DRAFT else None
    Campaign.objects.filter(pk=campaign.pk).update(status=status, started_at=started)
    campaign.refresh_from_db()
    return campaign


@pytest.mark.parametrize(("action", "status"), [p for p in ALL_PAIRS if p in VALID])
def test_valid_transition_moves_campaign(action, status):
    campaign = _campaign_in(status)
    ACTIONS[action](campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == VALID[(action, status)]


@pytest.mark.parametrize(("action", "status"), [p for p in ALL_PAIRS if p not in VALID])
def test_invalid_transition_raises_and_changes_nothing(action, status):
    campaign = _campaign_in(status)
    before = Campaign.objects.filter(pk=campaign.pk).values().get()
    with pytest.raises(InvalidTransition, match=f"Cannot {action} campaign"):
        ACTIONS[action](campaign=campaign)
    assert Campaign.objects.filter(pk=campaign.pk).values().get() == before


def test_resume_of_never_started_campaign_returns_to_scheduled():
    campaign = services.campaign_schedule(campaign=sendable_campaign())
    services.campaign_pause(campaign=campaign)
    services.campaign_resume(campaign=campaign)
    assert campaign.status == S.SCHEDULED


def test_start_and_finish_stamp_times():
    campaign = services.campaign_schedule(campaign=sendable_campaign())
    assert campaign.scheduled_at is not None
    services.campaign_start(campaign=campaign)
    assert campaign.started_at is not None
    services.campaign_complete(campaign=campaign)
    assert campaign.completed_at is not None


def test_schedule_refuses_campaign_without_steps_or_audience_and_says_why():
    campaign = CampaignFactory(from_email="not an address")
    with pytest.raises(CampaignNotReady) as excinfo:
        services.campaign_schedule(campaign=campaign)
    message = str(excinfo.value)
    assert "no steps" in message
    assert "no audience lists" in message
    assert "not a valid address" in message
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_schedule_refuses_broken_template():
    campaign = sendable_campaign()
    step = campaign.steps.get()
    step.template.subject = "Hi {% if %}"
    step.template.save()
    with pytest.raises(CampaignNotReady, match="step 1's template does not compile"):
        services.campaign_schedule(campaign=campaign)


@pytest.mark.parametrize(
    ("first", "second", "campaign_fields", "problem"),
    [
        ({"condition": "opened"}, {}, {}, "first step has a condition"),
        ({}, {"condition": "clicked_link"}, {}, "names none"),
        ({}, {}, {"send_window_start": time(9)}, "both a start and an end"),
        ({}, {}, {"audience_mode": "evergreen", "recurrence": "0 9 * * 1"}, "cannot also recur"),
    ],
)
def test_schedule_refuses_drips_that_cannot_work_as_set(first, second, campaign_fields, problem):
    campaign = sendable_campaign(**campaign_fields)
    Campaign.objects.filter(pk=campaign.pk).update(**campaign_fields)
    campaign.steps.update(**first)
    CampaignStepFactory(campaign=campaign, order=2, **second)
    with pytest.raises(CampaignNotReady, match=problem):
        services.campaign_schedule(campaign=Campaign.objects.get(pk=campaign.pk))


def test_a_condition_may_only_look_at_an_earlier_step():
    campaign = sendable_campaign()
    second = CampaignStepFactory(campaign=campaign, order=2)
    campaign.steps.filter(order=1).update(condition="always")
    CampaignStepFactory(campaign=campaign, order=3, condition="opened", condition_step=second)
    services.campaign_check_ready(campaign=campaign)  # Step 2 comes before step 3: fine.
    second.condition, second.condition_step = "opened", CampaignStep.objects.get(campaign=campaign, order=3)
    second.save()
    with pytest.raises(CampaignNotReady, match="does not come before it"):
        services.campaign_check_ready(campaign=campaign)


def test_address_validate_rejects_line_breaks_and_accepts_display_names():
    address_validate(value="Acme News <news@acme.test>", field="from_email")
    with pytest.raises(ValidationError):
        address_validate(value="news@acme.test\r\nBcc: victim@example.com", field="from_email")
    with pytest.raises(ValidationError):
        address_validate(value="nobody", field="from_email")


def _render(template, contact):
    return template_render(compiled=template_compile(template=template), contact=contact)


def test_render_personalizes_from_fields_and_attributes():
    template = TemplateFactory(
        subject="Hi {{ contact.first_name }}",
        html_body="<p>{{ contact.full_name }} on {{ attributes.plan }}</p>",
        text_body="Plan: {{ attributes.plan }}",
    )
    contact = ContactFactory(first_name="Ada", last_name="Lovelace", attributes={"plan": "pro"})
    rendered = _render(template, contact)
    assert rendered.subject == "Hi Ada"
    assert rendered.html == "<p>Ada Lovelace on pro</p>"
    assert rendered.text == "Plan: pro"


def test_render_escapes_html_only_and_keeps_subject_on_one_line():
    template = TemplateFactory(
        subject="For {{ contact.first_name }}", html_body="<b>{{ contact.first_name }}</b>"
    )
    contact = ContactFactory(first_name="Tom & <Jerry>\r\nBcc: x@example.com")
    rendered = _render(template, contact)
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject
    assert rendered.subject == "For Tom & <Jerry> Bcc: x@example.com"
    assert "&amp; &lt;Jerry&gt;" in rendered.html


def test_render_missing_variable_is_empty_and_text_is_derived_from_html():
    template = TemplateFactory(
        subject="Hi{{ attributes.nickname }}", html_body="<h1>Title</h1><p>Body text</p>"
    )
    rendered = _render(template, ContactFactory(attributes={}))
    assert rendered.subject == "Hi"
    assert "Title" in rendered.text
    assert "Body text" in rendered.text
    assert "<" not in rendered.text


def test_render_error_in_a_filter_fails_that_email_only():
    template = TemplateFactory(html_body="{{ attributes.when|date:'Y' }}{{ attributes.n|divisibleby:0 }}")
    with pytest.raises(TemplateRenderError):
        _render(template, ContactFactory(attributes={"n": 3}))


def test_template_cannot_reach_model_methods():
    template = TemplateFactory(html_body="{{ contact.delete }}{{ contact.pk }}")
    contact = ContactFactory()
    rendered = _render(template, contact)
    assert rendered.html == ""
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_template_validate_names_the_broken_field():
    template = TemplateFactory.build(html_body="{% for %}")
    with pytest.raises(ValidationError) as excinfo:
        template.full_clean()
    assert "html_body" in excinfo.value.message_dict


def test_suppression_add_is_idempotent_and_keeps_first_reason():
    first, created = suppression_add(
        email="X@Example.com", reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES
    )
    again, created_again = suppression_add(
        email="x@example.com", reason=Suppression.Reason.MANUAL, source=Suppression.Source.ADMIN
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert again.reason == Suppression.Reason.COMPLAINT


def test_contact_unsubscribe_stamps_once():
    contact = ContactFactory()
    contact_unsubscribe(contact=contact)
    stamped = contact.unsubscribed_at
    contact_unsubscribe(contact=contact)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at == stamped


def test_two_steps_keep_their_order_unique():
    step = CampaignStepFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignStepFactory(campaign=step.campaign, order=1)


def test_bulk_upsert_twice_in_one_transaction(transactional_db):
    from django.db import transaction as db_transaction

    with db_transaction.atomic():
        first = contact_bulk_upsert(rows=[(0, {"email": "a@example.com", "first_name": "A"})])
        second = contact_bulk_upsert(rows=[(0, {"email": "a@example.com", "last_name": "B"})])
    assert (first.created, second.updated) == (1, 1)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name) == ("A", "B")


def test_bulk_upsert_writes_only_rows_that_change_something():
    contact_bulk_upsert(
        rows=[
            (0, {"email": "same@example.com", "first_name": "Same", "attributes": {"plan": "pro"}}),
            (1, {"email": "moved@example.com", "first_name": "Before"}),
        ]
    )
    stamps = dict(Contact.objects.values_list("email", "updated_at"))

    result = contact_bulk_upsert(
        rows=[
            (0, {"email": "same@example.com", "first_name": "Same", "attributes": {"plan": "pro"}}),
            (1, {"email": "moved@example.com", "first_name": "After"}),
            (2, {"email": "fresh@example.com"}),
        ]
    )

    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    after = dict(Contact.objects.values_list("email", "updated_at"))
    assert after["same@example.com"] == stamps["same@example.com"]
    assert after["moved@example.com"] > stamps["moved@example.com"]
    assert Contact.objects.get(email="moved@example.com").first_name == "After"


def test_bulk_upsert_keeps_the_time_an_unsubscribed_contact_left():
    left = timezone.now() - timedelta(days=30)
    ContactFactory(email="gone@example.com", status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=left)

    result = contact_bulk_upsert(
        rows=[(0, {"email": "gone@example.com", "first_name": "Renamed", "status": "unsubscribed"})]
    )

    assert result.updated == 1
    contact = Contact.objects.get()
    assert (contact.first_name, contact.unsubscribed_at) == ("Renamed", left)
    contact_bulk_upsert(rows=[(0, {"email": "gone@example.com", "status": "subscribed"})])
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (Contact.Status.SUBSCRIBED, None)


def test_bulk_upsert_of_an_address_added_meanwhile_updates_it(postgres_only, monkeypatch):
    match = audience._contacts_matching

    def match_then_race(**kwargs):
        matching = match(**kwargs)
        # Another import adds one of the "new" addresses after this one looked.
        ContactFactory(email="raced@example.com", first_name="Theirs")
        return matching

    monkeypatch.setattr(audience, "_contacts_matching", match_then_race)
    result = contact_bulk_upsert(
        rows=[(0, {"email": "raced@example.com", "first_name": "Ours"}), (1, {"email": "calm@example.com"})]
    )

    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    assert Contact.objects.get(email="raced@example.com").first_name == "Ours"
    assert Contact.objects.filter(email="calm@example.com").exists()
