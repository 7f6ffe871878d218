"""Signup forms in public: the abuse limits, the confirmation email and its signed link.

campaigns.signups keeps the evidence and changes the audience; this module decides whether a
signup is taken and mailed. Whatever it decides about an address (new, on file, suppressed, asked
too often), the visitor is answered the same: a form must not tell who is on the list.
"""

import copy
import hashlib
import ipaddress
import logging
import time
from datetime import timedelta
from enum import StrEnum
from typing import cast

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from campaigns.erasure import erasures_hold_off
from campaigns.models import Contact, ListMembership, Signup, SignupForm, Template
from campaigns.rendering import template_context
from campaigns.signups import (
    SignupFields,
    Taken,
    contacts_pending_unwritten,
    signup_apply,
    signup_receive,
    signup_take,
)
from core.api.auth import rate_counter_increment
from core.http import ip_parse
from delivery.messages import message_queue_own
from delivery.models import StepExecution
from tracking.erasure import tracking_erase
from tracking.hits import ip_for_storage
from tracking.models import SoftBounceStreak

logger = logging.getLogger(__name__)

_SIGNER_SALT = "campanile.signup-confirm"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SIGNER_SALT, algorithm="sha256")


def signup_confirm_url(*, signup: Signup) -> str:
    """Return the signed link that confirms a signup; it expires after SIGNUP_CONFIRM_DAYS."""
    return settings.PUBLIC_BASE_URL + reverse("signup-confirm", args=[_signer().sign(str(signup.pk))])


def signup_by_token(*, token: str) -> Signup | None:
    """Return the signup a confirmation token names; None when forged, expired or deleted."""
    try:
        value = _signer().unsign(token, max_age=timedelta(days=settings.SIGNUP_CONFIRM_DAYS))
    except signing.BadSignature:  # SignatureExpired included.
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        return None
    return Signup.objects.filter(pk=int(value)).first()


def signup_ip_allowed(*, client_ip: str) -> bool:
    """Count a signup against its network's hourly limit; False once past SIGNUP_MAX_PER_IP.

    IPv6 is counted per /64, what one subscriber line is given. The counter is keyed by a keyed
    hash and forgotten after the hour. With Redis unreachable the signup is let through: the
    per-address limit, kept in the database, still bounds what any address is sent.
    """
    ip = ip_parse(client_ip)
    if ip is None:
        return True
    network = str(ip) if ip.version == 4 else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:signup:{network}".encode()).hexdigest()[:32]
    window = int(time.time() // 3600)
    try:
        count = rate_counter_increment(key=f"campanile:signup-ip:{digest}:{window}", ttl=3601)
    except RedisError:
        logger.warning("Signup limit per network not counted: Redis is unreachable.")
        return True
    return count <= settings.SIGNUP_MAX_PER_IP


def signup_ip_retry_after() -> int:
    """Return the seconds until the per-network counters start again (they count clock hours)."""
    return 3600 - int(time.time()) % 3600 + 1


def signup_captcha_passed(*, request: HttpRequest) -> bool:
    """Ask the operator's captcha check (SIGNUP_CAPTCHA_CHECK) about a request; a check that fails
    to run counts as not passed."""
    try:
        return bool(import_string(settings.SIGNUP_CAPTCHA_CHECK)(request))
    except Exception:
        logger.exception("The captcha check %s failed to run.", settings.SIGNUP_CAPTCHA_CHECK)
        return False


class Outcome(StrEnum):
    """What became of a signup; for logs and tests, never shown to the visitor."""

    MAILED = "mailed"
    SUBSCRIBED = "subscribed"
    DROPPED = "dropped"


def signup_submit(*, form: SignupForm, fields: SignupFields, client_ip: str) -> Signup:
    """Take a checked signup from a visitor: keep it, and have a worker decide on it.

    The visitor's answer waits on one INSERT, the same for every address, never on what becomes
    of it (suppressed, too often, already on file): a form must not tell, not even by its time.
    Only what TRACKING_IP_MODE allows of `client_ip` is kept.
    """
    signup = signup_receive(form=form, fields=fields, ip=ip_for_storage(client_ip))
    transaction.on_commit(lambda: _enqueue(signup.pk))
    return signup


def _enqueue(signup_id: int) -> None:
    from tracking.tasks import signup_process  # The tasks module imports this one.

    try:
        signup_process.apply_async((signup_id,), retry=False)
    except Exception:  # The broker is away: the sweep of waiting signups takes it within a minute.
        logger.warning("Signup %s waits for the sweep: the broker is unreachable.", signup_id)


def signup_process(*, signup_id: int) -> Outcome:
    """Decide on a received signup: drop it, apply it (single opt-in), or mail its confirmation.

    An address asked for more than SIGNUP_MAX_PER_ADDRESS times in a day, or on the suppression
    list, is dropped: neither kept nor mailed. Idempotent.
    """
    form = SignupForm.objects.filter(signups__pk=signup_id).select_related("confirmation_template").first()
    can_mail = form is not None and form.confirmation_template is not None and bool(form.from_email)
    # The decision and what follows it commit together: a worker dying between them leaves the
    # signup received, for the sweep, never pending with no subscription made or email queued.
    with transaction.atomic():
        signup, taken = signup_take(
            signup_id=signup_id, limit=settings.SIGNUP_MAX_PER_ADDRESS, can_mail=can_mail
        )
        if signup is None or form is None:
            return Outcome.DROPPED
        if taken == Taken.APPLY:
            # None: an opt-out landed meanwhile, which only a confirmation may undo.
            applied = signup_apply(signup=signup, confirmed=False)
            return Outcome.SUBSCRIBED if applied is not None else Outcome.DROPPED
        contact = cast(Contact, signup.contact)
        context = {"confirm_url": signup_confirm_url(signup=signup), "form_title": form.title}
        template = cast(Template, form.confirmation_template)
        message_queue_own(
            template=template,
            contact=contact,
            from_email=form.from_email,
            context=context | _names_withheld(contact),
        )
    return Outcome.MAILED


def _names_withheld(contact: Contact) -> dict:
    """Return the variables that show a pending contact to its confirmation without names.

    A pending contact's names may be what a visitor typed beside someone else's address (a link, a
    bidi trick), and its owner has confirmed nothing yet: the confirmation must not carry them.
    campaigns.signups makes pending contacts nameless; this covers one named before it did.
    """
    if contact.status != Contact.Status.PENDING or not (contact.first_name or contact.last_name):
        return {}
    unnamed = copy.copy(contact)
    unnamed.first_name = unnamed.last_name = ""
    return {"contact": template_context(contact=unnamed)["contact"]}


#: How long a received signup waits for its task before the sweep takes it.
SIGNUP_WAIT_SECONDS = 30


def signups_process_waiting(*, older_than_seconds: float = SIGNUP_WAIT_SECONDS) -> int:
    """Decide on the signups whose task never came (the broker was away); return how many."""
    since = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = Signup.objects.filter(status=Signup.Status.RECEIVED, created_at__lte=since)
    ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:1000])
    for signup_id in ids:
        signup_process(signup_id=signup_id)
    return len(ids)


