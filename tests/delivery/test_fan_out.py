"""Fan-out: one ledger row per (step, recipient), range by range, never twice."""

import time
import uuid

import pytest

from campaigns import services as campaign_services
from campaigns.models import CampaignStep, Contact
from delivery import fan_out, services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    SuppressionFactory,
    campaign_rows,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status


def test_fan_out_excludes_suppressed_and_unsubscribed_and_collapses_duplicates():
    campaign = sendable_campaign(contacts=2)
    audience = campaign.lists.get()
    second_list = audience.__class__.objects.create(name="Second")
    campaign.lists.add(second_list)
    twice = ContactFactory(email="twice@example.com")
    ListMembershipFactory(contact_list=audience, contact=twice)
    ListMembershipFactory(contact_list=second_list, contact=twice)
    ListMembershipFactory(contact_list=audience, contact=ContactFactory(status=Contact.Status.UNSUBSCRIBED))
    ListMembershipFactory(contact_list=audience, contact=ContactFactory(email="gone@example.com"))
    SuppressionFactory(email="gone@example.com")

    created = fan_out.step_fan_out(step=campaign.steps.get())

    rows = campaign_rows(campaign)
    assert created == 3
    assert rows.count() == 3
    assert rows.filter(email="twice@example.com").count() == 1
    assert not rows.filter(email="gone@example.com").exists()
    assert set(rows.values_list("status", flat=True)) == {Status.PENDING}


def test_fan_out_over_rows_made_another_way_adds_only_the_missing_ones():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    first = campaign.lists.get().contacts.order_by("pk").first()
    existing = StepExecutionFactory(step=step, contact=first, email=first.email, status=Status.SENT)

    assert fan_out.step_fan_out(step=step) == 3

    assert campaign_rows(campaign).filter(contact=first).get() == existing
    assert campaign_rows(campaign).filter(status=Status.PENDING).count() == 2


def test_fan_out_again_creates_no_duplicates():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    fan_out.step_fan_out(step=step)
    fan_out.step_fan_out(step=step)
    assert campaign_rows(campaign).count() == 3


def test_fan_out_goes_range_by_range_and_commits_each():
    campaign = sendable_campaign(contacts=5)
    step = campaign.steps.get()
    first_id = campaign.lists.get().contacts.order_by("pk").first().pk

    # Ranges are contact ids; start from just before the audience so two ids make a range.
    CampaignStep.objects.filter(pk=step.pk).update(fan_out_cursor=first_id - 1)
    assert fan_out.step_fan_out_chunk(step=step, size=2) is False
    step.refresh_from_db()
    assert (campaign_rows(campaign).count(), step.fan_out_cursor) == (2, first_id + 1)
    # A contact who arrives once the fan-out has begun is not in this send.
    ListMembershipFactory(contact_list=campaign.lists.get(), contact=ContactFactory())
    while not fan_out.step_fan_out_chunk(step=step, size=2):
        pass
    step.refresh_from_db()
    assert step.fanned_out_at is not None
    assert campaign_rows(campaign).count() == 5


@pytest.mark.parametrize("debug", [False, True])
def test_fan_out_tracking_ids_are_unique_time_ordered_uuid7(debug, settings):
    settings.DEBUG = debug  # Django then formats each statement for its query log.
    campaign = sendable_campaign(contacts=20)
    fan_out.step_fan_out(step=campaign.steps.get())
    ids = list(campaign_rows(campaign).values_list("tracking_id", flat=True))
    assert len(set(ids)) == 20
    assert {tracking_id.version for tracking_id in ids} == {7}
    assert {tracking_id.variant for tracking_id in ids} == {uuid.RFC_4122}
    milliseconds = [tracking_id.int >> 80 for tracking_id in ids]
    assert abs(milliseconds[0] / 1000 - time.time()) < 60


def test_a_send_task_out_of_time_mid_fan_out_resumes_it_next_time(ses, monkeypatch):
    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=3))
    services.campaign_dispatch(campaign=campaign)
    step = campaign.steps.get()
    CampaignStep.objects.filter(pk=step.pk).update(
        fan_out_cursor=campaign.lists.get().contacts.order_by("pk")[0].pk - 1
    )
    chunk = fan_out.step_fan_out_chunk
    monkeypatch.setattr(services, "step_fan_out_chunk", lambda step: chunk(step=step, size=1))

    assert services.campaign_send(campaign=campaign, budget_seconds=0) is True  # One range, no time left.
    assert sent_messages() == []
    assert services.campaign_send(campaign=campaign, budget_seconds=30) is False
    assert len(sent_messages()) == 3


def test_fan_out_again_reports_the_rows_the_step_has():
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    assert fan_out.step_fan_out(step=step) == 3
    assert fan_out.step_fan_out(step=step) == 3
