"""The SES webhook through the test client: each way an SNS delivery is refused or trusted."""

import copy
import json
import logging
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.db import OperationalError
from moto import mock_aws

from campaigns.models import Suppression
from tests.tracking.sns_signing import (
    CERT_URL,
    REGION,
    TOPIC,
    confirmation,
    make_signer,
    notification,
    timestamp,
)
from tests.utils import metric_value
from tracking import inbox, sns, tasks
from tracking.exceptions import SnsCertificateUnavailable
from tracking.models import SnsMessage, TrackingEvent

pytestmark = pytest.mark.django_db

URL = "/webhooks/ses/"
SIGNER = make_signer()  # RSA key generation is slow: one for the whole module.
BOUNCE = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "gone@example.com", "status": "5.1.1", "action": "failed"}],
        "timestamp": "2026-11-22T10:00:00.000Z",
    },
    "mail": {
        "timestamp": "2026-11-22T09:59:59.000Z",
        "messageId": "0100018c-forged-or-not",
        "sendingAccountId": "123456789012",
        "destination": ["gone@example.com"],
    },
}


@pytest.fixture(autouse=True)
def trusted_topic(settings):
    settings.SES_SNS_TOPIC_ARNS = [TOPIC]
    # These records carry no Campanile tag and match no ledger row: apply them at once (waiting
    # for a row is tested with the events).
    settings.SES_EVENT_WAIT_SECONDS = 0
    settings.SNS_MIN_SIGNATURE_VERSION = 1
    settings.SNS_VERIFY_SIGNATURES = True
    sns.sns_certificates_forget()
    yield
    sns.sns_certificates_forget()


@pytest.fixture
def fetches(monkeypatch):
    """Stub AWS's certificate download (never the network); yield the URLs asked for."""
    asked = []

    def fetch(url):
        asked.append(url)
        return SIGNER.pem

    monkeypatch.setattr(sns, "sns_fetch_certificate", fetch)
    return asked


@pytest.fixture
def confirmations(monkeypatch, aws_credentials):
    """Run SNS ConfirmSubscription against moto; yield (region, parameters) of every call."""
    calls = []
    real_client = boto3.client

    def client(service, **kwargs):
        made = real_client(service, **kwargs)

        def record(params, **_):
            calls.append((kwargs["region_name"], dict(params)))

        made.meta.events.register("provide-client-params.sns.ConfirmSubscription", record)
        return made

    monkeypatch.setattr(inbox.boto3, "client", client)
    with mock_aws():
        real_client("sns", region_name=REGION).create_topic(Name=TOPIC.rsplit(":", 1)[1])
        yield calls


def post(client, data: dict | bytes, *, content_type="text/plain; charset=UTF-8", **headers):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    if isinstance(data, dict):
        headers.setdefault("x-amz-sns-message-type", data.get("Type", ""))
        headers.setdefault("x-amz-sns-message-id", data.get("MessageId", ""))
    return client.post(URL, data=body, content_type=content_type, headers=headers)


def apply_stored():
    """Do what the periodic sweep does: apply every stored, unapplied notification."""
    tasks.sns_messages_apply()


def assert_nothing_recorded():
    assert not SnsMessage.objects.exists()
    assert not TrackingEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_signed_notification_is_stored_and_answered_then_applied_by_the_tick(client, fetches):
    signed = SIGNER.sign(notification(BOUNCE))
    response = post(client, signed)
    assert response.status_code == 200
    stored = SnsMessage.objects.get()
    assert (stored.message_id, stored.applied_at) == (signed["MessageId"], None)
    assert not Suppression.objects.exists()  # Answered before anything was applied.
    tasks.sns_messages_apply()
    stored.refresh_from_db()
    assert stored.applied_at is not None
    assert Suppression.objects.get().email == "gone@example.com"
    assert fetches == [CERT_URL]


@pytest.mark.parametrize("settings_debug", [True, False])
def test_a_topic_subscribed_without_the_slash_is_still_heard(client, fetches, settings, settings_debug):
    # SNS follows no redirect for a POST: a slash redirect (or debug's refusal of one) loses it all.
    settings.DEBUG = settings_debug
    signed = SIGNER.sign(notification(BOUNCE))
    response = client.post(
        URL.rstrip("/"),
        data=json.dumps(signed),
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": signed["MessageId"]},
    )

    assert response.status_code == 200
    assert SnsMessage.objects.get().message_id == signed["MessageId"]


