"""Small helpers shared by tests: processes and servers, waiting, metrics, staff logins."""

import contextlib
import socket
import time
from base64 import b32decode


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    """Poll predicate until it is true or timeout seconds pass; return whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def metric_value(name: str, **labels: str) -> float:
    """Return a sample of the operator metrics as /metrics would show it now (0 if absent)."""
    from console.prometheus import REGISTRY
    from core.fleet_metrics import metrics_flush

    metrics_flush()
    return REGISTRY.get_sample_value(name, labels) or 0.0


def totp_code(key: bytes, *, at: float | None = None) -> str:
    """Return the six digits an authenticator app with this secret shows now (or at a moment)."""
    from django_otp.oath import TOTP

    clock = TOTP(key)
    if at is not None:
        clock.time = at
    return f"{clock.token():06d}"


def totp_code_from_secret(secret: str, *, at: float | None = None) -> str:
    """Return the code for a base32 secret as the enrolment page shows it (spaces allowed)."""
    return totp_code(b32decode(secret.replace(" ", "")), at=at)


def staff_login(client, user):
    """Log a staff member in as the admin demands: a session (as force_login makes), then the
    second-factor step passed with the current code of an authenticator app enrolled for them.

    A new device each time: a code already used is refused, as the real step refuses it.
    """
    from django.urls import reverse
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import TOTPDeviceFactory

    TOTPDevice.objects.filter(user=user, name="Test phone").delete()
    device = TOTPDeviceFactory(user=user, name="Test phone")
    client.force_login(user)
    answer = client.post(reverse("admin:second_factor"), {"token": totp_code(device.bin_key)})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    return client


@contextlib.contextmanager
def database_down():
    """Point the default connection at a port where nothing listens, then restore it."""
    from django.db import connection

    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1  # Nothing listens there: every connection is refused.
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


def role_client(role: str):
    """Return a test client logged in as a new staff member of this role (a group: console/roles.py)."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user = User.objects.create_user(username=role.lower(), password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    staff_login(client, user)
    return client