def signup_address_subscribed(*, signup: Signup) -> bool:
    """Tell whether a signup's address is subscribed now (its link may have been confirmed long ago)."""
    return Contact.objects.filter(email=signup.email, status=Contact.Status.SUBSCRIBED).exists()


def signup_confirm(*, token: str) -> Signup | None:
    """Apply the signup a confirmation link names (again is harmless); None for a bad link."""
    signup = signup_by_token(token=token)
    if signup is None:
        return None
    signup_apply(signup=signup, confirmed=True)
    return Signup.objects.filter(pk=signup.pk).first()  # None if erased meanwhile.


@transaction.atomic
def signups_expire(*, days: int) -> tuple[int, int]:
    """Delete signups left unconfirmed for `days`, and the pending contacts they alone made.

    An unconfirmed address is someone else's data held without consent. A pending contact that
    anyone wrote to since (an import, the API, staff, a transactional email, a list) holds data of
    its own, and is kept; so is one another live signup still waits on. Return (signups,
    contacts) deleted.
    """
    # First, as an erasure takes it: the sweep deletes signups, then contacts; an erasure the other
    # way round, so one waits for the other rather than each holding what the other wants.
    erasures_hold_off()
    cutoff = timezone.now() - timedelta(days=days)
    undecided = (Signup.Status.RECEIVED, Signup.Status.PENDING)
    _total, signups = Signup.objects.filter(status__in=undecided, created_at__lt=cutoff).delete()
    waiting = Signup.objects.filter(email=OuterRef("email"), status__in=undecided)
    # Mail of its own: any ledger row but the confirmations Campanile sent under no API key.
    mailed = StepExecution.objects.filter(contact=OuterRef("pk")).exclude(
        step__isnull=True, message__api_key__isnull=True
    )
    listed = ListMembership.objects.filter(contact=OuterRef("pk"))
    only_the_signups = (
        contacts_pending_unwritten()
        .filter(created_at__lt=cutoff)
        .exclude(Exists(waiting))
        .exclude(Exists(mailed))
        .exclude(Exists(listed))
    )
    gone = list(only_the_signups.select_for_update().values_list("pk", "email"))
    # Their confirmations' events and notifications outlive the rows (events keep counting), so
    # they lose the address first, as an erasure's do: nobody is left to ask for that.
    confirmations = StepExecution.objects.filter(contact_id__in=[pk for pk, _email in gone])
    tracking_erase(execution_ids=list(confirmations.values_list("pk", flat=True)), emails=set())
    SoftBounceStreak.objects.filter(email__in=[email for _pk, email in gone]).delete()
    _total, contacts = only_the_signups.filter(pk__in=[pk for pk, _email in gone]).delete()
    return signups.get(Signup._meta.label, 0), contacts.get(Contact._meta.label, 0)
