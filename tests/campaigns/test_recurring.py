"""Recurring campaigns: a crontab entry in django-celery-beat, each firing a new run."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask

from campaigns import services, tasks
from campaigns.models import Campaign, Contact
from campaigns.selectors import campaign_audience
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import CampaignStepFactory, ListMembershipFactory, SegmentFactory, sendable_campaign

pytestmark = pytest.mark.django_db

MONDAY_9 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _fire_and_send(campaign: Campaign, at: datetime) -> None:
    """Do what beat's entry, the tick and the send task do at `at`."""
    with time_machine.travel(at, tick=False):
        tasks.campaign_recur(campaign.pk)
        for campaign_id in delivery_services.delivery_tick():
            delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=10)


def test_a_recurring_campaign_fires_on_its_schedule_each_run_to_the_audience_of_the_moment(ses):
    campaign = sendable_campaign(contacts=2, recurrence="0 9 * * 1", timezone="Europe/Paris")
    with time_machine.travel(MONDAY_9 - timedelta(days=1), tick=False):
        services.campaign_schedule(campaign=campaign)
    entry = PeriodicTask.objects.get(task=services.RECUR_TASK)
    assert (entry.enabled, json.loads(entry.kwargs)) == (True, {"campaign_id": campaign.pk})
    crontab = entry.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, str(crontab.timezone)) == (
        "0",
        "9",
        "1",
        "Europe/Paris",
    )
    with time_machine.travel(MONDAY_9 - timedelta(days=1), tick=False):
        assert delivery_services.delivery_tick() == []  # The recurring campaign never sends itself.

    _fire_and_send(campaign, MONDAY_9)
    _fire_and_send(campaign, MONDAY_9 + timedelta(seconds=20))  # Beat's message delivered twice.
    ListMembershipFactory(contact_list=campaign.lists.get())  # Someone joins during the week.
    _fire_and_send(campaign, MONDAY_9 + timedelta(days=7))

    first, second = Campaign.objects.filter(parent=campaign).order_by("scheduled_at")
    assert first.name.endswith("2027-03-01 09:00")
    assert StepExecution.objects.filter(step__campaign=first, status="sent").count() == 2
    assert StepExecution.objects.filter(step__campaign=second, status="sent").count() == 3
    assert len(sent_messages()) == 5
    assert (first.status, second.status) == ("completed", "completed")
    assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"  # It goes on recurring.


def test_pausing_a_recurring_campaign_pauses_its_schedule_and_cancelling_removes_it(ses):
    campaign = sendable_campaign(contacts=1, recurrence="30 8 * * *")
    CampaignStepFactory(campaign=campaign, order=2, delay=timedelta(days=1))
    services.campaign_schedule(campaign=campaign)
    services.campaign_pause(campaign=campaign)
    assert PeriodicTask.objects.get(task=services.RECUR_TASK).enabled is False
    assert services.campaign_run_create(campaign=campaign) is None  # A firing already on its way.

    services.campaign_resume(campaign=campaign)
    assert PeriodicTask.objects.get(task=services.RECUR_TASK).enabled is True
    run = services.campaign_run_create(campaign=campaign)
    assert list(run.steps.order_by("order").values_list("order", "delay")) == [
        (1, timedelta(0)),
        (2, timedelta(days=1)),
    ]
    services.campaign_cancel(campaign=campaign)
    assert not PeriodicTask.objects.filter(task=services.RECUR_TASK).exists()


def test_each_run_of_a_recurring_campaign_mails_its_segments_as_the_campaign_would():
    campaign = sendable_campaign(contacts=3, recurrence="30 8 * * *")
    pro = SegmentFactory(
        definition={"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}
    )
    campaign.segments.add(pro)
    first = Contact.objects.filter(lists__campaigns=campaign).order_by("pk").first()
    Contact.objects.filter(pk=first.pk).update(attributes={"plan": "pro"})
    services.campaign_schedule(campaign=campaign)

    run = services.campaign_run_create(campaign=campaign)

    assert list(run.segments.all()) == [pro]
    assert list(run.lists.all()) == list(campaign.lists.all())
    assert len(campaign_audience(campaign=run)) == 1  # The list's one pro customer, not all three.


def test_a_schedule_must_be_five_crontab_fields():
    from django.core.exceptions import ValidationError

    from campaigns.models import validate_crontab

    validate_crontab("0 9 * * 1-5")
    for wrong in ("0 9 * *", "61 9 * * *", "every monday"):
        with pytest.raises(ValidationError, match="crontab"):
            validate_crontab(wrong)
