"""The address of the client behind a request, read in this one place, through trusted proxies only."""

import codecs
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.translation import gettext


def ip_parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return an address as an IP, an IPv4 address a dual-stack socket wrote as IPv6 (::ffff:a.b.c.d)
    as the IPv4 address it is; None for what is no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(address: str) -> bool:
    ip = ip_parse(address)
    return ip is not None and any(ip in network for network in settings.TRUSTED_PROXY_NETWORKS)


def client_address(request: HttpRequest) -> str:
    """Return the address of the client that made this request.

    REMOTE_ADDR, unless it is a proxy of TRUSTED_PROXIES: then X-Forwarded-For is read from the
    right, each trusted proxy's entry skipped, and the first address no trusted proxy owns is the
    client's. Entries left of it were written by the client itself and are never believed.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not _trusted(remote):
        return remote
    forwarded = [entry.strip() for entry in request.headers.get("X-Forwarded-For", "").split(",")]
    for address in reversed([entry for entry in forwarded if entry]):
        if not _trusted(address):
            return address
    return remote  # Only proxies, or no header: the nearest proxy is all we know.


class ProxySSLHeaderMiddleware:
    """Drop the TLS header of SECURE_PROXY_SSL_HEADER unless a trusted proxy is the peer.

    Django believes that header from anyone; a client reaching the web process directly could
    claim HTTPS with it. Only a proxy of TRUSTED_PROXIES (the nearest peer, REMOTE_ADDR) may say so.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        header = settings.SECURE_PROXY_SSL_HEADER
        if header and not _trusted(request.META.get("REMOTE_ADDR", "")):
            request.META.pop(header[0], None)
        return self.get_response(request)


def database_unavailable() -> HttpResponse:
    """Answer a public page whose database is away: 503, which browsers show and senders retry."""
    return HttpResponse(
        gettext("Temporarily unavailable; try again shortly."),
        status=503,
        content_type="text/plain; charset=utf-8",
    )


def charset_is_utf8(encoding: str | None) -> bool:
    """Tell whether a body's declared charset (None: none declared) is UTF-8, the one bodies are
    read in: another (UTF-7's `+ADw-` for `<`) would read its bytes into other text than any
    other reader of them sees."""
    return encoding is None or codecs.lookup(encoding).name == "utf-8"
