"""Erasure at a contact's request (GDPR article 17), across the apps; the export's counterpart.

Each app anonymizes its own share (delivery.erasure, tracking.erasure) and campaigns deletes the
profile, keeping the address only as a keyed hash (campaigns.erasure). Composed here, in the app
that sees them all, in one transaction.
"""

import json

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from campaigns.erasure import contact_addresses_own, contact_profile_erase, erasure_exclusive
from campaigns.import_jobs import contact_imports_forget
from campaigns.models import ConsentChange, Contact, ErasedAddress
from campaigns.signups import address_lock
from core.exceptions import ObjectNotFound
from delivery.erasure import (
    ERASED,
    contact_addresses_campaigned,
    step_executions_erase,
    text_redact,
    tracked_links_erase,
)
from tracking.erasure import tracking_erase, tracking_rows_naming


@transaction.atomic
def contact_erase(*, contact: Contact, by: str) -> ErasedAddress:
    """Erase a contact: its profile goes, what counts stays without it; return the hash kept.

    Its emails stay in every count and rate, without the address; their events lose the address,
    the client's IP and user agent and the payload; SNS notifications naming it are redacted; the
    admin's history names it no more. `by` names who asked, for the record.
    """
    # The erasure's own lock first (writes checking addresses hold it shared, taken first too), then
    # the address's, as a signup deciding on it takes it; then the contact, as a delete does.
    erasure_exclusive()
    address_lock(email=contact.email)
    locked = Contact.objects.select_for_update().filter(pk=contact.pk).first()
    if locked is None:  # Erased or deleted by another request while this one waited.
        raise ObjectNotFound("This contact is gone: erased or deleted meanwhile.")
    contact = locked
    # Its own address, and those it held before that no contact holds now: all of them its own.
    # Never an address its integrator mailed under its user_id: someone else's, maybe.
    emails = contact_addresses_own(contact=contact, also=contact_addresses_campaigned(contact_id=contact.pk))
    former = emails - {contact.email}
    named = tracking_rows_naming(emails=emails)
    execution_ids = step_executions_erase(contact_id=contact.pk, emails=emails, named=named)
    tracked_links_erase(emails=emails)
    tracking_erase(execution_ids=execution_ids, emails=emails)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk)
    ).update(object_repr=ERASED)
    text_redact(LogEntry.objects.all(), field="object_repr", emails=emails)
    # What a change did names its objects too (a membership added on the contact's page), as JSON.
    escaped = {json.dumps(email)[1:-1] for email in emails}
    text_redact(LogEntry.objects.all(), field="change_message", emails=emails | escaped)
    # Another contact's consent history may name it: who unsubscribed through a link, at it.
    for field in ("actor", "reason"):
        text_redact(ConsentChange.objects.all(), field=field, emails=emails)
    contact_imports_forget(emails=emails)
    return contact_profile_erase(contact=contact, by=by, former=sorted(former))
