"""SNS's side of event publishing: sign each record as SNS does and post it to the subscribed URL.

Messages are signed with SignatureVersion 2 (RSA, SHA256) over AWS's canonical string
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html), with a key and a
self-signed certificate kept in the stand-in's state folder. The SigningCertURL has AWS's shape,
`https://sns.<region>.amazonaws.com/SimpleNotificationService-<name>.pem`, where the name is the
first 32 hex digits of the certificate's SHA-256 fingerprint: a receiver that was told to trust
this certificate (Campanile's SNS_DEV_CERTIFICATE, debug only) finds it by that name and fetches
nothing; any other receiver refuses it, as it should.
"""

import base64
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ses_standin import client
from ses_standin.mailbox import timestamp

logger = logging.getLogger("ses_standin")

_SIGNED_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
KEY_FILE, CERTIFICATE_FILE = "sns-signing-key.pem", "sns-signing-certificate.pem"
CERTIFICATE_DAYS = 3650


def signing_identity_create(*, days: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Make an RSA key and a self-signed certificate for it, valid from yesterday for `days`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com (local stand-in)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


class Signer:
    """The key that signs this stand-in's SNS messages, and the certificate that proves it."""

    def __init__(self, folder: Path, *, region: str):
        folder.mkdir(parents=True, exist_ok=True)
        key_path, certificate_path = folder / KEY_FILE, folder / CERTIFICATE_FILE
        if not (key_path.exists() and certificate_path.exists()):
            self._create(key_path, certificate_path)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold an RSA key.")
        self.key = key
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        name = certificate.fingerprint(hashes.SHA256()).hex()[:32]
        self.certificate_url = f"https://sns.{region}.amazonaws.com/SimpleNotificationService-{name}.pem"

    @staticmethod
    def _create(key_path: Path, certificate_path: Path) -> None:
        key, certificate = signing_identity_create(days=CERTIFICATE_DAYS)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_path.write_bytes(pem)
        key_path.chmod(0o600)
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def notification(self, *, topic_arn: str, message: str) -> dict:
        """Return a signed SNS Notification envelope carrying `message`."""
        region = topic_arn.split(":")[3]
        data = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": message,
            "Timestamp": timestamp(datetime.now(UTC)),
            "SignatureVersion": "2",
            "SigningCertURL": self.certificate_url,
            "UnsubscribeURL": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:local",
        }
        canonical = "".join(f"{name}\n{data[name]}\n" for name in _SIGNED_FIELDS if name in data)
        signature = self.key.sign(canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
        return {**data, "Signature": base64.b64encode(signature).decode()}


class Publisher:
    """Post notifications to one HTTP endpoint as SNS does, retrying until it takes them.

    SNS retries an endpoint that answers 5xx or cannot be reached, and drops one that answers 4xx
    (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html); locally the web
    server may restart, so the stand-in keeps retrying, with backoff, for up to an hour.
    """

    RETRY_FOR_SECONDS = 3600.0

    def __init__(self, *, url: str, topic_arn: str, signer: Signer, schedule):
        self.url, self.topic_arn, self.signer, self.schedule = url, topic_arn, signer, schedule
        self.lock = threading.Lock()
        self.counts = {"published": 0, "refused": 0, "retried": 0, "dropped": 0}

    def publish(self, record: dict) -> None:
        """Sign and post one SES record, rescheduling itself on a failure SNS would retry."""
        envelope = self.signer.notification(topic_arn=self.topic_arn, message=json.dumps(record))
        self._post(envelope, started=None, attempt=1)

    def _post(self, envelope: dict, *, started: float | None, attempt: int) -> None:
        started = started or time.monotonic()
        body = json.dumps(envelope).encode()
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": envelope["TopicArn"],
        }
        try:
            status = client.call("POST", self.url, body=body, headers=headers)
        except (OSError, HTTPException) as exc:
            status, reason = 0, str(exc)
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            self._count("published")
            return
        if 400 <= status < 500:
            self._count("refused")
            logger.warning(
                "The endpoint refused SNS message %s (%s): not retried.", envelope["MessageId"], reason
            )
            return
        if time.monotonic() - started > self.RETRY_FOR_SECONDS:
            self._count("dropped")
            logger.error(
                "SNS message %s dropped after an hour of retries (%s).", envelope["MessageId"], reason
            )
            return
        self._count("retried")
        delay = min(20.0, 0.5 * 2 ** min(attempt, 6))
        self.schedule(delay, lambda: self._post(envelope, started=started, attempt=attempt + 1))

    def _count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1
