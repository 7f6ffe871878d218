"""Sign SNS messages the way AWS does, with a key and certificate made for the tests."""

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ses_standin.sns import signing_identity_create
from tracking import sns

REGION = "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:ses-events"
CERT_URL = (
    f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
)


@dataclass
class TestSigner:
    key: rsa.RSAPrivateKey
    pem: bytes

    def sign(self, data: dict, *, version: str = "1") -> dict:
        """Fill in SignatureVersion and Signature over AWS's canonical string of `data`."""
        data = {**data, "SignatureVersion": version}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - as SNS does
        signature = self.key.sign(sns.sns_string_to_sign(data), padding.PKCS1v15(), algorithm)
        return {**data, "Signature": base64.b64encode(signature).decode()}


def make_signer() -> TestSigner:
    key, certificate = signing_identity_create(days=30)
    return TestSigner(key=key, pem=certificate.public_bytes(serialization.Encoding.PEM))


def timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def notification(record: dict | str, **fields) -> dict:
    """Return an unsigned SNS Notification envelope carrying an SES record."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": record if isinstance(record, str) else json.dumps(record),
        "Timestamp": timestamp(),
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe",
        **fields,
    }


def confirmation(kind: str = "SubscriptionConfirmation", **fields) -> dict:
    """Return an unsigned SubscriptionConfirmation (or UnsubscribeConfirmation) envelope."""
    return {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3bebd",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=x",
        "Timestamp": timestamp(),
        "SigningCertURL": CERT_URL,
        **fields,
    }