# Certificate URLs that are not AWS's own, refused before any fetch.
@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/cert.pem",
        f"http://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem",
        "https://bucket.s3.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem",
        "https://s3.amazonaws.com/bucket/SimpleNotificationService-abc123.pem",
        "https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com.evil.com/SimpleNotificationService-abc123.pem",
        f"https://user@sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com:443/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem\n",
        f"https://sns.{REGION}.amazonaws.com\\@evil.com/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem?x=1",
        f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem#x",
        f"https://sns.{REGION}.amazonaws.com/cert.pem",
        f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-xyz!.pem",
        f"https://sns.{REGION}.amazonaws.com/a/SimpleNotificationService-abc123.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc123.pem",  # not the topic's region
        # URLs the standard parser raises on (an unclosed IPv6 bracket, a character that NFKC makes a
        # "#"): refused as any other, never a 500.
        f"https://[sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com\uff03x/SimpleNotificationService-abc123.pem",
        f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-abc123.pem\u00e9",
    ],
    ids=lambda url: url.replace("\n", "\\n")[:70],
)
def test_certificate_urls_other_than_aws_own_are_refused_before_any_fetch(client, fetches, url):
    refused = metric_value("campanile_sns_refused_total", status="403")
    response = post(client, SIGNER.sign(notification(BOUNCE, SigningCertURL=url)))
    assert response.status_code == 403
    assert metric_value("campanile_sns_refused_total", status="403") == refused + 1
    assert fetches == []
    assert_nothing_recorded()


def test_a_china_region_certificate_host_is_accepted_for_a_china_topic(settings, fetches):
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:ses-events"
    settings.SES_SNS_TOPIC_ARNS = [topic]
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem"
    sns.sns_verify(
        body=json.dumps(SIGNER.sign(notification(BOUNCE, TopicArn=topic, SigningCertURL=url))).encode(),
        headers={},
    )
    assert fetches == [url]


# Genuinely signed, but from a topic that is not ours.
def test_a_confirmation_from_a_foreign_topic_is_refused_and_never_confirmed(client, fetches, confirmations):
    foreign = "arn:aws:sns:us-east-1:999999999999:attacker"
    response = post(client, SIGNER.sign(confirmation(TopicArn=foreign)))
    assert response.status_code == 403
    assert confirmations == []
    assert fetches == []


def test_a_notification_from_a_foreign_topic_is_refused(client, fetches):
    foreign = "arn:aws:sns:us-east-1:999999999999:attacker"
    response = post(client, SIGNER.sign(notification(BOUNCE, TopicArn=foreign)))
    assert response.status_code == 403
    assert_nothing_recorded()


def test_an_event_of_another_ses_account_is_ignored(client, fetches, settings):
    settings.SES_ACCOUNT_ID = "111111111111"
    assert post(client, SIGNER.sign(notification(BOUNCE))).status_code == 200
    apply_stored()
    assert SnsMessage.objects.get().applied_at is not None
    assert not Suppression.objects.exists()
    assert not TrackingEvent.objects.exists()


# One byte changed after signing.
@pytest.mark.parametrize("field", ["Message", "TopicArn", "Timestamp", "MessageId", "Subject"])
def test_a_message_changed_after_signing_is_refused(client, fetches, settings, field):
    settings.SES_SNS_TOPIC_ARNS = [TOPIC, TOPIC + "-other"]  # A changed topic that is also trusted.
    signed = SIGNER.sign(notification(BOUNCE, Subject="Amazon SES Email Event Notification"))
    changed = {
        "Message": signed["Message"].replace("gone@", "gona@"),
        "TopicArn": TOPIC + "-other",
        "Timestamp": timestamp(datetime.now(UTC) - timedelta(seconds=1)),
        "MessageId": signed["MessageId"][:-1] + ("0" if signed["MessageId"][-1] != "0" else "1"),
        "Subject": "Amazon SES Email Event Notificatiom",
    }[field]
    response = post(client, {**signed, field: changed})
    assert response.status_code == 403
    assert_nothing_recorded()


