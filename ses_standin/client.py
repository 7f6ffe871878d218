"""HTTP calls to the app, each on a connection of its own.

A kept-alive connection costs Django's runserver 40 ms a request (its answer waits for the client's
delayed ACK, Nagle's algorithm), and one closed by the server between two requests fails the next
one without it ever being read. A fresh loopback connection per request avoids both and costs
well under a millisecond.
"""

import http.client
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 15.0


def call(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]) -> int:
    """Make one request and return the answer's status; raise OSError or HTTPException without one."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.netloc, timeout=TIMEOUT_SECONDS)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path or "/", body=body, headers={**headers, "Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()
