"""Trusting an Amazon SNS HTTP delivery: parse, check, verify its signature, or refuse it.

Everything here runs before anything is recorded or fetched, in the order that costs least: the
body and headers, the topic allowlist, the clock, the signature version and the certificate URL,
and only then a download of AWS's certificate (cached on success only) and the RSA check.
"""

import base64
import binascii
import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

from core.text import holds_lone_surrogate
from tracking.exceptions import SnsCertificateUnavailable, SnsMalformed, SnsUntrusted
from tracking.models import SnsMessage

logger = logging.getLogger(__name__)

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The fields AWS signs, in its order. Subject is signed only when the message has one.
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
}
# Version 1 is SHA1 because SNS signs it so, not by choice.
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

# SNS messages are at most 256 KB of payload; the envelope adds a little.
MAX_BODY_BYTES = 300 * 1024
# AWS's signing certificates are about 2 KB; AWS's own SDKs refuse anything over 10 KB.
MAX_CERTIFICATE_BYTES = 10 * 1024
CERTIFICATE_TIMEOUT_SECONDS = 5.0
# Clocks disagree a little: SNS's Timestamp may be this far in the future, or this much older
# than SNS_MAX_MESSAGE_AGE, and still be accepted.
CLOCK_SKEW = timedelta(minutes=5)

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_TOPIC_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:sns:(" + _REGION + r"):(\d{12}):[\w-]{1,256}")
_CERT_HOST = re.compile(r"sns\.(" + _REGION + r")\.amazonaws\.com(?:\.cn)?")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem")


@dataclass(frozen=True)
class SnsEnvelope:
    """A verified SNS delivery."""

    type: str
    message_id: str
    topic_arn: str
    region: str
    timestamp: datetime
    #: The payload: for a Notification, SES's event record as text.
    message: str
    subject: str | None
    subscribe_url: str
    token: str
    raw: dict


_LINE_BREAK = re.compile(r"[\r\n]")
#: The longest MessageId stored (SNS's are 36-character UUIDs).
MESSAGE_ID_MAX = SnsMessage._meta.get_field("message_id").max_length or 100


def sns_parse(*, body: bytes, headers: dict[str, str]) -> dict:
    """Parse an SNS delivery's body, whatever its Content-Type, and check it against its headers."""
    if len(body) > MAX_BODY_BYTES:
        raise SnsMalformed(f"The body is over {MAX_BODY_BYTES} bytes.", status=413)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SnsMalformed(f"The body is not UTF-8 JSON: {exc.__class__.__name__}.") from None
    if not isinstance(data, dict):
        raise SnsMalformed("The body is not a JSON object.")
    kind = data.get("Type")
    if not isinstance(kind, str) or kind not in _SIGNED_FIELDS:  # A list or object is no key.
        raise SnsMalformed(f"Unknown SNS message Type {kind!r}.")
    for header, field in (
        ("x-amz-sns-message-type", "Type"),
        ("x-amz-sns-message-id", "MessageId"),
        ("x-amz-sns-topic-arn", "TopicArn"),
    ):
        if header in headers and headers[header] != data.get(field):
            raise SnsMalformed(f"The {header} header does not match the body's {field}.")
    required = [name for name in _SIGNED_FIELDS[kind] if name != "Subject"]
    required += ["Signature", "SigningCertURL"]  # A missing SignatureVersion is refused as untrusted.
    missing = [name for name in required if not isinstance(data.get(name), str)]
    if missing:
        raise SnsMalformed(f"Missing or not text: {', '.join(missing)}.")
    if "Subject" in data and not isinstance(data["Subject"], str | None):
        raise SnsMalformed("Subject is not text.")
    # JSON may escape a lone surrogate (\ud800); UTF-8, which SNS signs, cannot hold one: no SNS
    # message has one, and the string to sign could not be built from it.
    for name in _SIGNED_FIELDS[kind]:
        if isinstance(data.get(name), str) and holds_lone_surrogate(data[name]):
            raise SnsMalformed(f"{name} holds a lone surrogate, which no SNS message holds.")
        # The string to sign ends each field with a line break: one inside a field other than the
        # message could stand for the fields after it (a MessageId holding "\nSubject\n…" signs
        # as the message with that Subject, under a MessageId never seen). SNS never sends one.
        if name != "Message" and isinstance(data.get(name), str) and _LINE_BREAK.search(data[name]):
            raise SnsMalformed(f"{name} holds a line break, which SNS never puts there.")
        # Nor a NUL, which no text column can hold: refused now, not retried by SNS for hours.
        if isinstance(data.get(name), str) and "\x00" in data[name]:
            raise SnsMalformed(f"{name} holds a NUL character, which SNS never sends.")
    if len(data["MessageId"]) > MESSAGE_ID_MAX:
        raise SnsMalformed(f"MessageId is over {MESSAGE_ID_MAX} characters; SNS's are UUIDs.")
    return data