def test_a_type_changed_after_signing_is_refused(client, fetches):
    # Another Type signs other fields, which this message lacks: refused as malformed, before any trust.
    signed = SIGNER.sign(notification(BOUNCE))
    response = post(client, {**signed, "Type": "SubscriptionConfirmation"})
    assert response.status_code == 400
    assert_nothing_recorded()


# Signature versions.
def test_version_2_is_accepted_and_version_1_refused_once_pinned_to_2(client, fetches, settings):
    assert post(client, SIGNER.sign(notification(BOUNCE), version="2")).status_code == 200
    settings.SNS_MIN_SIGNATURE_VERSION = 2
    assert post(client, SIGNER.sign(notification(BOUNCE), version="1")).status_code == 403
    assert post(client, SIGNER.sign(notification(BOUNCE), version="2")).status_code == 200
    assert SnsMessage.objects.count() == 2


@pytest.mark.parametrize("version", ["3", "0", "", None, [], {}])
def test_unknown_or_missing_signature_versions_are_refused(client, fetches, version):
    signed = SIGNER.sign(notification(BOUNCE), version="2")
    if version is None:
        del signed["SignatureVersion"]
    else:
        signed["SignatureVersion"] = version
    assert post(client, signed).status_code == 403
    assert_nothing_recorded()


@pytest.mark.parametrize(
    ("version", "says"), [(1, "not 1."), (2.0, "not 2.0."), ("3", 'not "3".'), (None, "not none.")]
)
def test_a_signature_version_that_is_no_string_1_or_2_is_refused_saying_a_string_is_expected(
    client, fetches, version, says
):
    signed = SIGNER.sign(notification(BOUNCE), version="1")
    if version is None:
        del signed["SignatureVersion"]
    else:
        signed["SignatureVersion"] = version
    response = post(client, signed)
    assert response.status_code == 403
    assert response.content.decode() == f'SignatureVersion must be the string "1" or "2", {says}'
    assert_nothing_recorded()


def test_a_version_1_signature_presented_as_version_2_is_refused(client, fetches):
    signed = SIGNER.sign(notification(BOUNCE), version="1")
    assert post(client, {**signed, "SignatureVersion": "2"}).status_code == 403


# What the canonical string must survive.
@pytest.mark.parametrize(
    "subject", [None, "", "Amazon SES Email Event Notification", 'Ünïcödé "quoted" subject'], ids=repr
)
@pytest.mark.parametrize("version", ["1", "2"])
def test_subjects_absent_empty_or_present_and_awkward_messages_verify(client, fetches, subject, version):
    record = copy.deepcopy(BOUNCE)
    record["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = 'smtp; 550 "quoted"\nnext line – ünïcödé'
    fields = {} if subject is None else {"Subject": subject}
    envelope = notification(json.dumps(record, ensure_ascii=False, indent=2), **fields)
    assert post(client, SIGNER.sign(envelope, version=version)).status_code == 200


# The clock.
@pytest.mark.parametrize(
    "offset",
    [-timedelta(hours=1, minutes=6), timedelta(minutes=6)],
    ids=["too old", "future"],
)
def test_messages_too_old_or_from_the_future_are_refused(client, fetches, offset):
    # The moment is taken when the test runs, not when it is collected.
    moment = datetime.now(UTC) + offset
    response = post(client, SIGNER.sign(notification(BOUNCE, Timestamp=timestamp(moment))))
    assert response.status_code == 403
    assert_nothing_recorded()


def test_a_message_within_its_age_and_skew_is_accepted(client, fetches):
    moment = datetime.now(UTC) - timedelta(minutes=62)
    assert post(client, SIGNER.sign(notification(BOUNCE, Timestamp=timestamp(moment)))).status_code == 200


# Redelivery.
def test_the_same_message_twice_is_a_200_that_changes_nothing(client, fetches):
    signed = SIGNER.sign(notification(BOUNCE))
    first = post(client, signed)
    apply_stored()
    second = post(client, signed)
    apply_stored()
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == b"Already stored."
    assert SnsMessage.objects.count() == TrackingEvent.objects.count() == Suppression.objects.count() == 1


# Headers that disagree with the body; unknown types.
@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-sns-message-type": "SubscriptionConfirmation"},
        {"x-amz-sns-message-id": "another-id"},
        {"x-amz-sns-topic-arn": TOPIC + "-other"},
    ],
    ids=["type", "message id", "topic"],
)
def test_headers_that_disagree_with_the_body_are_400(client, fetches, headers):
    assert post(client, SIGNER.sign(notification(BOUNCE)), **headers).status_code == 400
    assert_nothing_recorded()


