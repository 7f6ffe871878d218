"""Consent: a contact's status changes, each checked and written to its audit trail (ConsentChange).

A contact who unsubscribed is subscribed again only when the caller says so explicitly
(`resubscribe`) and gives a reason; unsubscribing needs neither. Every path that changes a status
comes through here: the API, bulk upserts and imports, the admin, the unsubscribe page and
one-click. An opt-out outlives its contact: an address that leaves (deleted, or changed) is kept
as an `unsubscribe` suppression, and so is every address one who unsubscribes held before; an
address suppressed for another reason is marked `opted_out` instead, so lifting that reason
leaves the opt-out.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.erasure import address_erasure, addresses_erased, erased_refusal, erasures_hold_off
from campaigns.exceptions import ErasedNotResubscribed, ResubscribeRefused
from campaigns.models import ConsentChange, Contact, Suppression
from core.db import server_bound_cursor
from core.exceptions import ObjectNotFound
from core.text import text_draws

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from core.models import ApiKey


#: Why a request may not set `pending` or `transactional` (marked for translation, said by gettext).
STATUS_NOT_GIVEN = gettext_noop(
    "Only a signup form or a transactional email gives this status; set subscribed or unsubscribed."
)


def reason_given(reason: str) -> bool:
    """Tell whether a reason says something: a character that draws, not only blank-looking ones."""
    return text_draws(reason)


@dataclass(frozen=True)
class ConsentActor:
    """Who changes a status (ConsentChange.By and a name), which way (ConsentChange.Via)."""

    by: str
    name: str
    via: str
    user: "User | None" = None


CONSENT_SYSTEM = ConsentActor(by=ConsentChange.By.SYSTEM, name="system", via=ConsentChange.Via.SYSTEM)


def consent_actor_of_key(*, api_key: "ApiKey", via: str) -> ConsentActor:
    """Return the actor for a change an API key asks for."""
    return ConsentActor(
        by=ConsentChange.By.API_KEY, name=f"API key “{api_key.name}” ({api_key.prefix})", via=via
    )


#: resubscribe_refusal's words for a caller who may not read the contact: neither its address nor
#: when it left, nor which of the two statuses it holds.
RESUBSCRIBE_REFUSED_UNREAD = (
    "This contact has unsubscribed, or has yet to confirm a signup. To subscribe them, send "
    '"resubscribe": true with a "reason" (why they may be mailed).'
)


def resubscribe_refusal(*, contact: Contact) -> ResubscribeRefused:
    """Return the error that says how to subscribe a contact who unsubscribed, or who has yet to
    confirm a signup."""
    if contact.status == Contact.Status.PENDING:
        return ResubscribeRefused(
            f"{contact.email} has yet to confirm their signup. To subscribe them anyway, send "
            '"resubscribe": true with a "reason" (why they may be mailed).'
        )
    since = f" on {contact.unsubscribed_at:%Y-%m-%d}" if contact.unsubscribed_at else ""
    return ResubscribeRefused(
        f"{contact.email} unsubscribed{since}. To subscribe them again, send "
        '"resubscribe": true with a "reason" (why they may be mailed again).'
    )


# One INSERT for a batch's changes: the per-row values travel as three arrays, the rest once.
_CONSENT_INSERT = (
    "INSERT INTO {table} (contact_id, from_status, to_status, by, actor, user_id, via, reason, at) "
    "SELECT contact_id, from_status, to_status, %s, %s, %s, %s, %s, %s "
    "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS change(contact_id, from_status, to_status)"
)


def consent_changes_record(
    *, changes: list[tuple[int, str, str]], actor: ConsentActor, reason: str, at=None
) -> None:
    """Write the audit rows of (contact id, from status, to status) changes in one INSERT.

    Every path that changes a status comes through here, so a contact made unsubscribed keeps the
    opt-out of the addresses it held before here too, whichever way it left.
    """
    if not changes:
        return
    at = at or timezone.now()
    leaving = [
        contact_id for contact_id, _from, to_status in changes if to_status == Contact.Status.UNSUBSCRIBED
    ]
    if leaving:
        _former_opt_outs_keep(contact_ids=leaving, source=_SOURCE_OF_VIA.get(actor.via, _SOURCE_ELSE), at=at)
    actor_name, reason = actor.name[:200], reason.strip()[:500]
    user_id = actor.user.pk if actor.user is not None else None
    if connection.vendor != "postgresql":
        ConsentChange.objects.bulk_create(
            ConsentChange(
                contact_id=contact_id,
                from_status=from_status,
                to_status=to_status,
                by=actor.by,
                actor=actor_name,
                user_id=user_id,
                via=actor.via,
                reason=reason,
                at=at,
            )
            for contact_id, from_status, to_status in changes
        )
        return
    # 10,000 model instances cost seconds; three arrays cost milliseconds (docs/benchmarks).
    contact_ids, from_statuses, to_statuses = (list(column) for column in zip(*changes, strict=True))
    with server_bound_cursor() as cursor:
        cursor.execute(
            _CONSENT_INSERT.format(table=ConsentChange._meta.db_table),
            [actor.by, actor_name, user_id, actor.via, reason, at, contact_ids, from_statuses, to_statuses],
        )


def contact_hold(contact: Contact) -> Contact:
    """Lock a contact for a choice of their own (an unsubscribe, a break, their lists), in the
    order an erasure takes its locks: the erasures' lock, then the contact. Call it first in the
    transaction, so neither waits on the other's half. Return its status as stored; ObjectNotFound
    if the contact is gone, or holds another address than the one read."""
    erasures_hold_off()
    stored = contact_locked(contact, "pk", "status", "email")
    if stored.email != contact.email:
        # Its address changed since the choice was read: the link speaks for the old address.
        raise ObjectNotFound(f"Contact {contact.pk} changed its address meanwhile.")
    return stored


@transaction.atomic
def contact_locked(contact: Contact, *fields: str) -> Contact:
    """Return the contact's row as stored, locked; one deleted since it was read is not found (404)."""
    try:
        return Contact.objects.select_for_update().only(*fields).get(pk=contact.pk)
    except Contact.DoesNotExist:
        raise ObjectNotFound(f"Contact {contact.pk} was deleted meanwhile.") from None


