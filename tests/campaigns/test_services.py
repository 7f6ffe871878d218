from datetime import time

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import services
from campaigns.exceptions import CampaignNotReady, InvalidTransition
from campaigns.models import Campaign, CampaignStep
from tests.factories import (
    CampaignFactory,
    CampaignStepFactory,
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
    assert "it has no audience" in message
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
        ({}, {"condition": "not_opened"}, {"track_opens": False}, "step 2 looks at opens, but"),
        ({}, {"condition": "clicked"}, {"track_clicks": False}, "step 2 looks at clicks, but"),
        ({}, {}, {"track_clicks": False, "goal_url": "https://shop.example/paid"}, "does not track clicks"),
    ],
)
def test_schedule_refuses_drips_that_cannot_work_as_set(first, second, campaign_fields, problem):
    campaign = sendable_campaign(**campaign_fields)
    Campaign.objects.filter(pk=campaign.pk).update(**campaign_fields)
    campaign.steps.update(**first)
    CampaignStepFactory(campaign=campaign, order=2, **second)
    with pytest.raises(CampaignNotReady, match=problem):
        services.campaign_schedule(campaign=Campaign.objects.get(pk=campaign.pk))


@pytest.mark.parametrize("no_html", ["", " \n "])  # Blanks alone, stored before they were refused.
def test_schedule_refuses_a_condition_on_opens_of_emails_that_are_text_alone(no_html):
    from campaigns.models import Template

    campaign = sendable_campaign()
    first = campaign.steps.get()
    Template.objects.filter(pk=first.template.pk).update(html_body=no_html, text_body="Hi")
    CampaignStepFactory(campaign=campaign, order=2, condition="not_opened")

    with pytest.raises(CampaignNotReady, match="text alone, with no HTML to carry the open pixel"):
        services.campaign_check_ready(campaign=campaign)


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


def test_two_steps_keep_their_order_unique():
    step = CampaignStepFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignStepFactory(campaign=step.campaign, order=1)


@pytest.mark.django_db(transaction=True)
def test_an_edit_landing_while_a_campaign_is_scheduled_is_checked_before_it_goes(postgres_only):
    import threading

    from django.db import connection

    campaign = sendable_campaign(contacts=1)
    locked = threading.Event()

    def empty_it():
        try:
            with transaction.atomic():
                row = Campaign.objects.select_for_update().get(pk=campaign.pk)
                locked.set()
                threading.Event().wait(1)  # The schedule asks for the row meanwhile.
                services.campaign_update(campaign=row, steps=[], lists=[])
        finally:
            connection.close()

    worker = threading.Thread(target=empty_it)
    worker.start()
    assert locked.wait(10)
    with pytest.raises(CampaignNotReady):
        services.campaign_schedule(campaign=campaign)
    worker.join()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
