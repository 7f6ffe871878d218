"""The client's address: REMOTE_ADDR, or X-Forwarded-For read only through trusted proxies."""

import ipaddress
import re
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from core.http import client_address

ROOT = Path(__file__).resolve().parents[2]
#: Code that reads the peer's address or the forwarding header (comments naming them don't count).
READS = re.compile(r'META\.get\("REMOTE_ADDR"|META\["REMOTE_ADDR"\]|HTTP_X_FORWARDED_FOR|"X-Forwarded-For"')


@pytest.fixture
def behind(settings):
    def trust(*networks: str) -> None:
        settings.TRUSTED_PROXIES = list(networks)
        settings.TRUSTED_PROXY_NETWORKS = tuple(ipaddress.ip_network(n) for n in networks)

    return trust


def _address(remote: str, forwarded: str = "") -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_without_trusted_proxies_the_header_is_never_believed(behind):
    behind()
    assert _address("198.51.100.7", forwarded="203.0.113.9") == "198.51.100.7"


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.9", "203.0.113.9", "203.0.113.9"),  # One proxy.
        ("10.0.0.9", "203.0.113.9, 10.0.0.5", "203.0.113.9"),  # Two.
        ("10.0.0.9", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # The client's own claim is ignored.
        ("10.0.0.9", "", "10.0.0.9"),  # No header: the proxy is all we know.
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # Not from a proxy: the header is a lie.
        ("10.0.0.9", "not an address, 10.0.0.5", "not an address"),  # Kept as given; never trusted.
    ],
)
def test_behind_trusted_proxies_the_first_untrusted_address_from_the_right_is_the_client(
    behind, remote, forwarded, client
):
    behind("10.0.0.0/8")
    assert _address(remote, forwarded) == client


def test_metrics_trust_a_network_by_the_client_behind_the_proxy_not_the_proxy(behind, settings, db):
    settings.METRICS_TOKEN = ""
    behind("127.0.0.1/32")  # A proxy on the same host: every request comes from loopback.
    outsider = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert outsider.get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


def test_no_other_module_reads_the_address_or_the_forwarding_header():
    readers = [
        path.relative_to(ROOT).as_posix()
        for app in ("campaigns", "config", "console", "core", "delivery", "loadtest", "tracking")
        for path in (ROOT / app).rglob("*.py")
        if re.search(
            r'META\.get\("REMOTE_ADDR"|META\["REMOTE_ADDR"\]|HTTP_X_FORWARDED_FOR|"X-Forwarded-For"',
            path.read_text(),
        )
    ]
    assert readers == ["core/http.py"]


@pytest.mark.django_db
def test_the_tls_header_counts_only_when_a_trusted_proxy_sent_it(behind, settings):
    behind("10.0.0.0/8")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    via_proxy = Client(REMOTE_ADDR="10.0.0.5").get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert via_proxy.status_code == 200
    direct = Client(REMOTE_ADDR="203.0.113.9").get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert direct.status_code == 301
    assert direct["Location"] == "https://testserver/admin/login/"
