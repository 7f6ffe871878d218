import pytest
from django.urls import reverse

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
