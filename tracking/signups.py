"""Signup forms in public: the abuse limits, the confirmation email and its signed link.

campaigns.signups keeps the evidence and changes the audience; this module decides whether a
signup is taken and mailed. Whatever it decides about an address (new, on file, suppressed, asked
too often), the visitor is answered the same: a form must not tell who is on the list.
"""

import hashlib
import ipaddress
import logging
import time
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from campaigns.models import Signup, SignupForm, Suppression
from campaigns.signups import SignupFields, signup_apply, signup_create, signup_recent_count
from core.addresses import email_normalize
from core.api.auth import rate_counter_increment
from delivery.messages import message_queue_own
from tracking.hits import ip_for_storage

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
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
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
    SUPPRESSED = "suppressed"
    TOO_OFTEN = "too_often"
    NOT_MAILED = "not_mailed"


def signup_submit(*, form: SignupForm, fields: SignupFields, client_ip: str) -> str:
    """Take a checked signup: apply it, or mail its confirmation; return the Outcome.

    An address asked for SIGNUP_MAX_PER_ADDRESS times in a day, or on the suppression list, is
    neither stored nor mailed. `client_ip` is the visitor's; only what TRACKING_IP_MODE allows of
    it is kept with the signup.
    """
    email = email_normalize(fields.email)
    if signup_recent_count(email=email) >= settings.SIGNUP_MAX_PER_ADDRESS:
        logger.info("Signup for an address asked for too often today; not mailed.")
        return Outcome.TOO_OFTEN
    if Suppression.objects.filter(email=email).exists():
        return Outcome.SUPPRESSED
    signup, confirm = signup_create(form=form, fields=fields, ip=ip_for_storage(client_ip))
    if not confirm:
        signup_apply(signup=signup, confirmed=False)
        return Outcome.SUBSCRIBED
    template = form.confirmation_template
    if template is None or not form.from_email or signup.contact is None:
        # A single opt-in form with no confirmation email, for one who unsubscribed: they stay so.
        return Outcome.NOT_MAILED
    context = {"confirm_url": signup_confirm_url(signup=signup), "form_title": form.title}
    message_queue_own(template=template, contact=signup.contact, from_email=form.from_email, context=context)
    return Outcome.MAILED


def signup_confirm(*, token: str) -> Signup | None:
    """Apply the signup a confirmation link names (again is harmless); None for a bad link."""
    signup = signup_by_token(token=token)
    if signup is None:
        return None
    signup_apply(signup=signup, confirmed=True)
    signup.refresh_from_db()
    return signup
