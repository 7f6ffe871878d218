import pytest
from django.urls import reverse

from campaigns.audience import contact_unsubscribe
from campaigns.models import Campaign
from delivery.models import StepExecution
from tests.factories import CampaignFactory, StepExecutionFactory

pytestmark = pytest.mark.django_db

Status = StepExecution.Status


def test_retry_failed_requeues_only_failed_rows_of_the_selected_campaigns(admin_client):
    failed = StepExecutionFactory(status=Status.FAILED, last_error="MessageRejected")
    campaign = failed.step.campaign
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    unknown = StepExecutionFactory(step=failed.step, status=Status.UNKNOWN)
    elsewhere = StepExecutionFactory(status=Status.FAILED)

    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "campaign_retry_failed_action", "_selected_action": [campaign.pk]},
        follow=True,
    )

    assert "1 failed recipients queued again" in response.content.decode()
    for row in (failed, unknown, elsewhere):
        row.refresh_from_db()
    assert (failed.status, unknown.status, elsewhere.status) == (
        Status.PENDING,
        Status.UNKNOWN,
        Status.FAILED,
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING  # A completed campaign reopens to send them.


def test_retry_failed_on_a_draft_says_why_not(admin_client):
    campaign = CampaignFactory()
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "campaign_retry_failed_action", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "there is nothing to retry" in response.content.decode()


def test_the_campaign_page_counts_each_steps_contacts_and_says_each_step_in_words(admin_client, ses):
    from datetime import timedelta

    from campaigns.models import Contact
    from delivery.selectors import campaign_step_progress
    from tests.delivery.test_drip import START, _drip, _emails, _run

    campaign = _drip(
        steps=[{"delay": timedelta(days=1)}, {"delay": timedelta(days=2), "condition": "clicked"}]
    )
    ada, _bob, _cy = _emails(campaign)
    _run(campaign, START)
    contact_unsubscribe(contact=Contact.objects.get(email=ada))
    _run(campaign, START + timedelta(days=1, minutes=1))

    progress = campaign_step_progress(campaign=campaign)
    assert [(row["waiting"], row["sent"], row["skipped"], row["exited"]) for row in progress] == [
        (0, 3, 0, 0),
        (0, 2, 0, 1),
        (2, 0, 0, 0),  # Two days after their step 2.
    ]
    assert progress[2]["summary"].startswith("Step 3: 2 days after the previous step, to those who clicked")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "Contacts per step" in page
    assert "1 day after the previous step" in page
