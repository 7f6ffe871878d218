"""The admin's login defences: lockout after failed passwords, and the second factor after the password."""

import ipaddress
import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import StaffUserFactory, TOTPDeviceFactory
from tests.utils import staff_login, totp_code, totp_code_from_secret

pytestmark = pytest.mark.django_db

PASSWORD = "a long password 42"


def _log_in(client: Client, username: str, password: str, **extra):
    return client.post(reverse("admin:login"), {"username": username, "password": password}, **extra)


def test_failed_logins_lock_out_that_username_from_that_address_with_a_page_saying_when(settings):
    StaffUserFactory(username="ed")
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.ADMIN_LOGIN_FAILURE_LIMIT - 1):
        assert _log_in(client, "ed", "a guess").status_code == 200  # The form again, with its error.
    locked = _log_in(client, "ed", "a guess")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page
    ends = timezone.now() + timedelta(minutes=settings.ADMIN_LOGIN_COOLOFF_MINUTES)
    assert f"Try again after <strong>{timezone.localtime(ends):%H:%M}" in page
    # Even the right password is refused now, unread, and the end of the lockout does not move.
    assert _log_in(client, "ed", PASSWORD).status_code == 429
    # Someone else's guesses from elsewhere never lock ed out of his own address.
    assert _log_in(Client(REMOTE_ADDR="198.51.100.2"), "ed", PASSWORD).status_code == 302
    with time_machine.travel(ends + timedelta(seconds=5)):
        assert _log_in(client, "ed", PASSWORD).status_code == 302


