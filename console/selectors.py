"""What the login pages read: when a lockout ends, whether a staff member has a second factor."""

from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max
from django_otp import user_has_device


def login_lockout_ends(*, username: str, address: str) -> datetime | None:
    """Return when this username may log in again from this address, or None if it is not locked."""
    last = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(
        last=Max("attempt_time")
    )["last"]
    return last + settings.AXES_COOLOFF_TIME if last else None


def second_factor_enrolled(*, user: AbstractBaseUser) -> bool:
    """Say whether the user has a confirmed device (an authenticator app or backup codes)."""
    return user_has_device(user, confirmed=True)