@pytest.mark.parametrize("field", ["Message", "MessageId", "Subject"])
def test_a_lone_surrogate_in_a_signed_field_is_400_before_any_signature_is_checked(client, fetches, field):
    signed = {**SIGNER.sign(notification(BOUNCE)), field: "x\ud800"}
    body = json.dumps(signed).encode()  # ASCII: the surrogate travels as a JSON escape.

    response = post(client, body, **{"x-amz-sns-message-type": "Notification"})

    assert response.status_code == 400
    assert_nothing_recorded()


def test_an_unknown_type_is_400(client, fetches):
    signed = SIGNER.sign(notification(BOUNCE))
    assert (
        post(client, {**signed, "Type": "Surprise"}, **{"x-amz-sns-message-type": "Surprise"}).status_code
        == 400
    )


# Bad bodies get 4xx, never 500; SNS's text/plain is fine.
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2, 3]", 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b'{"Type": "Notification", "Message": "\xff\xfe"}', 400),
        (b'{"Type": "Notification"}', 400),
        (b'{"Type": []}', 400),
        (b'{"Type": {}}', 400),
        (b" " * (sns.MAX_BODY_BYTES + 1), 413),
        (b"", 400),
    ],
    ids=[
        "malformed",
        "array",
        "deeply nested",
        "not utf-8",
        "fields missing",
        "type a list",
        "type an object",
        "too large",
        "empty",
    ],
)
def test_bad_bodies_are_refused_clearly(client, fetches, body, status):
    # No charset: the test client would re-encode a body declared UTF-8, and fail on this one.
    assert post(client, body, content_type="text/plain").status_code == status
    assert_nothing_recorded()


def test_a_signed_message_that_is_not_an_ses_record_is_400(client, fetches):
    assert post(client, SIGNER.sign(notification("Hello world!"))).status_code == 400
    assert_nothing_recorded()


@pytest.mark.parametrize(
    "content_type", ["text/plain; charset=UTF-8", "application/json", "application/x-www-form-urlencoded"]
)
def test_any_content_type_is_read(client, fetches, content_type):
    assert post(client, SIGNER.sign(notification(BOUNCE)), content_type=content_type).status_code == 200


def test_only_post_is_served(client):
    assert client.get(URL).status_code == 405


# The certificate download.
def test_a_failed_certificate_download_is_503_not_cached_and_the_retry_succeeds(client, monkeypatch):
    answers = [SnsCertificateUnavailable("timed out"), SIGNER.pem]
    asked = []

    def fetch(url):
        asked.append(url)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(sns, "sns_fetch_certificate", fetch)
    signed = SIGNER.sign(notification(BOUNCE))
    assert post(client, signed).status_code == 503
    assert not SnsMessage.objects.exists()
    assert post(client, signed).status_code == 200
    assert post(client, SIGNER.sign(notification(BOUNCE))).status_code == 200
    assert asked == [CERT_URL, CERT_URL]  # The failure was not cached; the success was.


class _Response:
    def __init__(self, status: int, data: bytes):
        self.status, self._data = status, data

    def read(self, amount):
        return self._data[:amount]

    def release_conn(self):
        pass


class _Http:
    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_download_has_a_timeout_no_redirects_and_a_size_cap(client, monkeypatch):
    import urllib3

    http = _Http(
        urllib3.exceptions.ReadTimeoutError(None, CERT_URL, "read timed out"),
        _Response(500, b"oops"),
        _Response(200, b"-" * (sns.MAX_CERTIFICATE_BYTES + 1)),
        _Response(200, b"not a certificate"),
        _Response(200, SIGNER.pem),
    )
    monkeypatch.setattr(sns, "_http", http)
    signed = SIGNER.sign(notification(BOUNCE))
    statuses = [post(client, signed).status_code for _ in range(5)]
    assert statuses == [503, 503, 403, 403, 200]
    assert all(kwargs["redirect"] is False for _method, _url, kwargs in http.calls)


