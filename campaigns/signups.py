"""Signups through a form: the evidence kept, and what a confirmed signup does to the audience.

A signup is stored as it came (a `Signup`) and changes the audience only when it is applied: at
once on a single opt-in form, after its confirmation link is followed on a double opt-in one. Who
unsubscribed earlier always confirms first, whatever the form. A new address that must confirm is
kept as a `pending` contact (campaigns never mail one) so its confirmation can be personalised;
an address already on file waits unchanged. Mail and links are tracking's (tracking.signups).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.audience import list_add_contacts
from campaigns.consent import ConsentActor, contact_save_keeping_consent, contact_status_change
from campaigns.models import ConsentChange, Contact, ContactConsent, Signup, SignupForm
from core.addresses import email_normalize


@dataclass(frozen=True)
class SignupFields:
    """What a visitor gave a form, checked: the address, names, and the lists they ticked."""

    email: str
    first_name: str = ""
    last_name: str = ""
    #: The lists chosen, when the form lets visitors choose; empty means all the form's lists.
    list_ids: tuple[int, ...] = ()


def signup_create(*, form: SignupForm, fields: SignupFields, ip: str) -> tuple[Signup, bool]:
    """Record a signup; return it and whether its address must confirm before it is applied.

    `ip` is the address as the IP policy keeps it. A new address that must confirm becomes a
    pending contact, with the names given; one on file is left as it is until they confirm.
    """
    email = email_normalize(fields.email)
    lists = form.lists.all()
    if form.visitor_chooses_lists and fields.list_ids:
        lists = lists.filter(pk__in=fields.list_ids)
    with transaction.atomic():
        contact = Contact.objects.filter(email=email).first()
        confirm = form.opt_in == SignupForm.OptIn.DOUBLE or (
            contact is not None and contact.status == Contact.Status.UNSUBSCRIBED
        )
        if confirm and contact is None:
            contact, _created = Contact.objects.get_or_create(
                email=email,
                defaults={
                    "first_name": fields.first_name,
                    "last_name": fields.last_name,
                    "status": Contact.Status.PENDING,
                },
            )
        signup = Signup.objects.create(
            form=form,
            form_name=form.name,
            email=email,
            first_name=fields.first_name,
            last_name=fields.last_name,
            consent_text=form.consent_text,
            language=form.language,
            ip=ip,
            contact=contact,
        )
        signup.lists.set(lists)
    return signup, confirm


def signup_apply(*, signup: Signup, confirmed: bool) -> Contact:
    """Subscribe a signup's address to its lists and record the consent; idempotent.

    `confirmed`: its owner followed the confirmation link (else a single opt-in form applies it as
    it comes). A contact who unsubscribed or is pending is subscribed, audited as the contact's own
    choice; names given replace those on file, blank ones do not.
    """
    now = timezone.now()
    with transaction.atomic():
        signup = Signup.objects.select_for_update().get(pk=signup.pk)
        if signup.status != Signup.Status.PENDING:
            return Contact.objects.get(email=signup.email)
        contact, created = Contact.objects.get_or_create(
            email=signup.email,
            defaults={
                "first_name": signup.first_name,
                "last_name": signup.last_name,
                "status": Contact.Status.SUBSCRIBED,
            },
        )
        if not created:
            # Only the address's owner, confirming, renames a contact on file.
            names = {
                name: getattr(signup, name) for name in ("first_name", "last_name") if getattr(signup, name)
            }
            if names and confirmed:
                contact_save_keeping_consent(contact=contact, values=names)
            if contact.status != Contact.Status.SUBSCRIBED:
                actor = ConsentActor(
                    by=ConsentChange.By.CONTACT, name=signup.email, via=ConsentChange.Via.SIGNUP_FORM
                )
                said = (
                    gettext("Confirmed a signup through the form “%(form)s”.")
                    if confirmed
                    else gettext("Signed up through the form “%(form)s”.")
                )
                contact_status_change(
                    contact=contact,
                    status=Contact.Status.SUBSCRIBED,
                    actor=actor,
                    reason=said % {"form": signup.form_name},
                    resubscribe=True,
                )
        list_add_contacts(list_ids=list(signup.lists.values_list("pk", flat=True)), contact_ids=[contact.pk])
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


def signup_recent_count(*, email: str, hours: int = 24) -> int:
    """Count the signups an address made in the last hours (for the per-address limit)."""
    since = timezone.now() - timedelta(hours=hours)
    return Signup.objects.filter(email=email_normalize(email), created_at__gte=since).count()


def signups_expire(*, days: int) -> tuple[int, int]:
    """Delete signups left unconfirmed for `days`, and the pending contacts only they kept.

    An unconfirmed address is someone else's data held without consent. Return (signups,
    contacts) deleted. A pending contact another live signup still waits on is kept.
    """
    cutoff = timezone.now() - timedelta(days=days)
    expired = Signup.objects.filter(status=Signup.Status.PENDING, created_at__lt=cutoff)
    _total, signups = expired.delete()
    waiting = Signup.objects.filter(email=OuterRef("email"), status=Signup.Status.PENDING)
    pending = Contact.objects.filter(status=Contact.Status.PENDING, created_at__lt=cutoff)
    _total, contacts = pending.exclude(Exists(waiting)).delete()
    return signups.get(Signup._meta.label, 0), contacts.get(Contact._meta.label, 0)
