"""The address of the client behind a request, read in this one place, through trusted proxies only."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXY_NETWORKS)


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
