"""Liveness of what the app cannot work without: the database and the Celery broker."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

# A health probe must answer quickly even when a dependency hangs.
CHECK_TIMEOUT_SECONDS = 2


def database_check() -> None:
    """Raise unless the database answers a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def broker_check() -> None:
    """Raise unless the Celery broker accepts a connection."""
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS = {"database": database_check, "broker": broker_check}


@never_cache
@require_safe
def healthz(request):
    """Answer 200 when every check passes, else 503 naming what is down and the error's kind.

    The page is public: the driver's message (hosts, ports, user names) goes to the log only.
    """
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # Any failure of a dependency is a "down", never a 500.
            logger.warning("Health check %s: down: %s: %s", name, type(exc).__name__, exc)
            results[name] = f"down: {type(exc).__name__}"
        else:
            results[name] = "ok"
    down = sorted(name for name, state in results.items() if state != "ok")
    body = {"status": "down" if down else "ok", "down": down, "checks": results}
    return JsonResponse(body, status=503 if down else 200)