@transaction.atomic  # The row's lock lasts until its audit entry is written.
def contact_status_change(
    *, contact: Contact, status: str, actor: ConsentActor, reason: str = "", resubscribe: bool = False
) -> bool:
    """Set a contact's consent status under a row lock and audit it; return whether it changed.

    Raises ResubscribeRefused when a contact who unsubscribed would be subscribed again without
    resubscribe and a non-empty reason. A re-subscribe clears unsubscribed_at; the trail keeps it.
    The contact passed in gets the stored status and unsubscribed_at.
    """
    stored = contact_locked(contact, "status", "unsubscribed_at", "email")
    if status not in Contact.STATUSES_GIVEN:
        # Pending and transactional-only are kept, never set: a request echoing one that the
        # contact has left meanwhile (a confirmation landing during a PUT) leaves them be.
        status = stored.status
    if stored.status != status:
        needs_reason = (
            status == Contact.Status.SUBSCRIBED and stored.status in Contact.SUBSCRIBING_NEEDS_REASON
        )
        if needs_reason and not (resubscribe and reason_given(reason)):
            raise resubscribe_refusal(contact=stored)
        if status == Contact.Status.SUBSCRIBED and address_erasure(email=stored.email) is not None:
            # Back only for mail its integrator sends: subscribed by nobody but its owner, whose
            # confirmed signup lifts the erasure first (campaigns.signups).
            raise ErasedNotResubscribed(erased_refusal())
        now = timezone.now()
        consent_changes_record(
            changes=[(stored.pk, stored.status, status)], actor=actor, reason=reason, at=now
        )
        stored.status = status
        stored.unsubscribed_at = now if status == Contact.Status.UNSUBSCRIBED else None
        Contact.objects.filter(pk=stored.pk).update(
            status=stored.status, unsubscribed_at=stored.unsubscribed_at, updated_at=now
        )
        changed = True
    else:
        changed = False
    contact.status, contact.unsubscribed_at = stored.status, stored.unsubscribed_at
    return changed


#: A contact's consent: changed only by contact_status_change, which audits it.
CONSENT_COLUMNS = ("status", "unsubscribed_at")


