"""Signups through a form: the evidence kept, and what a confirmed signup does to the audience.

A signup is stored as it came (a `Signup`) and changes the audience only when it is applied: at
once on a single opt-in form, after its confirmation link is followed on a double opt-in one. Who
unsubscribed earlier always confirms first, whatever the form. A new address that must confirm is
kept as a `pending` contact (campaigns never mail one), its confirmation's addressee; it holds no
names until its owner confirms, as anyone may type anything beside someone else's address and the
confirmation must not carry it. An address already on file waits unchanged. Mail and links are
tracking's (tracking.signups).
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from campaigns.consent import ConsentActor, contact_save_keeping_consent, contact_status_change
from campaigns.erasure import address_erasure, address_erasure_lift
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.memberships import list_add_contacts
from campaigns.models import ConsentChange, Contact, ContactConsent, Signup, SignupForm, Suppression
from campaigns.suppressions import suppression_remove
from campaigns.validators import validate_shown_name
from core.addresses import email_normalize


@dataclass(frozen=True)
class SignupFields:
    """What a visitor gave a form, checked: the address, names, and the lists they ticked."""

    email: str
    first_name: str = ""
    last_name: str = ""
    #: The lists chosen, when the form lets visitors choose; empty means all the form's lists.
    list_ids: tuple[int, ...] = ()


def signup_receive(*, form: SignupForm, fields: SignupFields, ip: str) -> Signup:
    """Keep a signup as it came, to be decided on by signup_take: the same one INSERT whoever the
    address belongs to, so the answer takes the same time for every address. `ip` is the address
    as the IP policy keeps it. Raises ValidationError, by field, for a name no one may be shown."""
    _names_check(fields)
    lists = form.lists.all()
    if form.visitor_chooses_lists and fields.list_ids:
        lists = lists.filter(pk__in=fields.list_ids)
    with transaction.atomic():
        signup = Signup.objects.create(
            form=form,
            form_name=form.name,
            email=email_normalize(fields.email),
            first_name=fields.first_name,
            last_name=fields.last_name,
            consent_text=form.consent_text,
            language=form.language,
            ip=ip,
        )
        signup.lists.set(lists)
    return signup


def _names_check(fields: SignupFields) -> None:
    """Raise ValidationError, by field, for a name that holds a control, bidi override or invisible
    space: every way in (the form's page, the API) is held to the model's check."""
    errors = {}
    for name in ("first_name", "last_name"):
        try:
            validate_shown_name(getattr(fields, name))
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)


class Taken(StrEnum):
    """What signup_take decided."""

    #: Apply it now: a single opt-in form, for someone who may join without confirming.
    APPLY = "apply"
    #: Its address's owner must confirm: the signup waits, pending.
    CONFIRM = "confirm"
    #: Dropped: the address is suppressed, or signed up too often today, or would need a
    #: confirmation the form cannot send.
    DROPPED = "dropped"


def signup_take(*, signup_id: int, limit: int, can_mail: bool) -> tuple[Signup | None, Taken]:
    """Decide on a received signup, one address at a time; return it (None once dropped) and why.

    Under a lock on the address: at most `limit` signups an address in 24 hours are kept, however
    many arrive at once. A suppressed address is dropped, but an opt-out kept as a suppression
    (its contact deleted) may rejoin by confirming. Who must confirm (a double opt-in form, one who
    unsubscribed) and is new becomes a pending contact. `can_mail`: the form can send its
    confirmation email.
    """
    email = Signup.objects.filter(pk=signup_id).values_list("email", flat=True).first()
    if email is None:
        return None, Taken.DROPPED  # Gone: erased, or expired.
    with transaction.atomic():
        # The address first, then the signup: an erasure takes the address, then deletes signups.
        address_lock(email=email)
        received = Signup.objects.select_for_update().filter(pk=signup_id, status=Signup.Status.RECEIVED)
        signup = received.first()
        if signup is None:
            return None, Taken.DROPPED  # Decided already (a task delivered twice), or erased.
        since = timezone.now() - timedelta(hours=24)
        kept = Signup.objects.filter(email=signup.email, created_at__gte=since).exclude(
            status=Signup.Status.RECEIVED
        )
        reasons = set(Suppression.objects.filter(email=signup.email).values_list("reason", flat=True))
        contact = Contact.objects.filter(email=signup.email).first()
        erasure = address_erasure(email=signup.email)
        if erasure is not None:
            # Erased: rejoins as one who unsubscribed does, by confirming; a bounce or complaint
            # it held still drops it.
            reasons.add(erasure.suppression_reason or Suppression.Reason.UNSUBSCRIBE)
        opted_out = Suppression.Reason.UNSUBSCRIBE in reasons or (
            contact is not None and contact.status == Contact.Status.UNSUBSCRIBED
        )
        form = SignupForm.objects.filter(signups=signup).first()
        confirm = opted_out or form is None or form.opt_in == SignupForm.OptIn.DOUBLE
        if kept.count() >= limit or reasons - {Suppression.Reason.UNSUBSCRIBE} or (confirm and not can_mail):
            signup.delete()
            return None, Taken.DROPPED
        if confirm and contact is None:
            # Nameless: the names typed reach the contact only when its owner confirms them.
            contact, created = Contact.objects.get_or_create(
                email=signup.email, defaults={"status": Contact.Status.PENDING}
            )
            if created:
                _contact_mark_unwritten(contact=contact)
        elif contact is not None:
            contacts_load_test_clear(contact_ids=[contact.pk])  # A visitor's signup holds it now.
        signup.status, signup.contact = Signup.Status.PENDING, contact
        signup.save(update_fields=["status", "contact"])
    return signup, Taken.CONFIRM if confirm else Taken.APPLY


def _contact_mark_unwritten(*, contact: Contact) -> None:
    """Mark a pending contact a signup just made as written by no one since: saved last when made.

    Its save stamps the two times a moment apart; made equal, any later write (which stamps the time
    it lands) tells it apart, however soon after. The expiry of signups deletes only those so marked.
    """
    Contact.objects.filter(pk=contact.pk).update(updated_at=F("created_at"))  # An update() stamps nothing.
    contact.updated_at = contact.created_at


def contacts_pending_unwritten() -> QuerySet[Contact]:
    """Return the pending contacts no one wrote to since a signup made them (_contact_mark_unwritten)."""
    return Contact.objects.filter(status=Contact.Status.PENDING, updated_at=F("created_at"))


def _opted_out(*, email: str) -> bool:
    """Tell whether an address said no to campaign mail: its contact unsubscribed, its opt-out is
    kept as a suppression, or it was erased (as signup_take judges it)."""
    return (
        Suppression.objects.filter(email=email, reason=Suppression.Reason.UNSUBSCRIBE).exists()
        or Contact.objects.filter(email=email, status=Contact.Status.UNSUBSCRIBED).exists()
        or address_erasure(email=email) is not None
    )


def _contact_of(signup: Signup) -> tuple[Contact, bool]:
    """Return the contact of a signup's address, made subscribed with its names if new."""
    defaults = {
        "first_name": signup.first_name,
        "last_name": signup.last_name,
        "status": Contact.Status.SUBSCRIBED,
    }
    return Contact.objects.get_or_create(email=signup.email, defaults=defaults)


def address_lock(*, email: str) -> None:
    """Hold a lock on an address until the transaction ends (PostgreSQL; SQLite writes one at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"campanile.address:{email}"]
            )


def signup_apply(*, signup: Signup, confirmed: bool) -> Contact | None:
    """Subscribe a signup's address to its lists and record the consent; idempotent.

    `confirmed`: its owner followed the confirmation link (else a single opt-in form applies it as
    it comes). A contact who unsubscribed or is pending is subscribed, audited as the contact's own
    choice; names given replace those on file, blank ones do not. A list the contact left
    themselves (ListDeparture) is joined again only when confirmed.
    """
    now = timezone.now()
    with transaction.atomic():
        address_lock(email=signup.email)  # Before the signup's row, as signup_take and an erasure.
        locked = Signup.objects.select_for_update().filter(pk=signup.pk).first()
        if locked is None:
            return None  # Gone since its link was read: erased, or expired.
        signup = locked
        if signup.status != Signup.Status.PENDING:
            return Contact.objects.filter(email=signup.email).first()  # None once it was deleted.
        if not confirmed and _opted_out(email=signup.email):
            # An opt-out landed after the signup was judged single opt-in (a one-click meanwhile):
            # only its owner's confirmation may undo it. It waits, pending, and expires.
            return None
        # Kept in the engine's English, as every stored note: the records are read by staff.
        said = (
            "Confirmed a signup through the form “%(form)s”."
            if confirmed
            else "Signed up through the form “%(form)s”."
        )
        why = said % {"form": signup.form_name}
        # Its owner's own choice: an opt-out kept for a deleted contact, or an erasure, gives way,
        # recorded as any removal of a suppression is.
        kept = Suppression.objects.filter(email=signup.email, reason=Suppression.Reason.UNSUBSCRIBE).first()
        if kept is not None:
            suppression_remove(suppression=kept, actor=_owner(signup), reason=why)
        if confirmed:
            address_erasure_lift(email=signup.email)
        contact, created = _contact_of(signup)
        if not created:
            contacts_load_test_clear(contact_ids=[contact.pk])
            # Only the address's owner, confirming, renames a contact on file. A pending one was
            # made nameless by a signup (signup_take): a single opt-in form fills in its blank
            # names, as it names a contact it makes.
            pending = contact.status == Contact.Status.PENDING
            names = {
                name: getattr(signup, name)
                for name in ("first_name", "last_name")
                if getattr(signup, name) and (confirmed or (pending and not getattr(contact, name)))
            }
            if names:
                contact_save_keeping_consent(contact=contact, values=names)
            if contact.status != Contact.Status.SUBSCRIBED:
                contact_status_change(
                    contact=contact,
                    status=Contact.Status.SUBSCRIBED,
                    actor=_owner(signup),
                    reason=why,
                    resubscribe=True,
                )
        # A list the contact left themselves is rejoined only by them: by this confirmation, never
        # by a single opt-in form that anyone may fill in with their address.
        list_ids = list(signup.lists.values_list("pk", flat=True))
        list_add_contacts(list_ids=list_ids, contact_ids=[contact.pk], rejoin=confirmed)
        ContactConsent.objects.create(
            contact=contact,
            basis=ContactConsent.Basis.CONSENT,
            source=ContactConsent.Source.FORM,
            detail=signup.form_name[:500],
            signup=signup,
            at=now,
        )
        signup.status = Signup.Status.CONFIRMED if confirmed else Signup.Status.ACCEPTED
        signup.confirmed_at = now if confirmed else None
        signup.contact = contact
        signup.save(update_fields=["status", "confirmed_at", "contact"])
    return contact


def _owner(signup: Signup) -> ConsentActor:
    """Return the address's owner, acting through the signup form, as a consent change's actor."""
    return ConsentActor(by=ConsentChange.By.CONTACT, name=signup.email, via=ConsentChange.Via.SIGNUP_FORM)
