"""Normalize SES event records and identity notifications into one event per recipient.

Pure functions: no database, no network, no settings. Field names follow
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html (event
publishing, key `eventType`) and https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
(identity notifications, key `notificationType`); both share the `mail` object and the per-type objects.
"""

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.utils import timezone

from core.addresses import email_normalize
from core.exceptions import CampanileError
from tracking.models import TrackingEvent

#: The message tag our sender sets to the StepExecution's tracking id.
TRACKING_TAG = "campanile_step_execution"
CONFIGURATION_SET_TAG = "ses:configuration-set"

_Type = TrackingEvent.Type

_EVENT_TYPES = {
    "Send": _Type.SEND.value,
    "Delivery": _Type.DELIVERY.value,
    "Bounce": _Type.BOUNCE.value,
    "Complaint": _Type.COMPLAINT.value,
    "Reject": _Type.REJECT.value,
    # The documentation and real records spell it with a space; accept the CamelCase form as well.
    "Rendering Failure": _Type.RENDERING_FAILURE.value,
    "RenderingFailure": _Type.RENDERING_FAILURE.value,
    "DeliveryDelay": _Type.DELIVERY_DELAY.value,
    "Open": _Type.OPEN.value,
    "Click": _Type.CLICK.value,
    "Subscription": _Type.SUBSCRIPTION.value,
}

#: Every type an SES event is recorded as.
SES_EVENT_TYPES = tuple(dict.fromkeys(_EVENT_TYPES.values()))

# Identity notifications also send "Received" (inbound mail), which is not ours to track.
_NOTIFICATION_TYPES = {
    "Bounce": _Type.BOUNCE.value,
    "Complaint": _Type.COMPLAINT.value,
    "Delivery": _Type.DELIVERY.value,
}

# The key of each type's own object; AWS's Rendering Failure example names it `failure`.
_BODY_KEYS = {
    _Type.SEND.value: ("send",),
    _Type.DELIVERY.value: ("delivery",),
    _Type.BOUNCE.value: ("bounce",),
    _Type.COMPLAINT.value: ("complaint",),
    _Type.REJECT.value: ("reject",),
    _Type.RENDERING_FAILURE.value: ("renderingFailure", "failure"),
    _Type.DELIVERY_DELAY.value: ("deliveryDelay",),
    _Type.OPEN.value: ("open",),
    _Type.CLICK.value: ("click",),
    _Type.SUBSCRIPTION.value: ("subscription",),
}

# These objects carry no timestamp of their own: the event happened when SES accepted the mail.
_TIMED_BY_MAIL = {_Type.SEND.value, _Type.REJECT.value, _Type.RENDERING_FAILURE.value}


class EventFormatError(CampanileError):
    """An SES event record is not in a shape we understand."""


@dataclass(frozen=True)
class SesEvent:
    """One thing SES reported about one recipient of one message."""

    #: A TrackingEvent.Type value.
    type: str
    #: The bare address, stripped and lower-cased.
    recipient: str
    #: Aware UTC: the event's own timestamp, or mail.timestamp for Send, Reject and Rendering Failure.
    occurred_at: datetime
    ses_message_id: str
    #: The StepExecution's tracking id from the message tags; "" for mail we did not tag.
    tracking_id: str = ""
    sending_account_id: str = ""
    configuration_set: str = ""
    #: SES's own words ("Permanent", "Transient", "Undetermined"); classification happens elsewhere.
    bounce_type: str = ""
    bounce_subtype: str = ""
    #: The recipient's SMTP enhanced status ("5.1.1") of a bounce or a delivery delay.
    status: str = ""
    #: The recipient's diagnosticCode (bounce, delivery delay) or the delivery's smtpResponse.
    diagnostic: str = ""
    complaint_type: str = ""
    link: str = ""
    user_agent: str = ""
    ip_address: str = ""
    #: Other useful fields under their SES names (reason, errorMessage, delayType, linkTags…).
    detail: dict = field(default_factory=dict)


