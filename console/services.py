"""Staff's second factor: enrolling an authenticator app, backup codes, checking a code."""

import math

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django_otp import verify_token
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from console.exceptions import SecondFactorRefused

#: Backup codes made at enrolment, each good once, for a staff member without their phone.
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


def totp_device_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """Return the user's authenticator app being enrolled, with a new secret if none is pending."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def totp_device_confirm(*, device: TOTPDevice, token: str) -> list[str]:
    """Confirm an enrolment with the app's current code; return the new backup codes.

    Raises SecondFactorRefused when the code is wrong (or comes too soon after wrong ones).
    """
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, confirmed=False)
        wait = _throttled_seconds(device)
        # A wrong code commits, not raises, inside the transaction: django-otp's count of failures
        # is what makes the next attempt wait.
        right = not wait and device.verify_token(token.strip())
        if right:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
            return backup_codes_create(user=device.user)
    if wait:
        # The person at the login page reads these: in their language.
        raise SecondFactorRefused(
            ngettext(
                "Too many wrong codes in a row: wait %(seconds)s second, then try again.",
                "Too many wrong codes in a row: wait %(seconds)s seconds, then try again.",
                wait,
            )
            % {"seconds": wait}
        )
    raise SecondFactorRefused(gettext("That code is not right: type the six digits your app shows now."))


def backup_codes_create(*, user: AbstractBaseUser) -> list[str]:
    """Replace the user's backup codes with BACKUP_CODE_COUNT new ones, and return them."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def second_factor_verify(*, user: AbstractBaseUser, token: str) -> Device:
    """Return the user's device that accepts this code: the app's six digits, or a backup code.

    Raises SecondFactorRefused when none does. Each device slows guessing by itself (django-otp
    waits 1, 2, 4, 8… seconds after successive wrong codes before it checks another).
    """
    token = token.strip().replace(" ", "").lower()
    kind: type[Device] = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
    devices = list(kind.objects.filter(user=user, confirmed=True).order_by("pk"))
    if not devices and kind is TOTPDevice:
        raise SecondFactorRefused(gettext("You have no authenticator app enrolled: ask a superuser to help."))
    waits = []
    for device in devices:
        wait = _throttled_seconds(device)
        if wait:
            waits.append(wait)
            continue
        verified = verify_token(user, device.persistent_id, token)
        if verified is not None:
            return verified
    if waits and len(waits) == len(devices):
        raise SecondFactorRefused(
            ngettext(
                "Too many wrong codes in a row: wait %(seconds)s second, then type the current code.",
                "Too many wrong codes in a row: wait %(seconds)s seconds, then type the current code.",
                min(waits),
            )
            % {"seconds": min(waits)}
        )
    raise SecondFactorRefused(
        gettext("That code is not right, or was already used: type the current one from your app.")
    )


def _throttled_seconds(device: Device) -> int:
    """Return how many seconds the device still refuses to check codes after wrong ones (0: none)."""
    allowed, details = device.verify_is_allowed()
    if allowed or not details or details.get("reason") != VerifyNotAllowed.N_FAILED_ATTEMPTS:
        return 0
    return max(1, math.ceil((details["locked_until"] - timezone.now()).total_seconds()))
