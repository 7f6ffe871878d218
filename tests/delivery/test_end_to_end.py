"""A campaign from "scheduled" to mail in the stand-in, through beat's tick, the broker and a worker."""

import email

import pytest
from celery.contrib.testing.worker import start_worker
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from campaigns import services as campaign_services
from campaigns.models import Campaign
from config.celery import app as celery_app
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import ContactFactory, ListMembershipFactory, sendable_campaign
from tests.utils import wait_until

TICK_TASK = "delivery.tasks.campaigns_dispatch_due"


def _status(campaign: Campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


@pytest.mark.django_db(transaction=True)
def test_scheduled_campaign_is_sent_by_beat_tick_and_worker(ses):
    campaign = sendable_campaign(contacts=0)
    audience = campaign.lists.get()
    people = [
        ContactFactory(email="ada@example.com", first_name="Ada", attributes={"plan": "pro"}),
        ContactFactory(email="grace@example.com", first_name="Grace", attributes={"plan": "team"}),
        ContactFactory(email="alan@example.com", first_name="Alan", attributes={"plan": "free"}),
    ]
    for person in people:
        ListMembershipFactory(contact_list=audience, contact=person)
    campaign_services.campaign_schedule(campaign=campaign)

    # Beat's own scheduler installs the tick from settings into django-celery-beat's table.
    scheduler = DatabaseScheduler(app=celery_app)
    tick = PeriodicTask.objects.get(task=TICK_TASK)
    assert tick.enabled

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        with celery_app.producer_or_acquire() as producer:
            scheduler.apply_async(scheduler.schedule[tick.name], producer=producer)
        finished = wait_until(lambda: _status(campaign) == Campaign.Status.COMPLETED, 30)

    assert finished, "the campaign did not complete within 30 s"
    rows = {r.email: r for r in StepExecution.objects.filter(step__campaign=campaign)}
    assert {r.status for r in rows.values()} == {StepExecution.Status.SENT}
    assert all(r.ses_message_id for r in rows.values())
    messages = sent_messages()
    assert len(messages) == 3
    for message in messages:
        # moto lists the SendRawEmail destination and again the To header: one address either way.
        (recipient,) = set(message.destinations)
        person = next(p for p in people if p.email == recipient)
        mime = email.message_from_string(message.raw_data)
        assert mime["Subject"] == f"Hello {person.first_name}"
        html = next(part for part in mime.walk() if part.get_content_type() == "text/html")
        assert f"your plan is {person.attributes['plan']}" in html.get_payload(decode=True).decode()
        assert message.id == rows[recipient].ses_message_id
