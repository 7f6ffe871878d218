"""The stand-in answers the SES calls boto3 makes the way SES does, errors included."""

import json
from email.message import EmailMessage

import boto3
import pytest
from botocore.exceptions import ClientError

SENDER = "news@campanile.test"


def _raw(to: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"News <{SENDER}>", to, "Hello"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello")
    return message.as_bytes()


def _ses(standin):
    return boto3.client("ses", region_name="us-east-1", endpoint_url=standin.endpoint)


def test_a_sender_must_be_verified_first_as_at_ses(start_standin):
    standin = start_standin("--verify-senders")
    ses = _ses(standin)
    with pytest.raises(ClientError) as refused:
        ses.send_raw_email(RawMessage={"Data": _raw("success@simulator.amazonses.com")})
    assert refused.value.response["Error"]["Code"] == "MessageRejected"
    assert "not verified" in refused.value.response["Error"]["Message"]

    ses.verify_domain_identity(Domain="campanile.test")
    sent = ses.send_raw_email(RawMessage={"Data": _raw("success@simulator.amazonses.com")})

    assert sent["MessageId"].endswith("-000000")
    assert "campanile.test" in ses.list_identities()["Identities"]
    assert (standin.stats()["accepted"], standin.stats()["rejected"]) == (1, 1)
    # Asked like SES: each verified identity with its status, the unknown ones left out.
    asked = ses.get_identity_verification_attributes(Identities=["campanile.test", "other.example"])
    assert asked["VerificationAttributes"] == {"campanile.test": {"VerificationStatus": "Success"}}


def test_verified_identities_survive_a_restart_of_the_stand_in(start_standin, tmp_path):
    first = start_standin("--verify-senders")
    _ses(first).verify_email_identity(EmailAddress=SENDER)
    first.process.kill()
    again = start_standin("--verify-senders", "--state", str(first.state))
    assert _ses(again).send_raw_email(RawMessage={"Data": _raw("a@example.com")})["MessageId"]


def test_quota_throttling_and_the_log_of_accepted_messages(start_standin, tmp_path):
    log = tmp_path / "accepted.jsonl"
    standin = start_standin("--max-send-rate", "42", "--log", str(log))
    ses = _ses(standin)
    assert ses.get_send_quota()["MaxSendRate"] == 42.0
    sent = ses.send_raw_email(
        RawMessage={"Data": _raw("a@example.com", X_SES_MESSAGE_TAGS="campanile_step_execution=abc")}
    )
    assert json.loads(log.read_text()) | {"at": 0} == {
        "at": 0,
        "id": sent["MessageId"],
        "to": "a@example.com",
        "tracking": "abc",
    }
    throttled = start_standin("--throttle", "1")
    with pytest.raises(ClientError) as refused:
        _ses(throttled).send_raw_email(RawMessage={"Data": _raw("a@example.com")})
    assert refused.value.response["Error"]["Code"] == "Throttling"


def test_each_accepted_message_can_be_read_from_its_mail_directory(start_standin, tmp_path):
    mail = tmp_path / "mail"
    standin = start_standin("--mail-dir", str(mail))

    sent = _ses(standin).send_raw_email(RawMessage={"Data": _raw("ada@example.com")})

    kept = (mail / f"{sent['MessageId']}.eml").read_bytes()
    assert b"To: ada@example.com" in kept
    assert b"Hello" in kept


def test_the_account_suppression_list_pages_like_sesv2(start_standin):
    standin = start_standin()
    sesv2 = boto3.client("sesv2", region_name="us-east-1", endpoint_url=standin.endpoint)
    for n in range(3):
        sesv2.put_suppressed_destination(EmailAddress=f"Gone{n}@Example.com", Reason="BOUNCE")

    first = sesv2.list_suppressed_destinations(PageSize=2)
    rest = sesv2.list_suppressed_destinations(PageSize=2, NextToken=first["NextToken"])

    listed = [item["EmailAddress"] for item in first["SuppressedDestinationSummaries"]]
    listed += [item["EmailAddress"] for item in rest["SuppressedDestinationSummaries"]]
    assert listed == ["gone0@example.com", "gone1@example.com", "gone2@example.com"]
    assert "NextToken" not in rest
    assert sesv2.get_account()["SendQuota"]["MaxSendRate"] == 14.0


def test_it_says_send_events_are_published_only_when_it_publishes_events(start_standin, settings, db):
    from tracking import unknown_rows

    quiet = start_standin()
    talking = start_standin("--events-to", "http://127.0.0.1:9/webhooks/ses/")
    for standin, published in ((quiet, False), (talking, True)):
        settings.AWS_ENDPOINT_URL = standin.endpoint
        check = unknown_rows.send_events_check(name=f"set-{published}")
        assert check.published is published, check.detail
