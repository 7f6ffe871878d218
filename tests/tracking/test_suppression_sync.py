"""Sync with SES's account-level suppression list, against botocore's Stubber: moto lacks these calls."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import boto3
import pytest
from botocore.stub import Stubber
from django.core.management import call_command

from campaigns.consent import ConsentActor
from campaigns.models import ConsentChange, Suppression, SuppressionRemoval
from campaigns.suppressions import suppression_add, suppression_remove
from tests.factories import SuppressionFactory
from tests.ses_standin.conftest import start_standin  # noqa: F401 - the fixture, used below
from tracking import ses_account, tasks

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
    assert out.getvalue().strip() == (
        "1 new suppressions from SES; 1 addresses put on SES's list; 0 taken off it."
    )


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


STAFF = ConsentActor(by=ConsentChange.By.STAFF, name="ada", via=ConsentChange.Via.ADMIN)


def _removed(email: str, reason: str) -> SuppressionRemoval:
    """Suppress the address for the reason, remove it here, and return the removal on record."""
    suppression = SuppressionFactory(email=email, reason=reason)
    suppression_remove(suppression=suppression, actor=STAFF, reason="Mailbox works again")
    return SuppressionRemoval.objects.filter(email=email).latest("removed_at")


def test_the_pull_leaves_out_an_address_removed_here_after_ses_listed_it(sesv2):
    removal = _removed("fixed@example.com", Suppression.Reason.COMPLAINT)
    later = _removed("again@example.com", Suppression.Reason.HARD_BOUNCE)
    listed = [
        {
            **_summary("Fixed@Example.com", "COMPLAINT"),
            "LastUpdateTime": removal.removed_at - timedelta(days=1),
        },
        # Listed by SES after its removal here: a new bounce, which holds.
        {**_summary("again@example.com"), "LastUpdateTime": later.removed_at + timedelta(minutes=1)},
    ]
    sesv2.add_response(
        "list_suppressed_destinations", {"SuppressedDestinationSummaries": listed}, {"PageSize": 1000}
    )

    assert ses_account.suppressions_pull_from_ses() == 1
    assert list(Suppression.objects.values_list("email", "reason")) == [
        ("again@example.com", Suppression.Reason.ACCOUNT_SUPPRESSION)
    ]


def test_the_delete_takes_off_only_ses_reasons_removed_here_that_nothing_holds_again(sesv2):
    since = datetime.now(UTC) - timedelta(hours=1)
    _removed("bounced@example.com", Suppression.Reason.HARD_BOUNCE)
    _removed("pulled@example.com", Suppression.Reason.ACCOUNT_SUPPRESSION)
    _removed("gone@example.com", Suppression.Reason.COMPLAINT)  # Taken off SES's list already.
    _removed("left@example.com", Suppression.Reason.UNSUBSCRIBE)  # Not SES's business.
    _removed("old@example.com", Suppression.Reason.COMPLAINT)
    SuppressionRemoval.objects.filter(email="old@example.com").update(removed_at=since - timedelta(hours=1))
    _removed("angry@example.com", Suppression.Reason.HARD_BOUNCE)
    suppression_add(
        email="angry@example.com", reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES
    )
    sesv2.add_response("delete_suppressed_destination", {}, {"EmailAddress": "bounced@example.com"})
    sesv2.add_client_error(
        "delete_suppressed_destination",
        service_error_code="NotFoundException",
        http_status_code=404,
        expected_params={"EmailAddress": "gone@example.com"},
    )
    sesv2.add_response("delete_suppressed_destination", {}, {"EmailAddress": "pulled@example.com"})

    assert ses_account.suppressions_delete_from_ses(since=since) == 2


@pytest.fixture
def ses_list(start_standin, settings):  # noqa: F811 - the fixture imported above
    """Point the sync at a running SES stand-in; return an SESv2 client to read its account list."""
    standin = start_standin()
    settings.AWS_ENDPOINT_URL = standin.endpoint
    settings.SES_SUPPRESSION_SYNC_SECONDS = 60
    return boto3.client("sesv2", region_name="us-east-1", endpoint_url=standin.endpoint)


def _on_ses_list(client) -> dict[str, str]:
    page = client.list_suppressed_destinations(PageSize=1000)
    return {item["EmailAddress"]: item["Reason"] for item in page["SuppressedDestinationSummaries"]}


@pytest.mark.parametrize("opted_out", [False, True], ids=["complaint", "complaint of one who opted out"])
def test_a_complaint_removed_here_is_taken_off_sess_list_and_stays_off_ours(ses_list, opted_out):
    complaint = SuppressionFactory(
        email="ada@example.com", reason=Suppression.Reason.COMPLAINT, opted_out=opted_out
    )
    tasks.suppressions_sync_ses()
    assert _on_ses_list(ses_list) == {"ada@example.com": "COMPLAINT"}

    suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")
    tasks.suppressions_sync_ses()
    tasks.suppressions_sync_ses()

    assert _on_ses_list(ses_list) == {}
    # Its owner's opt-out, if any, stays ours alone: SES's list has no word for it.
    held = list(Suppression.objects.values_list("email", "reason"))
    assert held == ([("ada@example.com", Suppression.Reason.UNSUBSCRIBE)] if opted_out else [])


def test_an_address_ses_suppresses_again_after_its_removal_here_is_pulled_and_stays_on_its_list(ses_list):
    complaint = SuppressionFactory(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)
    tasks.suppressions_sync_ses()
    suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")

    ses_list.put_suppressed_destination(EmailAddress="ada@example.com", Reason="BOUNCE")
    tasks.suppressions_sync_ses()

    assert _on_ses_list(ses_list) == {"ada@example.com": "BOUNCE"}
    held = list(Suppression.objects.values_list("email", "reason"))
    assert held == [("ada@example.com", Suppression.Reason.ACCOUNT_SUPPRESSION)]
