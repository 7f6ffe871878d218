"""An erased contact's share of tracking: its events keep counting, without who, where or how."""

import json
from typing import Any

from django.db.models import Q

from core.addresses import address_mentions, address_written_out
from delivery.compose import TAG_PREFIX
from delivery.erasure import ERASED
from delivery.models import StepExecution
from tracking.engagement import FORGOTTEN_STEP
from tracking.models import SnsMessage, SoftBounceStreak, TrackingEvent, TrackingHit

#: What an event of an erased contact keeps of its payload: which link a click followed, and the
#: step of an email whose contact was deleted first (the reputation guard counts it, as SES does).
_KEPT_RAW = ("link_id", FORGOTTEN_STEP)


#: An event's id is capped at its column's length: a long address may be cut short in it.
_EVENT_ID_MAX = TrackingEvent._meta.get_field("event_id").max_length or 200


def event_anonymize(event: TrackingEvent) -> None:
    """Drop an event's address, client and payload, keeping its type, time, kind and link."""
    if event.recipient:
        mark = f"{ERASED}{event.pk or ''}"
        event.event_id = address_written_out(event.event_id, event.recipient, mark, cap=_EVENT_ID_MAX)
    event.recipient = ""
    raw = event.raw if isinstance(event.raw, dict) else {}
    event.raw = {key: raw[key] for key in _KEPT_RAW if key in raw}


def tracking_rows_naming(*, emails: set[str]) -> list[int]:
    """Return the ledger rows whose events name these addresses (whichever contact they are of)."""
    rows = TrackingEvent.objects.filter(recipient__in=emails, step_execution__isnull=False)
    return list(rows.order_by().values_list("step_execution_id", flat=True).distinct())


def tracking_erase(*, execution_ids: list[int], emails: set[str]) -> None:
    """Anonymize what tracking holds of an address and its emails; call inside the erasing
    transaction, after the ledger's share (delivery.erasure)."""
    events = list(
        TrackingEvent.objects.select_for_update()
        .filter(Q(step_execution_id__in=execution_ids) | Q(recipient__in=emails))
        .order_by("pk")
    )
    # The notifications of these emails, whatever address each went to: one another contact holds
    # now is not erased, but the email was this contact's, and its headers name them. An SES
    # event's id starts with its notification's.
    rows = set(execution_ids)
    own = {
        event.event_id.split(":", 1)[0]: event.recipient
        for event in events
        if event.step_execution_id in rows and event.recipient
    }
    for message in (
        SnsMessage.objects.filter(message_id__in=own, applied_at__isnull=False)
        .select_for_update()
        .order_by("pk")
    ):
        sns_message_redact(message=message, email=own[message.message_id])
        message.save(update_fields=["message"])
    for event in events:
        event_anonymize(event)
    TrackingEvent.objects.bulk_update(events, ["event_id", "recipient", "raw"], batch_size=1000)
    tracking_ids = StepExecution.objects.filter(pk__in=execution_ids).values_list("tracking_id", flat=True)
    TrackingHit.objects.filter(tracking_id__in=tracking_ids).update(ip="", user_agent="")
    SoftBounceStreak.objects.filter(email__in=emails).delete()
    for email in emails:
        sns_messages_redact(email=email)


#: Parts of an SES record that speak of the person beyond the address: the headers (their name in
#: To, a subject made for them) and the client that opened or clicked.
_PERSONAL_KEYS = frozenset({"commonHeaders", "headers", "ipAddress", "userAgent"})
#: The message tags kept: Campanile's own ids and SES's; an integrator's may name the person.
_KEPT_TAGS = (TAG_PREFIX, "ses:")


def _redacted(value: Any, email: str) -> Any:
    if isinstance(value, dict):
        return {key: _redacted_entry(key, item, email) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, email) for item in value]
    if isinstance(value, str) and address_mentions(email).search(value):
        return ERASED  # Whole: "Ada Lovelace <ada@example.com>" names them twice.
    return value


def _redacted_entry(key: str, item: Any, email: str) -> Any:
    if key in _PERSONAL_KEYS:
        return ERASED
    if key == "tags" and isinstance(item, dict):
        return {name: values for name, values in item.items() if str(name).startswith(_KEPT_TAGS)}
    return _redacted(item, email)


def sns_message_redact(*, message: SnsMessage, email: str) -> None:
    """Write the person out of a stored SNS notification (unsaved); see _PERSONAL_KEYS."""
    try:
        message.message = json.dumps(_redacted(json.loads(message.message), email))
    except (ValueError, RecursionError):  # Not a record we can read: the address goes, as text.
        message.message = address_mentions(email).sub(ERASED, message.message)


def sns_messages_redact(*, email: str) -> int:
    """Redact the stored SNS notifications naming an address; return how many changed.

    They were verified on arrival; what stays is the record of what SES reported, without whom.
    One not applied yet is left whole, to be applied (counted, a complaint kept with the erasure)
    and then redacted as it is (tracking.inbox).
    """
    changed = 0
    applied = SnsMessage.objects.filter(applied_at__isnull=False, message__icontains=email)
    for message in applied.select_for_update().order_by("pk"):
        if not address_mentions(email).search(message.message):
            continue  # Another, longer address holds it: "jimbo@x" is not "bo@x"'s news.
        sns_message_redact(message=message, email=email)
        message.save(update_fields=["message"])
        changed += 1
    return changed