def contact_save_keeping_consent(*, contact: Contact, values: dict[str, Any]) -> None:
    """Save these values of a contact's fields (a form's or a PATCH's), never its consent.

    The page or request read the contact before an unsubscribe may have landed; a save of every
    column would write the old status back, undoing the opt-out with no trace in the history. The
    consent as stored now is read under the row's lock instead, and left alone.
    """
    columns = {field.name for field in Contact._meta.concrete_fields} - set(CONSENT_COLUMNS)
    changed = {name: value for name, value in values.items() if name in columns}
    for name, value in changed.items():
        setattr(contact, name, value)
    stored = contact_locked(contact, *CONSENT_COLUMNS)
    contact.status, contact.unsubscribed_at = stored.status, stored.unsubscribed_at
    contact.save(update_fields=[*changed, "updated_at"])


#: Which way an unsubscribe came, as the source of the opt-outs it keeps for former addresses.
_SOURCE_OF_VIA: dict[str, str] = {
    ConsentChange.Via.API: Suppression.Source.API,
    ConsentChange.Via.API_BULK: Suppression.Source.API,
    ConsentChange.Via.API_IMPORT: Suppression.Source.IMPORT,
    ConsentChange.Via.ADMIN_IMPORT: Suppression.Source.IMPORT,
    ConsentChange.Via.ADMIN: Suppression.Source.ADMIN,
    ConsentChange.Via.UNSUBSCRIBE_PAGE: Suppression.Source.TRACKING,
    ConsentChange.Via.ONE_CLICK: Suppression.Source.TRACKING,
}
#: The system's own changes (a script, the demo) are the operators', as the admin's are.
_SOURCE_ELSE = Suppression.Source.ADMIN


def suppressions_opt_out(*, emails: list[str]) -> int:
    """Mark the suppressions of these addresses (in stored form) as their owners' opt-outs too;
    return how many were not yet. Lifting a bounce or complaint then leaves the opt-out
    (campaigns.suppressions.suppression_remove), where `get_or_create` kept the first reason."""
    marked = 0
    for start in range(0, len(emails), 2000):
        chunk = Suppression.objects.filter(email__in=emails[start : start + 2000], opted_out=False)
        marked += chunk.update(opted_out=True)
    return marked


def _opt_outs_keep(*, left: list[tuple[str, datetime | None]], source: str, why: str) -> None:
    """Keep the opt-outs of addresses that leave the contacts, as `unsubscribe` suppressions."""
    if not left:
        return
    Suppression.objects.bulk_create(
        [
            Suppression(
                email=email,
                reason=Suppression.Reason.UNSUBSCRIBE,
                opted_out=True,
                source=source,
                detail=f"Unsubscribed{f' on {since:%Y-%m-%d}' if since else ''}; kept when {why}.",
            )
            for email, since in left
        ],
        ignore_conflicts=True,  # An address already suppressed keeps its first reason…
    )
    suppressions_opt_out(emails=[email for email, _since in left])  # …and the opt-out with it.


def _former_own(*, emails: set[str]) -> set[str]:
    """Return those of a contact's former addresses still its own: none holds them now (one that
    does speaks of them, as campaigns.erasure.contact_addresses_own has it), nor were they erased
    (the erasure entry keeps every campaign from them already)."""
    if not emails:
        return set()
    taken = set(Contact.objects.filter(email__in=emails).values_list("email", flat=True))
    return emails - taken - addresses_erased(emails=emails - taken)


def _former_opt_outs_keep(*, contact_ids: list[int], source: str, at: datetime) -> None:
    """Keep the opt-out of the addresses these contacts, unsubscribed now, held before: campaigns
    must not reach them there either (an address changed before the unsubscribe)."""
    held = Contact.objects.filter(pk__in=contact_ids).exclude(former_emails=[])
    former = {email for emails in held.values_list("former_emails", flat=True) for email in emails}
    left: list[tuple[str, datetime | None]] = [(email, at) for email in sorted(_former_own(emails=former))]
    _opt_outs_keep(left=left, source=source, why="its contact, who had held it before, unsubscribed")


#: Sent with `contact_ids` just before contacts are deleted, in the deleting transaction: the
#: apps above that count what their mail did take it out (tracking.apps connects it).
contacts_deleting = Signal()


