"""factory_boy factories for every model; tests build data through these."""

import factory
from django.contrib.auth.models import User
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaigns.models import (
    Campaign,
    CampaignStep,
    Contact,
    ContactList,
    ListDeparture,
    ListMembership,
    Segment,
    SignupForm,
    Suppression,
    Template,
)
from core.services import api_key_create
from delivery.models import StepExecution, TransactionalMessage
from tracking.models import TrackingEvent


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    external_id = factory.Sequence(lambda n: f"user-{n}")


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    name = factory.Sequence(lambda n: f"List {n}")


class ListMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListMembership

    contact_list = factory.SubFactory(ContactListFactory)
    contact = factory.SubFactory(ContactFactory)


class ListDepartureFactory(factory.django.DjangoModelFactory):
    """A list its contact left in their email preferences (tests of the real page leave through it)."""

    class Meta:
        model = ListDeparture

    contact_list = factory.SubFactory(ContactListFactory)
    contact = factory.SubFactory(ContactFactory)
    via = ListDeparture.Via.PREFERENCES_PAGE


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    reason = Suppression.Reason.HARD_BOUNCE
    source = Suppression.Source.SES


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template

    name = factory.Sequence(lambda n: f"template-{n}")
    subject = "Hello {{ contact.first_name }}"
    html_body = "<p>Hi {{ contact.first_name }}, your plan is {{ attributes.plan }}.</p>"
    text_body = ""


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    from_email = "News <news@campanile.test>"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    definition = factory.LazyFunction(lambda: {"match": "all", "rules": [{"field": "email", "op": "is_set"}]})


class SignupFormFactory(factory.django.DjangoModelFactory):
    """A double opt-in form on one new list, with a confirmation email that links to confirm."""

    class Meta:
        model = SignupForm
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Form {n}")
    slug = factory.Sequence(lambda n: f"form-{n}")
    title = "Join our newsletter"
    consent_text = "Yes, send me the newsletter. I can leave at any time."
    from_email = "News <news@campanile.test>"
    confirmation_template = factory.SubFactory(
        TemplateFactory,
        subject="Confirm, {{ contact.first_name }}",
        html_body='<p><a href="{{ confirm_url }}">Confirm</a> ({{ form_title }})</p>',
    )

    @factory.post_generation
    def lists(self, create, extracted, **kwargs):
        if create:
            self.lists.set(extracted if extracted is not None else [ContactListFactory()])


class CampaignStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignStep

    campaign = factory.SubFactory(CampaignFactory)
    order = 1
    template = factory.SubFactory(TemplateFactory)


class TransactionalMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TransactionalMessage

    api_key = factory.LazyFunction(lambda: api_key_create(name="factory")[0])
    unique_code = factory.Sequence(lambda n: f"code-{n}")
    fingerprint = "0" * 64
    accepted_status = StepExecution.Status.PENDING
    template = factory.SubFactory(TemplateFactory)
    contact = factory.SubFactory(ContactFactory)
    to_email = factory.SelfAttribute("contact.email")
    from_email = "App <app@campanile.test>"


class StepExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StepExecution

    step = factory.SubFactory(CampaignStepFactory)
    contact = factory.SubFactory(ContactFactory)
    email = factory.SelfAttribute("contact.email")


class TrackingEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingEvent

    type = TrackingEvent.Type.DELIVERY
    occurred_at = factory.LazyFunction(timezone.now)
    recipient = "person@example.com"
    event_id = factory.Sequence(lambda n: f"event-{n}")


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@campanile.test")
    is_staff = True
    password = factory.django.Password("a long password 42")


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    """A staff member's enrolled authenticator app (django-otp's TOTP device)."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(StaffUserFactory)
    name = "Authenticator app"
    confirmed = True


def sendable_campaign(*, contacts: int = 3, **campaign_fields) -> Campaign:
    """Build a one-step campaign with an audience of `contacts` subscribed contacts on one list."""
    step = CampaignStepFactory(campaign=CampaignFactory(**campaign_fields))
    audience = ContactListFactory()
    step.campaign.lists.add(audience)
    for _ in range(contacts):
        ListMembershipFactory(contact_list=audience)
    return step.campaign


def started_campaign(*, contacts: int = 3, **campaign_fields) -> Campaign:
    """Build a sendable campaign, schedule and dispatch it, and fan its step out: rows pending."""
    from campaigns import services as campaign_services
    from delivery import fan_out, services

    campaign = campaign_services.campaign_schedule(
        campaign=sendable_campaign(contacts=contacts, **campaign_fields)
    )
    services.campaign_dispatch(campaign=campaign)
    fan_out.step_fan_out(step=campaign.steps.get())
    campaign.refresh_from_db()
    return campaign


def campaign_rows(campaign: Campaign):
    """Return a campaign's ledger rows in the order they were made."""
    return StepExecution.objects.filter(step__campaign=campaign).order_by("pk")


def step_emails_seen(step: CampaignStep, n: int, *, opened: int = 0, clicked: int = 0) -> list[StepExecution]:
    """Build `n` emails of a step sent to gmail.com and reported delivered, the first `opened` opened
    (the pixel) and the next `clicked` clicked alone (counters: tracking.engagement.engagement_rebuild)."""
    at = timezone.now()
    rows = [
        StepExecutionFactory(step=step, status="sent", sent_at=at, email=f"s{step.order}-{k}@gmail.com")
        for k in range(n)
    ]
    for row in rows:
        TrackingEventFactory(step_execution=row, type="delivery", recipient=row.email, occurred_at=at)
    for row in rows[:opened]:
        TrackingEventFactory(step_execution=row, type="open", recipient=row.email, occurred_at=at)
    for row in rows[opened : opened + clicked]:
        TrackingEventFactory(step_execution=row, type="click", recipient=row.email, occurred_at=at)
    return rows
