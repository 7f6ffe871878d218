"""The mailbox simulator's outcomes, and records the app's own normalizer reads as SES's."""

from email.message import EmailMessage

import pytest

from ses_standin import mailbox
from tracking.events import ses_events_from_record


@pytest.mark.parametrize(
    ("address", "outcome"),
    [
        ("success@simulator.amazonses.com", mailbox.DELIVERED),
        ("success+news17@simulator.amazonses.com", mailbox.DELIVERED),
        ("Bounce+x@Simulator.AmazonSES.com", mailbox.BOUNCED),
        ("complaint+x@simulator.amazonses.com", mailbox.COMPLAINED),
        ("ooto+x@simulator.amazonses.com", mailbox.AUTO_REPLY),
        ("suppressionlist+x@simulator.amazonses.com", mailbox.ON_SUPPRESSION_LIST),
        ("bounce@example.com", mailbox.DELIVERED),  # Only the simulator's domain simulates.
    ],
)
def test_each_simulator_address_has_its_outcome(address, outcome):
    assert mailbox.outcome_for(address) == outcome


def test_an_address_on_the_account_suppression_list_bounces_whatever_it_is():
    assert mailbox.outcome_for("a@example.com", account_suppressed=True) == mailbox.ON_SUPPRESSION_LIST


def _accepted(to: str) -> mailbox.Accepted:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "News <news@campanile.test>", to, "Hi"
    message["X-SES-CONFIGURATION-SET"] = "campanile-local"
    message["X-SES-MESSAGE-TAGS"] = "campanile_campaign=7, campanile_step_execution=0190abcd"
    return mailbox.Accepted.of(message, source="news@campanile.test", destinations=[to])


@pytest.mark.parametrize(
    ("kind", "types", "bounce_subtype"),
    [
        ("success", ["send", "delivery"], ""),
        ("complaint", ["send", "delivery", "complaint"], ""),
        ("bounce", ["send", "bounce"], "General"),
        ("suppressionlist", ["send", "bounce"], "OnAccountSuppressionList"),
    ],
)
def test_the_records_read_as_ses_events_with_our_tags(kind, types, bounce_subtype):
    to = f"{kind}+1@simulator.amazonses.com"
    accepted = _accepted(to)
    mail = accepted.mail_object(account_id="000000000000", region="us-east-1")
    records = mailbox.event_records(accepted, recipient=to, outcome=mailbox.outcome_for(to), mail=mail)

    events = [event for _delay, record in records for event in ses_events_from_record(record)]
    assert [event.type for event in events] == types
    assert [delay for delay, _record in records] == sorted(delay for delay, _record in records)
    assert {event.tracking_id for event in events} == {"0190abcd"}
    assert {event.configuration_set for event in events} == {"campanile-local"}
    assert {event.ses_message_id for event in events} == {accepted.message_id}
    assert all(header["name"].lower() != "x-ses-message-tags" for header in mail["headers"])  # SES strips it.
    bounces = [event for event in events if event.type == "bounce"]
    assert [event.bounce_subtype for event in bounces] == ([bounce_subtype] if bounce_subtype else [])
