"""Everything Campanile holds about one contact, in one JSON document: a subject access request.

It spans the apps (the profile and its consents are campaigns', the emails delivery's, their
events tracking's), so it is composed here, in the app that sees them all.
"""

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from campaigns.erasure import contact_addresses_own
from campaigns.models import (
    ConsentChange,
    Contact,
    ContactConsent,
    ListDeparture,
    Signup,
    Suppression,
    SuppressionRemoval,
)
from core.models import ApiKey
from delivery.models import StepExecution
from delivery.selectors import step_executions_key_sees
from tracking.models import TrackingEvent

#: The export's format, for whoever reads it later.
EXPORT_VERSION = 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _template_name(row: StepExecution) -> str:
    if row.step is not None:
        return row.step.template.name
    return row.message.template.name if row.message is not None else ""


def contact_personal_data(*, contact: Contact, key: ApiKey | None = None) -> dict[str, Any]:
    """Return everything held about a contact: profile, lists, consents and their history, signups,
    suppressions of its address, and every email sent to it with its events. Given an API key, its
    emails are those the key may read, and Campanile's own to the contact (a signup's confirmation,
    sent under no key): never another key's transactional messages."""
    emails = StepExecution.objects.filter(contact=contact).select_related(
        "step__campaign", "message__template", "step__template"
    )
    seen = TrackingEvent.objects.filter(step_execution__contact=contact)
    if key is not None:
        # Mail sent under no key is no integrator's: the contact's data holds it whoever asks.
        emails = emails.filter(step_executions_key_sees(key=key) | Q(message__api_key__isnull=True))
        seen = seen.filter(
            step_executions_key_sees(key=key, path="step_execution__")
            | Q(step_execution__message__api_key__isnull=True)
        )
    events: dict[int, list[dict[str, Any]]] = {}
    for event in seen.order_by("occurred_at", "pk"):
        events.setdefault(event.step_execution_id or 0, []).append(
            {"type": event.type, "at": _when(event.occurred_at), "kind": event.kind, "detail": event.raw}
        )
    return {
        "format": f"campanile.contact/{EXPORT_VERSION}",
        "exported_at": _when(timezone.now()),
        "profile": {
            "email": contact.email,
            "former_emails": contact.former_emails,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "external_id": contact.external_id,
            "attributes": contact.attributes,
            "timezone": contact.timezone,
            "status": contact.status,
            "unsubscribed_at": _when(contact.unsubscribed_at),
            "paused_until": _when(contact.paused_until),
            "created_at": _when(contact.created_at),
            "updated_at": _when(contact.updated_at),
        },
        "lists": sorted(contact.lists.values_list("name", flat=True)),
        "lists_left": [
            {"list": name, "left_at": _when(left_at), "via": via}
            for name, left_at, via in ListDeparture.objects.filter(contact=contact)
            .order_by("left_at", "pk")
            .values_list("contact_list__name", "left_at", "via")
        ],
        "breaks": [
            {"started_at": _when(started), "ends_at": _when(ends)}
            for started, ends in contact.breaks.order_by("started_at").values_list("started_at", "ends_at")
        ],
        "consents": [
            {
                "basis": consent.basis,
                "source": consent.source,
                "detail": consent.detail,
                "at": _when(consent.at),
            }
            for consent in ContactConsent.objects.filter(contact=contact).order_by("at", "pk")
        ],
        "consent_history": [
            {
                "at": _when(change.at),
                "from": change.from_status,
                "to": change.to_status,
                "by": change.by,
                "actor": change.actor,
                "via": change.via,
                "reason": change.reason,
            }
            for change in ConsentChange.objects.filter(contact=contact).order_by("at", "pk")
        ],
        "signups": [
            {
                "form": signup.form_name,
                "status": signup.status,
                "first_name": signup.first_name,
                "last_name": signup.last_name,
                "lists": sorted(signup.lists.values_list("name", flat=True)),
                "consent_text": signup.consent_text,
                "language": signup.language,
                "ip": signup.ip,
                "at": _when(signup.created_at),
                "confirmed_at": _when(signup.confirmed_at),
            }
            for signup in Signup.objects.filter(contact=contact).order_by("created_at", "pk")
        ],
        "suppressions": [
            {"reason": row.reason, "source": row.source, "detail": row.detail, "at": _when(row.created_at)}
            for row in Suppression.objects.filter(email__in=contact_addresses_own(contact=contact))
        ],
        "suppressions_removed": [
            {
                "reason": row.suppression_reason,
                "suppressed_at": _when(row.suppressed_at),
                "removed_at": _when(row.removed_at),
                "by": row.by,
                "actor": row.actor,
                "why": row.reason,
            }
            for row in SuppressionRemoval.objects.filter(email__in=contact_addresses_own(contact=contact))
        ],
        "emails": [
            {
                "to": row.email,
                "campaign": row.step.campaign.name if row.step is not None else None,
                "template": _template_name(row),
                "status": row.status,
                "outcome": row.outcome,
                "sent_at": _when(row.sent_at),
                "events": events.get(row.pk, []),
            }
            for row in emails.order_by("pk")
        ],
    }