def test_the_lockout_counts_the_client_behind_a_trusted_proxy_not_the_proxy(settings):
    settings.TRUSTED_PROXY_NETWORKS = (ipaddress.ip_network("10.0.0.0/8"),)
    StaffUserFactory(username="ed")
    proxy = "10.0.0.5"
    guesser = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    for _ in range(settings.ADMIN_LOGIN_FAILURE_LIMIT):
        response = _log_in(guesser, "ed", "a guess")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # ed, behind the same proxy from his own address, logs in.
    colleague = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert _log_in(colleague, "ed", PASSWORD).status_code == 302
    # A client without a trusted proxy cannot dodge the count by claiming another address.
    spoofer = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(settings.ADMIN_LOGIN_FAILURE_LIMIT):
        response = _log_in(spoofer, "ed", "a guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert response.status_code == 429


def test_staff_without_a_device_enrol_one_before_reaching_the_admin():
    StaffUserFactory(username="ed", is_superuser=True)
    client = Client()
    answer = _log_in(client, "ed", PASSWORD)
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("admin:second_factor_enrol"))
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
    enrol = client.get(reverse("admin:second_factor_enrol")).content.decode()
    assert "<svg" in enrol
    secret = re.search(r'id="second-factor-secret">([A-Z2-7 ]+)<', enrol).group(1)
    wrong = client.post(reverse("admin:second_factor_enrol"), {"token": "000000"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302
    with time_machine.travel(
        timezone.now() + timedelta(seconds=2), tick=False
    ):  # Past the wrong code's wait.
        done = client.post(reverse("admin:second_factor_enrol"), {"token": totp_code_from_secret(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert TOTPDevice.objects.get(user__username="ed").confirmed
    assert client.get(reverse("admin:index")).status_code == 200


def test_enrolled_staff_pass_with_the_apps_code_or_a_backup_code_each_good_once():
    device = TOTPDeviceFactory(user=StaffUserFactory(username="ed", is_superuser=True))
    backup = StaticDevice.objects.create(user=device.user, name="Backup codes")
    backup.token_set.create(token="abcd2345")
    wanted = reverse("admin:campaigns_campaign_changelist")

    client = Client()
    answer = client.post(f"{reverse('admin:login')}?next={wanted}", {"username": "ed", "password": PASSWORD})
    assert answer["Location"] == f"{reverse('admin:second_factor')}?next={wanted.replace('/', '%2F')}"
    assert client.get(wanted).status_code == 302  # Not before the code.
    refused = client.post(answer["Location"], {"token": "123456"})
    assert refused.status_code == 400
    assert client.get(wanted).status_code == 302
    device.throttle_reset()
    passed = client.post(answer["Location"], {"token": totp_code(device.bin_key)})
    assert passed["Location"] == wanted
    assert client.get(wanted).status_code == 200

    again = Client()
    _log_in(again, "ed", PASSWORD)
    assert again.post(reverse("admin:second_factor"), {"token": "ABCD 2345"}).status_code == 302
    once_more = Client()
    _log_in(once_more, "ed", PASSWORD)
    assert once_more.post(reverse("admin:second_factor"), {"token": "abcd2345"}).status_code == 400


def test_wrong_codes_in_a_row_make_the_code_step_wait_before_checking_another():
    device = TOTPDeviceFactory(user=StaffUserFactory(username="ed"))
    client = Client()
    _log_in(client, "ed", PASSWORD)
    assert client.post(reverse("admin:second_factor"), {"token": "000000"}).status_code == 400
    waiting = client.post(reverse("admin:second_factor"), {"token": totp_code(device.bin_key)})
    assert waiting.status_code == 400
    assert "Too many wrong codes in a row: wait 1 second," in waiting.content.decode()
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        passed = client.post(reverse("admin:second_factor"), {"token": totp_code(device.bin_key)})
    assert passed.status_code == 302


def test_wrong_codes_in_a_row_make_the_enrolment_wait_too():
    StaffUserFactory(username="ed", is_superuser=True)
    client = Client()
    _log_in(client, "ed", PASSWORD)
    enrol = client.get(reverse("admin:second_factor_enrol")).content.decode()
    secret = re.search(r'id="second-factor-secret">([A-Z2-7 ]+)<', enrol).group(1)
    assert client.post(reverse("admin:second_factor_enrol"), {"token": "000000"}).status_code == 400
    waiting = client.post(
        reverse("admin:second_factor_enrol"),
        {"token": totp_code_from_secret(secret)},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert "Warten Sie 1 Sekunde " in waiting.content.decode()
    assert not TOTPDevice.objects.get(user__username="ed").confirmed
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        done = client.post(reverse("admin:second_factor_enrol"), {"token": totp_code_from_secret(secret)})
    assert done.status_code == 200


def test_the_page_asked_for_is_kept_but_never_one_on_another_site():
    TOTPDeviceFactory(user=StaffUserFactory(username="ed"))
    client = Client()
    answer = client.post(
        f"{reverse('admin:login')}?next=https://evil.example/", {"username": "ed", "password": PASSWORD}
    )
    assert answer["Location"] == f"{reverse('admin:second_factor')}?next=%2Fadmin%2F"


def test_without_a_second_factor_a_login_sent_to_another_site_lands_on_the_admin(settings):
    settings.ADMIN_REQUIRE_SECOND_FACTOR = False
    StaffUserFactory(username="ed")
    answer = Client().post(
        f"{reverse('admin:login')}?next=https://evil.example/", {"username": "ed", "password": PASSWORD}
    )
    assert answer["Location"] == reverse("admin:index")


def test_with_the_second_factor_optional_a_password_is_enough_unless_the_user_enrolled(settings):
    settings.ADMIN_REQUIRE_SECOND_FACTOR = False
    plain = Client()
    plain.force_login(StaffUserFactory(is_superuser=True))
    assert plain.get(reverse("admin:index")).status_code == 200
    enrolled = Client()
    assert _log_in(enrolled, TOTPDeviceFactory().user.username, PASSWORD)["Location"].startswith(
        reverse("admin:second_factor")
    )
    assert enrolled.get(reverse("admin:index")).status_code == 302


def test_someone_stopped_at_the_second_factor_can_log_out():
    TOTPDeviceFactory(user=StaffUserFactory(username="ed"))
    client = Client()
    _log_in(client, "ed", PASSWORD)
    assert client.post(reverse("admin:second_factor_sign_out")).status_code == 302
    assert client.get(reverse("admin:second_factor"))["Location"] == reverse("admin:login")


def test_a_superuser_removes_a_lost_phone_and_its_owner_enrols_again():
    lost = TOTPDeviceFactory(user=StaffUserFactory(username="ed"))
    superuser = staff_login(Client(), User.objects.create_superuser("boss", "boss@campanile.test", PASSWORD))
    page = superuser.get(reverse("admin:otp_totp_totpdevice_change", args=[lost.pk])).content.decode()
    assert lost.key not in page  # Nobody reads another person's secret, superusers neither.
    removed = superuser.post(reverse("admin:otp_totp_totpdevice_delete", args=[lost.pk]), {"post": "yes"})
    assert removed.status_code == 302
    client = Client()
    assert _log_in(client, "ed", PASSWORD)["Location"].startswith(reverse("admin:second_factor_enrol"))


def test_a_login_with_a_username_longer_than_any_is_refused_as_any_wrong_one():
    assert _log_in(Client(), "u" * 256, "a guess").status_code == 200  # The form again, never a 500.