def sns_string_to_sign(data: dict) -> bytes:
    """Return AWS's canonical string for a message: each signed field's name and value, a line each."""
    lines = []
    for name in _SIGNED_FIELDS[data["Type"]]:
        if name == "Subject" and data.get("Subject") is None:
            continue
        lines.append(f"{name}\n{data[name]}\n")
    return "".join(lines).encode("utf-8")


def sns_topic_region(topic_arn: str) -> str:
    """Return the region of an allowlisted topic, or raise SnsUntrusted."""
    match = _TOPIC_ARN.fullmatch(topic_arn)
    if match is None or topic_arn not in settings.SES_SNS_TOPIC_ARNS:
        raise SnsUntrusted(f"Topic {topic_arn!r} is not in SES_SNS_TOPIC_ARNS.")
    return match.group(1)


def sns_check_cert_url(url: str, *, region: str) -> None:
    """Refuse any certificate URL but AWS's own for the topic's region, before anything is fetched."""
    # Whitespace and backslashes parse differently in different URL parsers: refuse, not guess.
    if re.search(r"[\s\\]", url):
        raise SnsUntrusted("SigningCertURL holds whitespace or a backslash.")
    # AWS's URLs are ASCII; other characters are where parsers disagree (NFKC folds some into "#").
    if not url.isascii():
        raise SnsUntrusted("SigningCertURL holds a character that is not ASCII.")
    try:
        parts = urlsplit(url)
    except ValueError:  # An unclosed IPv6 bracket, say.
        raise SnsUntrusted("SigningCertURL is not a URL.") from None
    if parts.scheme != "https":
        raise SnsUntrusted("SigningCertURL is not https.")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise SnsUntrusted("SigningCertURL has a query or a fragment.")
    host = _CERT_HOST.fullmatch(parts.netloc)  # The whole netloc: no userinfo, no port.
    if host is None:
        raise SnsUntrusted(f"SigningCertURL's host {parts.netloc!r} is not sns.<region>.amazonaws.com.")
    if host.group(1) != region:
        raise SnsUntrusted("SigningCertURL's region is not the topic's region.")
    if not _CERT_PATH.fullmatch(parts.path):
        raise SnsUntrusted("SigningCertURL's path is not /SimpleNotificationService-<hex>.pem.")


def sns_check_timestamp(value: str, *, now: datetime) -> datetime:
    """Return the message's time, refusing one too old or from the future."""
    try:
        timestamp = datetime.fromisoformat(value)
    except ValueError:
        raise SnsUntrusted("Timestamp is not an ISO 8601 time.") from None
    if timestamp.tzinfo is None:
        raise SnsUntrusted("Timestamp has no time zone.")
    if timestamp > now + CLOCK_SKEW:
        raise SnsUntrusted("Timestamp is in the future.")
    if timestamp < now - timedelta(seconds=settings.SNS_MAX_MESSAGE_AGE) - CLOCK_SKEW:
        raise SnsUntrusted("Timestamp is older than SNS_MAX_MESSAGE_AGE.")
    return timestamp


# Certificates by URL, kept only once fetched and parsed: a failed download is tried again next time.
_certificates: dict[str, rsa.RSAPublicKey] = {}
_certificates_lock = threading.Lock()
_http = urllib3.PoolManager(retries=False, timeout=CERTIFICATE_TIMEOUT_SECONDS)