def _storable(value: Any) -> Any:
    """Return a record's value with what PostgreSQL cannot store in text or jsonb made harmless: a
    NUL dropped, a lone surrogate replaced (a bounce's diagnostic is the remote server's text)."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


#: No SES event is older than SES, nor later than now by more than clocks drift.
SES_BEGAN = datetime(2011, 1, 1, tzinfo=UTC)
CLOCK_AHEAD = timedelta(days=1)

#: SES's MessageIds are about 60 characters; the column holds 100.
MESSAGE_ID_MAX = 100


def ses_events_from_record(record: dict) -> list[SesEvent]:
    """Normalize one SES event record or identity notification into one event per affected recipient."""
    if not isinstance(record, dict):
        raise EventFormatError(f"SES record is a {type(record).__name__}, not a JSON object")
    record = _storable(record)
    event_type = _record_type(record)
    mail = record.get("mail")
    if not isinstance(mail, dict):
        raise EventFormatError("SES record has no mail object")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise EventFormatError("SES record has no mail.messageId")
    if len(message_id) > MESSAGE_ID_MAX:
        raise EventFormatError(f"mail.messageId is longer than {MESSAGE_ID_MAX} characters: not SES's")
    body_key, body = _record_body(record, event_type)
    tags = mail.get("tags", {})
    if not isinstance(tags, dict):
        raise EventFormatError("mail.tags is not an object")
    if event_type in _TIMED_BY_MAIL:
        occurred_at = _timestamp_parse(mail.get("timestamp"), where="mail.timestamp")
    else:
        occurred_at = _timestamp_parse(body.get("timestamp"), where=f"{body_key}.timestamp")
    common: dict[str, Any] = {
        "type": event_type,
        "occurred_at": occurred_at,
        "ses_message_id": message_id,
        "tracking_id": _tag_first(tags, TRACKING_TAG),
        "sending_account_id": _text(mail.get("sendingAccountId")),
        "configuration_set": _tag_first(tags, CONFIGURATION_SET_TAG),
    }
    events = []
    seen = set()
    for address, fields in _FIELDS[event_type](mail, body, body_key):
        # SES may list an address twice; one event per recipient keeps counts honest.
        if address not in seen:
            seen.add(address)
            # A copy per event: events of one record must not share the record's (mutable) objects.
            detail = copy.deepcopy(fields.get("detail", {}))
            events.append(SesEvent(recipient=address, **common, **{**fields, "detail": detail}))
    return events


def _record_type(record: dict) -> str:
    if "eventType" in record:
        name, known, key = record["eventType"], _EVENT_TYPES, "eventType"
    elif "notificationType" in record:
        name, known, key = record["notificationType"], _NOTIFICATION_TYPES, "notificationType"
    else:
        raise EventFormatError("SES record has neither eventType nor notificationType")
    if not isinstance(name, str) or name not in known:
        raise EventFormatError(f"unsupported SES {key} {name!r}")
    return known[name]


def _record_body(record: dict, event_type: str) -> tuple[str, dict]:
    keys = _BODY_KEYS[event_type]
    for key in keys:
        if key in record:
            if not isinstance(record[key], dict):
                raise EventFormatError(f"SES record's {key} is not an object")
            return key, record[key]
    raise EventFormatError(f"SES {event_type} record has no {' or '.join(keys)} object")


def _timestamp_parse(value, *, where: str) -> datetime:
    if not isinstance(value, str):
        raise EventFormatError(f"{where} is missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventFormatError(f"{where} {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise EventFormatError(f"{where} {value!r} has no time zone")
    try:
        moment = parsed.astimezone(UTC)
    except OverflowError:  # Year 1 east of UTC, year 9999 west of it.
        raise EventFormatError(f"{where} {value!r} is out of range") from None
    # SES began in 2011, and reports what has happened: a time outside that is no SES event's, and
    # would become an email's send time.
    if not SES_BEGAN <= moment <= timezone.now() + CLOCK_AHEAD:
        raise EventFormatError(f"{where} {value!r} is not a time SES could report")
    return moment


def _address_normalize(value, *, where: str) -> str:
    if not isinstance(value, str):
        raise EventFormatError(f"{where} has an address that is not a string: {value!r}")
    # The form contacts and suppressions are stored in, so a bounce finds its suppression's row.
    address = email_normalize(parseaddr(value)[1])
    if "@" not in address:
        raise EventFormatError(f"{where} has an entry that is not an email address: {value!r}")
    return address


def _address_list(value, *, where: str) -> list[str]:
    if not isinstance(value, list):
        raise EventFormatError(f"{where} is missing or not a list")
    return [_address_normalize(item, where=where) for item in value]


def _recipient_entries(body: dict, key: str, *, where: str) -> list[tuple[str, dict]]:
    """Return (address, entry) for each {"emailAddress": …} entry of a per-recipient list."""
    entries = body.get(key)
    if not isinstance(entries, list):
        raise EventFormatError(f"{where}.{key} is missing or not a list")
    pairs = []
    for entry in entries:
        if not isinstance(entry, dict) or "emailAddress" not in entry:
            raise EventFormatError(f"{where}.{key} has an entry without emailAddress: {entry!r}")
        pairs.append((_address_normalize(entry["emailAddress"], where=f"{where}.{key}"), entry))
    return pairs


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _tag_first(tags: dict, name: str) -> str:
    values = tags.get(name)
    return _text(values[0]) if isinstance(values, list) and values else ""


def _pick(source: dict, *keys: str) -> dict:
    """Return those of the named fields that are present."""
    return {key: source[key] for key in keys if key in source}


def _destination_each(mail: dict, fields: dict) -> list[tuple[str, dict]]:
    return [(address, fields) for address in _address_list(mail.get("destination"), where="mail.destination")]


def _send_fields(mail, body, key):
    return _destination_each(mail, {})


def _delivery_fields(mail, body, key):
    fields = {
        "diagnostic": _text(body.get("smtpResponse")),
        "detail": _pick(body, "processingTimeMillis", "reportingMTA", "remoteMtaIp"),
    }
    return [(address, fields) for address in _address_list(body.get("recipients"), where=f"{key}.recipients")]


def _bounce_fields(mail, body, key):
    shared = {
        "bounce_type": _text(body.get("bounceType")),
        "bounce_subtype": _text(body.get("bounceSubType")),
    }
    detail = _pick(body, "feedbackId", "reportingMTA", "remoteMtaIp")
    return [
        (
            address,
            {
                **shared,
                "status": _text(entry.get("status")),
                "diagnostic": _text(entry.get("diagnosticCode")),
                "detail": {**detail, **_pick(entry, "action")},
            },
        )
        for address, entry in _recipient_entries(body, "bouncedRecipients", where=key)
    ]


def _complaint_fields(mail, body, key):
    # The complaint's userAgent is the reporting ISP's feedback tool, not a reader: kept in detail.
    fields = {
        "complaint_type": _text(body.get("complaintFeedbackType")),
        "detail": _pick(body, "complaintSubType", "feedbackId", "arrivalDate", "userAgent"),
    }
    return [
        (address, fields) for address, _entry in _recipient_entries(body, "complainedRecipients", where=key)
    ]


def _reject_fields(mail, body, key):
    return _destination_each(mail, {"detail": _pick(body, "reason")})


def _rendering_failure_fields(mail, body, key):
    return _destination_each(mail, {"detail": _pick(body, "errorMessage", "templateName")})


def _delivery_delay_fields(mail, body, key):
    detail = _pick(body, "delayType", "expirationTime", "reportingMTA")
    return [
        (
            address,
            {
                "status": _text(entry.get("status")),
                "diagnostic": _text(entry.get("diagnosticCode")),
                "detail": detail,
            },
        )
        for address, entry in _recipient_entries(body, "delayedRecipients", where=key)
    ]


def _open_fields(mail, body, key):
    return _destination_each(
        mail, {"user_agent": _text(body.get("userAgent")), "ip_address": _text(body.get("ipAddress"))}
    )


def _click_fields(mail, body, key):
    fields = {
        "link": _text(body.get("link")),
        "user_agent": _text(body.get("userAgent")),
        "ip_address": _text(body.get("ipAddress")),
        "detail": _pick(body, "linkTags"),
    }
    return _destination_each(mail, fields)


def _subscription_fields(mail, body, key):
    detail = _pick(body, "contactList", "source", "newTopicPreferences", "oldTopicPreferences")
    return _destination_each(mail, {"detail": detail})


_FIELDS = {
    _Type.SEND.value: _send_fields,
    _Type.DELIVERY.value: _delivery_fields,
    _Type.BOUNCE.value: _bounce_fields,
    _Type.COMPLAINT.value: _complaint_fields,
    _Type.REJECT.value: _reject_fields,
    _Type.RENDERING_FAILURE.value: _rendering_failure_fields,
    _Type.DELIVERY_DELAY.value: _delivery_delay_fields,
    _Type.OPEN.value: _open_fields,
    _Type.CLICK.value: _click_fields,
    _Type.SUBSCRIPTION.value: _subscription_fields,
}