@transaction.atomic
def contacts_delete(*, contacts: QuerySet[Contact], source: str) -> int:
    """Delete contacts; an address that unsubscribed stays so, as an `unsubscribe` suppression, and
    so do the addresses such a contact held before.

    The consent history goes with the contact, so without it a contact created again under the
    same address (a sync that deletes and re-adds) would be mailed again with no trace. Such a
    suppression stops campaigns, not transactional mail (delivery.messages), as an unsubscribe does.
    """
    # Erasures held off first, as every writer of contacts does: an erasure writes other contacts'
    # rows too (their former addresses), after locks a delete takes in the other order.
    erasures_hold_off()
    # Locked first: an unsubscribe landing meanwhile waits, then finds no contact, or lands first
    # and is kept here.
    rows = list(
        contacts.select_for_update().values_list("pk", "email", "status", "unsubscribed_at", "former_emails")
    )
    gone = [
        (email, since, former)
        for _pk, email, status, since, former in rows
        if status == Contact.Status.UNSUBSCRIBED
    ]
    # Its former addresses too: each one it held kept the opt-out it gave, whenever it left them.
    own = _former_own(emails={email for _email, _since, former in gone for email in former})
    left_before = [(email, since) for _email, since, former in gone for email in former if email in own]
    # The apps above lock the contacts' sent emails before the opt-outs are written, in the order
    # an SES event for one of them takes the same locks (its email, then the suppression): the
    # other way round, the two waited on each other.
    contacts_deleting.send(sender=Contact, contact_ids=[pk for pk, *_rest in rows])
    _opt_outs_keep(
        left=[(email, since) for email, since, _former in gone], source=source, why="the contact was deleted"
    )
    _opt_outs_keep(left=left_before, source=source, why="the contact who had held it before was deleted")
    _, deleted = contacts.delete()
    return deleted.get(Contact._meta.label, 0)


def contact_address_leave(*, contact: Contact, new_email: str, source: str) -> None:
    """Before a contact's address changes: keep the old one's opt-out, as contacts_delete does,
    and the old address among its former ones (Contact.former_emails).

    Call inside the transaction that saves the change.
    """
    stored = contact_locked(contact, "email", "status", "unsubscribed_at", "former_emails")
    if stored.email == new_email:
        return
    if stored.status == Contact.Status.UNSUBSCRIBED:
        _opt_outs_keep(
            left=[(stored.email, stored.unsubscribed_at)], source=source, why="its address changed"
        )
    former = [email for email in stored.former_emails if email not in (stored.email, new_email)]
    former.append(stored.email)
    Contact.objects.filter(pk=stored.pk).update(former_emails=former)
    contact.former_emails = former


@transaction.atomic
def contacts_unsubscribe(*, contacts: QuerySet[Contact], actor: ConsentActor, reason: str) -> int:
    """Unsubscribe those among contacts not unsubscribed yet (subscribed, or yet to confirm a
    signup) in one statement, each change audited; return how many changed. Rows are locked in id
    order first, so a concurrent change is neither undone nor audited twice."""
    rows = list(
        contacts.exclude(status=Contact.Status.UNSUBSCRIBED)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "status")
    )
    if not rows:
        return 0
    now = timezone.now()
    Contact.objects.filter(pk__in=[pk for pk, _status in rows]).update(
        status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
    )
    consent_changes_record(
        changes=[(pk, status, Contact.Status.UNSUBSCRIBED) for pk, status in rows],
        actor=actor,
        reason=reason,
        at=now,
    )
    return len(rows)


def contact_unsubscribe(
    *, contact: Contact, actor: ConsentActor = CONSENT_SYSTEM, reason: str = ""
) -> Contact:
    """Mark a contact unsubscribed, with its audit entry; idempotent."""
    contact_status_change(contact=contact, status=Contact.Status.UNSUBSCRIBED, actor=actor, reason=reason)
    return contact


@transaction.atomic
def contact_resubscribe(*, contact: Contact, actor: ConsentActor, reason: str) -> bool:
    """Subscribe a contact who had unsubscribed again, at their own request; False if suppressed.

    A suppressed address (a bounce, a complaint) stays unmailable: SES would refuse it anyway.
    Raises ObjectNotFound when the contact was deleted or erased meanwhile.
    """
    contact_hold(contact)
    if Suppression.objects.filter(email=contact.email).exists():
        return False
    contact_status_change(
        contact=contact, status=Contact.Status.SUBSCRIBED, actor=actor, reason=reason, resubscribe=True
    )
    return True
