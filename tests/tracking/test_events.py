"""SES records, as AWS documents them, become one normalized event per recipient."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracking.events import EventFormatError, SesEvent, ses_events_from_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"

DOC_MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
ACCOUNT = "123456789012"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/60.0.3112.90 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X) AppleWebKit/603.3.8 "
    "(KHTML, like Gecko) Mobile/14G60"
)
_DROP = object()


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _edited(name: str, path: str, value=_DROP) -> dict:
    """Return a fixture with the dotted path (list indexes as numbers) set to value, or removed."""
    record = _fixture(name)
    *parents, last = path.split(".")
    target = record
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key = int(last) if isinstance(target, list) else last
    if value is _DROP:
        del target[key]
    else:
        target[key] = value
    return record


def _at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


FIXTURE_CASES = [
    pytest.param(
        "event-send.json",
        [
            SesEvent(
                type="send",
                recipient="recipient@example.com",
                occurred_at=_at(2016, 10, 14, 5, 2, 16, 645000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
            )
        ],
        id="event-send",
    ),
    pytest.param(
        "event-delivery.json",
        [
            SesEvent(
                type="delivery",
                recipient="recipient@example.com",
                occurred_at=_at(2016, 10, 19, 23, 21, 4, 133000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                diagnostic="250 2.6.0 Message received",
                detail={"processingTimeMillis": 11893, "reportingMTA": "mta.example.com"},
            )
        ],
        id="event-delivery",
    ),
    pytest.param(
        "event-bounce-permanent.json",
        [
            SesEvent(
                type="bounce",
                recipient="recipient@example.com",
                occurred_at=_at(2017, 8, 5, 0, 41, 2, 669000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                bounce_type="Permanent",
                bounce_subtype="General",
                status="5.1.1",
                diagnostic="smtp; 550 5.1.1 user unknown",
                detail={
                    "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                    "reportingMTA": "dsn; mta.example.com",
                    "action": "failed",
                },
            )
        ],
        id="event-bounce-permanent",
    ),
    pytest.param(
        "event-complaint.json",
        [
            SesEvent(
                type="complaint",
                recipient="recipient@example.com",
                occurred_at=_at(2017, 8, 5, 0, 41, 2, 669000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                complaint_type="abuse",
                # The reporting ISP's agent, not a reader's: it stays out of user_agent.
                detail={
                    "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                    "arrivalDate": "2017-08-05T00:41:02.669Z",
                    "userAgent": BROWSER,
                },
            )
        ],
        id="event-complaint",
    ),
    pytest.param(
        "event-open.json",
        [
            SesEvent(
                type="open",
                recipient="recipient@example.com",
                occurred_at=_at(2017, 8, 9, 22, 0, 19, 652000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                user_agent=IPHONE,
                ip_address="192.0.2.1",
            )
        ],
        id="event-open",
    ),
    pytest.param(
        "event-click.json",
        [
            SesEvent(
                type="click",
                recipient="recipient@example.com",
                occurred_at=_at(2017, 8, 9, 23, 51, 25, 570000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                link="http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
                user_agent=BROWSER,
                ip_address="192.0.2.1",
                detail={"linkTags": {"samplekey0": ["samplevalue0"], "samplekey1": ["samplevalue1"]}},
            )
        ],
        id="event-click",
    ),
    pytest.param(
        "event-reject.json",
        [
            SesEvent(
                type="reject",
                # AWS's sample addresses this one to the sender in mail.destination (the To header
                # differs); the destination is what SES acted on.
                recipient="sender@example.com",
                occurred_at=_at(2016, 10, 14, 17, 38, 15, 211000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                detail={"reason": "Bad content"},
            )
        ],
        id="event-reject",
    ),
    pytest.param(
        "event-rendering-failure.json",
        [
            SesEvent(
                type="rendering_failure",
                recipient="recipient@example.com",
                occurred_at=_at(2018, 1, 22, 18, 43, 6, 197000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                detail={
                    "errorMessage": "Attribute 'attributeName' is not present in the rendering data.",
                    "templateName": "MyTemplate",
                },
            )
        ],
        id="event-rendering-failure",
    ),
    pytest.param(
        "event-delivery-delay.json",
        [
            SesEvent(
                type="delivery_delay",
                recipient="recipient@example.com",
                occurred_at=_at(2020, 6, 16, 0, 25, 40, 95000),
                ses_message_id=DOC_MESSAGE_ID,
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                status="4.4.1",
                diagnostic="smtp; 421 4.4.1 Unable to connect to remote host",
                detail={
                    "delayType": "TransientCommunicationFailure",
                    "expirationTime": "2020-06-16T00:25:40.914Z",
                },
            )
        ],
        id="event-delivery-delay",
    ),
    pytest.param(
        "event-subscription.json",
        [
            SesEvent(
                type="subscription",
                recipient="recipient@example.com",
                occurred_at=_at(2022, 1, 12, 1, 0, 17, 910000),
                ses_message_id="EXAMPLEe4bccb684-777bc8de-afa7-4970-92b0-f515137b1497-000000",
                sending_account_id=ACCOUNT,
                configuration_set="ConfigSet",
                detail={
                    "contactList": "ContactListName",
                    "source": "UnsubscribeHeader",
                    "newTopicPreferences": {
                        "unsubscribeAll": True,
                        "topicSubscriptionStatus": [
                            {"topicName": "ExampleTopicName", "subscriptionStatus": "OptOut"}
                        ],
                    },
                    "oldTopicPreferences": {
                        "unsubscribeAll": False,
                        "topicSubscriptionStatus": [
                            {"topicName": "ExampleTopicName", "subscriptionStatus": "OptOut"}
                        ],
                    },
                },
            )
        ],
        id="event-subscription",
    ),
    pytest.param(
        "notification-bounce-permanent-no-dsn.json",
        [
            SesEvent(
                type="bounce",
                recipient=recipient,
                occurred_at=_at(2016, 1, 27, 14, 59, 38, 237000),
                ses_message_id="00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
                sending_account_id=ACCOUNT,
                bounce_type="Permanent",
                bounce_subtype="General",
                detail={
                    "feedbackId": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
                    "remoteMtaIp": "127.0.2.0",
                },
            )
            # mary@example.com is a destination too, but she did not bounce.
            for recipient in ["jane@example.com", "richard@example.com"]
        ],
        id="notification-bounce-permanent-no-dsn",
    ),
    pytest.param(
        "notification-complaint-no-feedback-report.json",
        [
            SesEvent(
                type="complaint",
                recipient="richard@example.com",
                occurred_at=_at(2016, 1, 27, 14, 59, 38, 237000),
                ses_message_id="0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000",
                sending_account_id=ACCOUNT,
                detail={"feedbackId": "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000"},
            )
        ],
        id="notification-complaint-no-feedback-report",
    ),
    pytest.param(
        "notification-delivery.json",
        [
            SesEvent(
                type="delivery",
                recipient="jane@example.com",
                occurred_at=_at(2016, 1, 27, 14, 59, 38, 237000),
                ses_message_id="0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
                sending_account_id=ACCOUNT,
                diagnostic="250 ok:  Message 64111812 accepted",
                detail={
                    "processingTimeMillis": 546,
                    "reportingMTA": "a8-70.smtp-out.amazonses.com",
                    "remoteMtaIp": "127.0.2.0",
                },
            )
        ],
        id="notification-delivery",
    ),
]


@pytest.mark.parametrize(("name", "expected"), FIXTURE_CASES)
def test_fixture_becomes_one_event_per_recipient(name, expected):
    events = ses_events_from_record(_fixture(name))

    assert events == expected
    assert all(event.occurred_at.utcoffset() == timedelta(0) for event in events)


def test_every_recorded_event_and_notification_is_covered():
    names = {
        path.name for pattern in ("event-*.json", "notification-*.json") for path in FIXTURES.glob(pattern)
    }

    assert names == {case.values[0] for case in FIXTURE_CASES}


def test_bounce_yields_only_the_bounced_recipients_not_every_destination():
    record = _fixture("event-bounce-permanent.json")
    record["mail"]["destination"] = [f"r{n}@example.com" for n in range(1, 6)]
    record["bounce"]["bouncedRecipients"] = [
        {
            "emailAddress": "r2@example.com",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        },
        {"emailAddress": "r4@example.com", "status": "5.2.1", "diagnosticCode": "smtp; 550 5.2.1 disabled"},
        {"emailAddress": "r5@example.com", "status": "5.1.10", "diagnosticCode": "smtp; 550 5.1.10 null MX"},
    ]

    events = ses_events_from_record(record)

    assert [(e.recipient, e.status, e.diagnostic) for e in events] == [
        ("r2@example.com", "5.1.1", "smtp; 550 5.1.1 user unknown"),
        ("r4@example.com", "5.2.1", "smtp; 550 5.2.1 disabled"),
        ("r5@example.com", "5.1.10", "smtp; 550 5.1.10 null MX"),
    ]


def test_transient_bounce_with_permanent_status_is_reported_as_ses_said():
    record = _fixture("event-bounce-permanent.json")
    record["bounce"]["bounceType"] = "Transient"
    record["bounce"]["bounceSubType"] = "MailboxFull"

    [event] = ses_events_from_record(record)

    assert (event.bounce_type, event.bounce_subtype, event.status) == ("Transient", "MailboxFull", "5.1.1")


@pytest.mark.parametrize(
    ("tags", "tracking_id"),
    [
        pytest.param(
            {"campanile_step_execution": ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]},
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            id="tagged",
        ),
        pytest.param({"campanile_step_execution": []}, "", id="empty-tag"),
        pytest.param({}, "", id="untagged"),
    ],
)
def test_tracking_id_comes_from_the_step_execution_tag(tags, tracking_id):
    record = _fixture("event-delivery.json")
    record["mail"]["tags"].update(tags)

    [event] = ses_events_from_record(record)

    assert event.tracking_id == tracking_id
    assert event.configuration_set == "ConfigSet"


def test_destination_addresses_are_bare_lower_case_and_unique():
    record = _fixture("event-send.json")
    record["mail"]["destination"] = [" Ada Lovelace <Ada@Example.COM> ", "BOB@example.com", "ada@example.com"]

    events = ses_events_from_record(record)

    assert [event.recipient for event in events] == ["ada@example.com", "bob@example.com"]


def test_a_recipient_listed_twice_keeps_its_first_entry():
    record = _fixture("event-bounce-permanent.json")
    first = record["bounce"]["bouncedRecipients"][0]
    record["bounce"]["bouncedRecipients"].append(
        {**first, "emailAddress": "Recipient@Example.com", "status": "5.0.0"}
    )

    [event] = ses_events_from_record(record)

    assert (event.recipient, event.status) == ("recipient@example.com", "5.1.1")


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(_edited("event-bounce-permanent.json", "bounce.bouncedRecipients", []), id="bounce"),
        pytest.param(_edited("event-click.json", "mail.destination", []), id="click"),
        pytest.param(_edited("notification-delivery.json", "delivery.recipients", []), id="delivery"),
    ],
)
def test_empty_recipient_list_yields_no_events(record):
    assert ses_events_from_record(record) == []


def test_camel_case_rendering_failure_is_accepted():
    record = _fixture("event-rendering-failure.json")
    record["eventType"] = "RenderingFailure"
    record["renderingFailure"] = record.pop("failure")

    [event] = ses_events_from_record(record)

    assert event.type == "rendering_failure"
    assert event.detail["templateName"] == "MyTemplate"


def test_offset_timestamp_is_converted_to_utc():
    record = _edited("event-open.json", "open.timestamp", "2017-08-10T00:00:19.652+02:00")

    [event] = ses_events_from_record(record)

    assert event.occurred_at == _at(2017, 8, 9, 22, 0, 19, 652000)
    assert event.occurred_at.tzinfo == UTC


def test_events_do_not_share_the_record_objects():
    record = _fixture("event-click.json")
    record["mail"]["destination"].append("other@example.com")

    first, second = ses_events_from_record(record)
    record["click"]["linkTags"]["samplekey0"].append("changed")
    first.detail["linkTags"]["samplekey1"].append("changed")

    assert second.detail["linkTags"] == {"samplekey0": ["samplevalue0"], "samplekey1": ["samplevalue1"]}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(["not", "a", "dict"], "is a list, not a JSON object", id="list"),
        pytest.param(None, "is a NoneType, not a JSON object", id="none"),
        pytest.param(
            json.dumps(_fixture("event-send.json")), "is a str, not a JSON object", id="unparsed-json"
        ),
        pytest.param(
            _edited("event-send.json", "eventType"), "neither eventType nor notificationType", id="no-type"
        ),
        pytest.param(
            _edited("event-send.json", "eventType", "Teleport"), "eventType 'Teleport'", id="unknown-event"
        ),
        pytest.param(
            _edited("notification-delivery.json", "notificationType", "Received"),
            "notificationType 'Received'",
            id="received-notification",
        ),
        pytest.param(
            _edited("notification-delivery.json", "notificationType", "Open"),
            "notificationType 'Open'",
            id="open-is-not-a-notification",
        ),
        pytest.param(_edited("event-send.json", "mail"), "no mail object", id="no-mail"),
        pytest.param(_edited("event-send.json", "mail", "mail"), "no mail object", id="mail-not-object"),
        pytest.param(_edited("event-open.json", "mail.messageId"), "no mail.messageId", id="no-message-id"),
        pytest.param(
            _edited("event-open.json", "mail.messageId", ""), "no mail.messageId", id="empty-message-id"
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce"), "no bounce object", id="no-bounce-object"
        ),
        pytest.param(_edited("event-send.json", "send"), "no send object", id="no-send-object"),
        pytest.param(
            _edited("event-rendering-failure.json", "failure"),
            "no renderingFailure or failure object",
            id="no-failure-object",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce", []), "bounce is not an object", id="bounce-list"
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.bouncedRecipients"),
            "bounce.bouncedRecipients is missing or not a list",
            id="no-bounced-recipients",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.bouncedRecipients", "recipient@example.com"),
            "bounce.bouncedRecipients is missing or not a list",
            id="bounced-recipients-string",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.bouncedRecipients.0.emailAddress"),
            "bounce.bouncedRecipients has an entry without emailAddress",
            id="bounced-entry-without-address",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.bouncedRecipients.0", "recipient@example.com"),
            "bounce.bouncedRecipients has an entry without emailAddress",
            id="bounced-entry-string",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.bouncedRecipients.0.emailAddress", "nobody"),
            "not an email address: 'nobody'",
            id="bounced-entry-not-an-address",
        ),
        pytest.param(
            _edited("event-complaint.json", "complaint.complainedRecipients"),
            "complaint.complainedRecipients is missing or not a list",
            id="no-complained-recipients",
        ),
        pytest.param(
            _edited("event-delivery-delay.json", "deliveryDelay.delayedRecipients", {}),
            "deliveryDelay.delayedRecipients is missing or not a list",
            id="delayed-recipients-object",
        ),
        pytest.param(
            _edited("notification-delivery.json", "delivery.recipients", "jane@example.com"),
            "delivery.recipients is missing or not a list",
            id="delivery-recipients-string",
        ),
        pytest.param(
            _edited("event-open.json", "mail.destination"),
            "mail.destination is missing or not a list",
            id="no-destination",
        ),
        pytest.param(
            _edited("event-send.json", "mail.destination", [42]),
            "mail.destination has an address that is not a string: 42",
            id="destination-number",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.timestamp", "yesterday"),
            "bounce.timestamp 'yesterday' is not an ISO 8601 timestamp",
            id="bad-timestamp",
        ),
        pytest.param(
            _edited("event-bounce-permanent.json", "bounce.timestamp", "2017-08-05T00:41:02.669"),
            "has no time zone",
            id="naive-timestamp",
        ),
        pytest.param(
            _edited("event-open.json", "open.timestamp"), "open.timestamp is missing", id="no-open-timestamp"
        ),
        pytest.param(
            _edited("event-send.json", "mail.timestamp", 1476421336),
            "mail.timestamp is missing or not a string",
            id="numeric-mail-timestamp",
        ),
        pytest.param(
            _edited("event-send.json", "mail.tags", ["ConfigSet"]),
            "mail.tags is not an object",
            id="tags-list",
        ),
    ],
)
def test_malformed_record_is_refused(record, message):
    with pytest.raises(EventFormatError, match=re.escape(message)):
        ses_events_from_record(record)


def test_a_bounced_address_is_read_in_the_form_contacts_and_suppressions_are_stored_in():
    record = _fixture("event-bounce-permanent.json")
    record["bounce"]["bouncedRecipients"][0]["emailAddress"] = "Info@Bücher.DE"

    [event] = ses_events_from_record(record)

    # The contact was stored as info@xn--bcher-kva.de: the bounce's suppression must match it.
    assert event.recipient == "info@xn--bcher-kva.de"
