"""The SES connection of a worker process and the translation of SES failures into our errors."""

import os
import sys
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from django.core.cache import cache
from django.core.mail import BadHeaderError, EmailMessage
from django_ses import SESBackend

from delivery import metrics
from delivery.exceptions import (
    SesOutcomeUnknown,
    SesQuotaExhausted,
    SesRejected,
    SesRetryLater,
    SesSendingHalted,
)

# Error codes SES uses for "slow down": v1 Throttling, v2 TooManyRequestsException / LimitExceeded.
# The daily quota arrives as Throttling too ("Daily message quota exceeded").
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
# Errors where SES itself is unavailable to us for now; nothing was sent.
RETRYABLE_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "RequestTimeout"})
# SES has stopped sending for the account (v1 and v2 names) or for a configuration set.
HALTING_CODES = frozenset(
    {
        "AccountSendingPausedException",
        "SendingPausedException",
        "AccountSuspendedException",
        "ConfigurationSetSendingPausedException",
    }
)
# How SES words the end of the 24-hour quota, inside a Throttling error.
DAILY_QUOTA_TEXT = "daily message quota exceeded"

try:
    import dkim  # noqa: F401 - only to learn whether it is there
except ImportError:
    # django-ses imports dkim on every send; a failed import searches sys.path again each time
    # (0.2 ms a send). A None entry makes every later attempt fail at once, as documented (typeshed
    # admits only modules there).
    sys.modules["dkim"] = None  # type: ignore[assignment]

_backend: SESBackend | None = None
_backend_lock = threading.Lock()
_backend_pid: int | None = None

# The HTTP status of this thread's last SES answer: when its body can't be parsed, the status
# alone says whether SES took the message (2xx) or answered an error (a proxy's HTML 5xx, say).
_last_answer = threading.local()


def _answer_remember(response_dict, **kwargs) -> None:
    _last_answer.status = response_dict.get("status_code", 0)


def ses_backend() -> SESBackend:
    """Return this process's open SES backend, creating it on first use.

    One boto3 client per process: creating one per send costs ~90 ms. The pid check keeps a
    forked Celery child from reusing a client (and its sockets) built in the parent.
    """
    global _backend, _backend_pid
    with _backend_lock:  # Sending threads would otherwise each build a client at start-up.
        if _backend is None or _backend_pid != os.getpid():
            _backend = SESBackend(fail_silently=False)
            _backend.open()
            _backend.connection.meta.events.register("before-parse", _answer_remember)
            _backend_pid = os.getpid()
        return _backend


def ses_reset() -> None:
    """Drop this process's SES client so the next send builds a new one (tests, settings changes)."""
    global _backend, _backend_pid
    _backend = None
    _backend_pid = None


def ses_send(*, message: EmailMessage) -> str:
    """Send one message through SES and return its MessageId, or raise a delivery SesError."""
    backend = ses_backend()
    started = time.perf_counter()
    try:
        backend.send_messages([message])
    except (BadHeaderError, UnicodeError) as exc:
        # Raised while the message is written, before any request: a row stored before the address
        # rule (a line break in its recipient, a domain IDNA refuses) fails alone, never its batch.
        raise _counted(SesRejected(f"Not sent: {exc}"[:300]), "rejected") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, text = error.get("Code", ""), error.get("Message", "")
        if code in HALTING_CODES:
            raise _counted(SesSendingHalted(f"{code}: {text}"), "halted") from exc
        if code in THROTTLING_CODES and DAILY_QUOTA_TEXT in text.lower():
            raise _counted(SesQuotaExhausted(f"{code}: {text}"), "quota") from exc
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING_CODES or code in RETRYABLE_CODES or status >= 500:
            # A 5xx is SES (or a proxy before it) failing, not refusing this message: retry.
            kind = "throttled" if code in THROTTLING_CODES else "retryable"
            raise _counted(SesRetryLater(f"{code or status}: {text}"), kind) from exc
        raise _counted(SesRejected(f"{code}: {text}"), "rejected") from exc
    except ResponseParserError as exc:
        status = getattr(_last_answer, "status", 0)
        if status >= 300:
            # An error answer in no format SES uses (a load balancer's HTML page): nothing was
            # accepted, so it is transient.
            raise _counted(SesRetryLater(f"HTTP {status}, unreadable: {exc}"[:300]), "retryable") from exc
        # A success we cannot read: SES may have accepted the message.
        raise _counted(SesOutcomeUnknown(f"HTTP {status}, unreadable: {exc}"[:300]), "unreadable") from exc
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        # The request left this machine; SES may have accepted it. SendRawEmail has no
        # idempotency token, so the only safe answer is "unknown", reconciled from SES events.
        raise _counted(SesOutcomeUnknown(str(exc)), "timeout") from exc
    except BotoCoreError as exc:
        # Connect failures, missing credentials: the request never reached SES.
        raise _counted(SesRetryLater(f"{type(exc).__name__}: {exc}"), "unreachable") from exc
    finally:
        metrics.SES_SECONDS.observe(time.perf_counter() - started)
    return message.extra_headers["message_id"]


