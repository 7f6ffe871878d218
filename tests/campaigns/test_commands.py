from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from campaigns.models import Campaign, Contact
from delivery import services as delivery_services
from delivery.models import StepExecution

pytestmark = pytest.mark.django_db


def test_demo_creates_login_audience_and_a_campaign_due_now():
    out = StringIO()
    call_command("demo", stdout=out)

    assert "admin / campanile" in out.getvalue()
    assert get_user_model().objects.get(username="admin").is_superuser
    assert Contact.objects.filter(email__endswith="@simulator.amazonses.com").count() == 51
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.SCHEDULED
    # The unsubscribed and the suppressed contacts stay out of the ledger.
    assert delivery_services.delivery_tick() == [campaign.pk]
    assert delivery_services.step_fan_out(step=campaign.steps.get()) == 49
    assert not StepExecution.objects.filter(
        email__in=["success+unsubscribed@simulator.amazonses.com"]
    ).exists()


def test_demo_runs_again_without_duplicating_the_audience():
    call_command("demo", stdout=StringIO())
    call_command("demo", stdout=StringIO())
    assert Contact.objects.count() == 51
    assert Campaign.objects.count() == 2
    assert get_user_model().objects.count() == 1