# Subscriptions.
def test_a_confirmation_is_confirmed_through_the_api_in_the_topic_region_never_by_url(
    client, fetches, confirmations, monkeypatch
):
    monkeypatch.setattr(sns, "_http", _Http())  # Any fetch besides the stubbed certificate would fail.
    signed = SIGNER.sign(confirmation(SubscribeURL="http://169.254.169.254/latest/meta-data/"))
    response = post(client, signed)
    assert response.status_code == 200
    assert confirmations == [
        (REGION, {"TopicArn": TOPIC, "Token": signed["Token"], "AuthenticateOnUnsubscribe": "true"})
    ]
    assert fetches == [CERT_URL]


def test_an_unsubscribe_confirmation_is_logged_loudly_and_not_resubscribed(
    client, fetches, confirmations, caplog
):
    with caplog.at_level(logging.CRITICAL, logger="tracking.views"):
        response = post(client, SIGNER.sign(confirmation("UnsubscribeConfirmation")))
    assert response.status_code == 200
    assert confirmations == []
    assert "unsubscribed this webhook" in caplog.text
    assert not SnsMessage.objects.exists()


# The database is down.
def test_a_database_outage_answers_503_and_the_retry_records_once(client, fetches, monkeypatch):
    real_store = inbox.sns_message_store

    def broken(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(inbox, "sns_message_store", broken)
    signed = SIGNER.sign(notification(BOUNCE))
    assert post(client, signed).status_code == 503
    monkeypatch.setattr(inbox, "sns_message_store", real_store)
    assert post(client, signed).status_code == 200
    assert post(client, signed).status_code == 200
    assert SnsMessage.objects.count() == 1


def test_verification_switched_off_for_development_accepts_unsigned_messages_loudly(client, settings, caplog):
    settings.SNS_VERIFY_SIGNATURES = False
    unsigned = {**notification(BOUNCE), "SignatureVersion": "1", "Signature": "not checked"}
    with caplog.at_level(logging.WARNING, logger="tracking.sns"):
        assert post(client, unsigned).status_code == 200
    assert "UNVERIFIED" in caplog.text


def test_a_body_over_djangos_own_limit_is_the_same_413(client, fetches, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert post(client, "x" * 5000, content_type="text/plain").status_code == 413
    assert_nothing_recorded()


@pytest.mark.parametrize("signature", ["é", "\ud800", "%%%"])
def test_a_signature_that_is_not_base64_even_in_ascii_is_refused_never_a_500(client, fetches, signature):
    signed = SIGNER.sign(notification(BOUNCE), version="1")
    assert post(client, {**signed, "Signature": signature}).status_code == 403
    assert_nothing_recorded()


def test_a_signed_field_moved_into_another_by_a_line_break_is_refused(client, fetches):
    subject = "Amazon SES Email Event Notification"
    signed = SIGNER.sign(notification(BOUNCE, Subject=subject))
    assert post(client, signed).status_code == 200
    # The same string to sign, under a MessageId never seen: it would be stored a second time.
    moved = {key: value for key, value in signed.items() if key != "Subject"}
    moved["MessageId"] = f"{signed['MessageId']}\nSubject\n{subject}"

    response = post(client, moved, **{"x-amz-sns-message-type": "Notification"})

    assert response.status_code == 400
    assert SnsMessage.objects.count() == 1


@pytest.mark.parametrize(
    "changed",
    [{"MessageId": "m" * 101}, {"MessageId": "id\x00"}, {"Message": json.dumps(BOUNCE) + "\x00"}],
    ids=["a MessageId longer than any stored", "a NUL in the MessageId", "a NUL in the message"],
)
def test_a_signed_message_no_column_can_hold_is_refused_not_retried(client, fetches, changed):
    # Signed as sent: only the key's holder could send it, and SNS would retry a 5xx for hours.
    signed = SIGNER.sign({**notification(BOUNCE), **changed})

    response = post(client, signed)

    assert response.status_code == 400
    assert_nothing_recorded()