def _counted(error: Exception, kind: str) -> Exception:
    metrics.SES_ERRORS.inc(kind=kind)
    return error


@dataclass(frozen=True)
class SendQuota:
    max_send_rate: float
    max_24_hour_send: float
    sent_last_24_hours: float


def ses_send_quota() -> SendQuota:
    """Read the account's sending quota from SES (v2 GetAccount or v1 GetSendQuota)."""
    backend = ses_backend()
    if backend._use_ses_v2:
        quota = backend.connection.get_account()["SendQuota"]
    else:
        quota = backend.connection.get_send_quota()
    return SendQuota(
        max_send_rate=float(quota["MaxSendRate"]),
        max_24_hour_send=float(quota["Max24HourSend"]),
        sent_last_24_hours=float(quota["SentLast24Hours"]),
    )


class SenderVerification(StrEnum):
    """What SES says of a sender's identity (its address, or its domain)."""

    VERIFIED = "verified"
    PENDING = "pending"
    UNVERIFIED = "unverified"
    #: SES could not be asked (down, no credentials, an API the endpoint lacks).
    UNKNOWN = "unknown"


#: How long SES's answer about a sender is kept: the checklist asks on every view of a draft.
SENDER_VERIFICATION_SECONDS = 300


def ses_sender_verification(*, address: str) -> SenderVerification:
    """Return whether SES lets this address send: its own identity or its domain's verified.

    Asked of SES (v2 GetEmailIdentity, or v1 GetIdentityVerificationAttributes) at most every
    SENDER_VERIFICATION_SECONDS per address, in Django's cache.
    """
    key = f"campanile:sender-verification:{address.lower()}"
    if (known := cache.get(key)) is not None:
        return SenderVerification(known)
    domain = address.rpartition("@")[2].lower()
    identities = [address.lower(), domain]
    try:
        backend = ses_backend()
        if backend._use_ses_v2:
            statuses = []
            for identity in identities:
                try:
                    found = backend.connection.get_email_identity(EmailIdentity=identity)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                        raise
                    continue
                statuses.append("Success" if found.get("VerifiedForSendingStatus") else "Pending")
        else:
            found = backend.connection.get_identity_verification_attributes(Identities=identities)
            attributes = found["VerificationAttributes"]
            statuses = [attributes.get(identity, {}).get("VerificationStatus") for identity in identities]
    except (BotoCoreError, ClientError, KeyError):
        cache.set(key, SenderVerification.UNKNOWN.value, 60)  # Ask again soon.
        return SenderVerification.UNKNOWN
    answer = (
        SenderVerification.VERIFIED
        if "Success" in statuses
        else SenderVerification.PENDING
        if "Pending" in statuses
        else SenderVerification.UNVERIFIED
    )
    cache.set(key, answer.value, SENDER_VERIFICATION_SECONDS)
    return answer
