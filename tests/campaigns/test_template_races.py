"""A template changing form (HTML or text only) while a campaign using it is scheduled: one waits
for the other, so no campaign is scheduled over a form its checklist never saw, and no sent
template changes form."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, transaction

from campaigns import services
from campaigns.exceptions import CampaignNotReady
from campaigns.models import Campaign, CampaignStep
from campaigns.rendering import template_validate
from tests.factories import CampaignStepFactory, sendable_campaign

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def _form_change_pending(campaign: Campaign):
    """Run the block while another request's change of the campaign's first template to text only
    is validated and not yet saved; it is saved as the block ends."""
    template = campaign.steps.get(order=1).template
    checked, release = threading.Event(), threading.Event()

    def change():
        with transaction.atomic():
            template.html_body = ""
            template.text_body = "Hello {{ unsubscribe_url }}"
            template_validate(template=template)
            checked.set()
            release.wait(10)
            template.save()
        connection.close()

    thread = threading.Thread(target=change)
    thread.start()
    checked.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def test_a_campaign_scheduled_during_its_templates_change_of_form_is_checked_against_the_new_form(
    postgres_only,
):
    campaign = sendable_campaign()
    # A second step that looks at opens: text-only mail before it cannot be scheduled.
    CampaignStepFactory(campaign=campaign, order=2, condition=CampaignStep.Condition.NOT_OPENED)
    done: dict = {}

    def schedule():
        try:
            done["result"] = services.campaign_schedule(campaign=campaign)
        except CampaignNotReady as exc:
            done["result"] = exc
        connection.close()

    scheduling = threading.Thread(target=schedule)
    with _form_change_pending(campaign):
        scheduling.start()
        time.sleep(0.5)
        waited = "result" not in done  # Scheduling waits for the change to be saved.
    scheduling.join(10)

    assert waited
    assert isinstance(done["result"], CampaignNotReady)  # It saw the text-only form.
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_pending_change_of_form_holds_the_campaigns_using_its_template_until_it_is_saved(postgres_only):
    campaign = sendable_campaign()

    with _form_change_pending(campaign):
        try:
            with transaction.atomic():  # What scheduling takes first: the campaign's row lock.
                Campaign.objects.select_for_update(nowait=True).get(pk=campaign.pk)
            held = False
        except DatabaseError:
            held = True

    assert held
