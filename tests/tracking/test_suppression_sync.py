"""Sync with SES's account-level suppression list, against botocore's Stubber: moto lacks these calls."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import boto3
import pytest
from botocore.stub import Stubber
from django.core.management import call_command

from campaigns.models import Suppression
from tests.factories import SuppressionFactory
from tracking import ses_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def sesv2(monkeypatch, aws_credentials):
    client = boto3.client("sesv2", region_name="us-east-1")
    monkeypatch.setattr(ses_account, "sesv2_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _summary(email, reason="BOUNCE"):
    return {"EmailAddress": email, "Reason": reason, "LastUpdateTime": datetime(2026, 11, 1, tzinfo=UTC)}


def test_pull_follows_every_page_and_adds_only_new_addresses(sesv2):
    SuppressionFactory(email="known@example.com", reason=Suppression.Reason.COMPLAINT)
    since = datetime(2026, 11, 20, tzinfo=UTC)
    sesv2.add_response(
        "list_suppressed_destinations",
        {
            "SuppressedDestinationSummaries": [_summary("known@example.com"), _summary("A@Example.com")],
            "NextToken": "p2",
        },
        {"PageSize": 1000, "StartDate": since},
    )
    sesv2.add_response(
        "list_suppressed_destinations",
        {"SuppressedDestinationSummaries": [_summary("b@example.com", "COMPLAINT")]},
        {"PageSize": 1000, "StartDate": since, "NextToken": "p2"},
    )
    assert ses_account.suppressions_pull_from_ses(since=since) == 2
    reasons = dict(Suppression.objects.values_list("email", "reason"))
    assert reasons == {
        "known@example.com": Suppression.Reason.COMPLAINT,  # The first reason is kept.
        "a@example.com": Suppression.Reason.ACCOUNT_SUPPRESSION,
        "b@example.com": Suppression.Reason.ACCOUNT_SUPPRESSION,
    }


def test_push_puts_hard_bounces_and_complaints_within_the_window(sesv2):
    old = SuppressionFactory(email="old@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    Suppression.objects.filter(pk=old.pk).update(created_at=datetime.now(UTC) - timedelta(days=3))
    SuppressionFactory(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    SuppressionFactory(email="angry@example.com", reason=Suppression.Reason.COMPLAINT)
    SuppressionFactory(email="left@example.com", reason=Suppression.Reason.UNSUBSCRIBE)  # Not SES's business.
    for email, reason in (("bounced@example.com", "BOUNCE"), ("angry@example.com", "COMPLAINT")):
        sesv2.add_response("put_suppressed_destination", {}, {"EmailAddress": email, "Reason": reason})
    assert ses_account.suppressions_push_to_ses(since=datetime.now(UTC) - timedelta(days=1)) == 2


def test_the_command_syncs_everything_both_ways(sesv2):
    SuppressionFactory(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    sesv2.add_response(
        "list_suppressed_destinations",
        {"SuppressedDestinationSummaries": [_summary("ses@example.com")]},
        {"PageSize": 1000},
    )
    sesv2.add_response(
        "put_suppressed_destination", {}, {"EmailAddress": "bounced@example.com", "Reason": "BOUNCE"}
    )
    out = StringIO()
    call_command("ses_suppressions_sync", stdout=out)
    assert out.getvalue().strip() == "1 new suppressions from SES; 1 addresses put on SES's list."


def test_a_complaint_that_replaced_an_old_unsubscribe_is_pushed_with_the_day_it_came(sesv2):
    from campaigns.suppressions import suppression_add

    kept = SuppressionFactory(email="left@example.com", reason=Suppression.Reason.UNSUBSCRIBE)
    Suppression.objects.filter(pk=kept.pk).update(created_at=datetime.now(UTC) - timedelta(days=3))
    suppression_add(
        email="left@example.com", reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES
    )
    sesv2.add_response(
        "put_suppressed_destination", {}, {"EmailAddress": "left@example.com", "Reason": "COMPLAINT"}
    )
    assert ses_account.suppressions_push_to_ses(since=datetime.now(UTC) - timedelta(hours=2)) == 1