def sns_fetch_certificate(url: str) -> bytes:
    """Download a certificate with a timeout and a size cap; raise SnsCertificateUnavailable."""
    try:
        response = _http.request("GET", url, preload_content=False, redirect=False)
        try:
            if response.status != 200:
                raise SnsCertificateUnavailable(f"The certificate download answered {response.status}.")
            data = response.read(MAX_CERTIFICATE_BYTES + 1)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise SnsCertificateUnavailable(f"The certificate download failed: {exc}") from exc
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise SnsUntrusted(f"The certificate is over {MAX_CERTIFICATE_BYTES} bytes.")
    return data


def sns_dev_certificate(url: str) -> bytes | None:
    """Return SNS_DEV_CERTIFICATE's PEM when `url` names it (debug only), else None.

    The local SES stand-in signs with a certificate of its own and names it in an AWS-shaped URL by
    the first 32 hex digits of its SHA-256 fingerprint; the file is read when needed, since the
    stand-in may create it after this process started.
    """
    path = Path(settings.SNS_DEV_CERTIFICATE) if settings.SNS_DEV_CERTIFICATE and settings.DEBUG else None
    if path is None or not path.is_file():
        return None
    pem = path.read_bytes()
    name = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()[:32]
    return pem if urlsplit(url).path == f"/SimpleNotificationService-{name}.pem" else None


def _public_key(url: str, *, now: datetime) -> rsa.RSAPublicKey:
    with _certificates_lock:
        key = _certificates.get(url)
    if key is not None:
        return key
    try:
        certificate = x509.load_pem_x509_certificate(sns_dev_certificate(url) or sns_fetch_certificate(url))
    except ValueError:
        raise SnsUntrusted("The signing certificate is not a PEM certificate.") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsUntrusted("The signing certificate is not valid now.")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsUntrusted("The signing certificate's key is not RSA.")
    with _certificates_lock:
        _certificates[url] = public_key
    return public_key


def sns_certificates_forget() -> None:
    """Drop the cached certificates (tests, key rotation drills)."""
    with _certificates_lock:
        _certificates.clear()


def sns_verify(*, body: bytes, headers: dict[str, str], now: datetime | None = None) -> SnsEnvelope:
    """Return the verified delivery, or raise SnsMalformed (400/413), SnsUntrusted (403) or
    SnsCertificateUnavailable (503, so that SNS retries)."""
    now = now or datetime.now(UTC)
    data = sns_parse(body=body, headers=headers)
    region = sns_topic_region(data["TopicArn"])
    timestamp = sns_check_timestamp(data["Timestamp"], now=now)
    version = data.get("SignatureVersion")
    if not isinstance(version, str) or version not in _HASHES:
        # Repeated as JSON, so that a number 1 does not read as the string "1" SNS sends.
        given = json.dumps(version) if "SignatureVersion" in data else "none"
        raise SnsUntrusted(f'SignatureVersion must be the string "1" or "2", not {given}.')
    if int(version) < settings.SNS_MIN_SIGNATURE_VERSION:
        raise SnsUntrusted(f"SignatureVersion {version} is below SNS_MIN_SIGNATURE_VERSION.")
    if settings.SNS_VERIFY_SIGNATURES:
        sns_check_cert_url(data["SigningCertURL"], region=region)
        try:
            signature = _b64decode(data["Signature"])
            key = _public_key(data["SigningCertURL"], now=now)
            key.verify(signature, sns_string_to_sign(data), padding.PKCS1v15(), _HASHES[version]())
        except InvalidSignature:
            raise SnsUntrusted("The signature does not match the message.") from None
    else:
        logger.warning("SNS_VERIFY_SIGNATURES is off: message %s accepted UNVERIFIED.", data["MessageId"])
    return SnsEnvelope(
        type=data["Type"],
        message_id=data["MessageId"],
        topic_arn=data["TopicArn"],
        region=region,
        timestamp=timestamp,
        message=data["Message"],
        subject=data.get("Subject"),
        subscribe_url=data.get("SubscribeURL", ""),
        token=data.get("Token", ""),
        raw=data,
    )


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):  # ValueError: not even ASCII ("é", a lone surrogate).
        raise SnsUntrusted("The signature is not base64.") from None
