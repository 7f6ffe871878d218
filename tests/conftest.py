"""Shared fixtures: a moto SES, the real-services guard, and helpers to inject SES faults."""

import os

import boto3
import pytest
import redis
from botocore.awsrequest import AWSResponse
from django.conf import settings
from django.db import connection
from moto import mock_aws

from delivery import ses as delivery_ses

SENDER_DOMAIN = "campanile.test"


NEEDS_POSTGRES = "needs PostgreSQL (127.0.0.1:5432, user postgres, or DATABASE_URL)"
NEEDS_REDIS = "needs Redis (127.0.0.1:6379, or REDIS_URL)"


def _services_required() -> bool:
    return os.environ.get("CAMPANILE_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def pytest_sessionstart(session):
    """Refuse to run at all when CI asked for PostgreSQL and Redis and they are not there."""
    if not _services_required():
        return
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {settings.REDIS_URL} is unreachable: {exc}")
    if problems:
        pytest.exit("CAMPANILE_REQUIRE_SERVICES is set but " + "; ".join(problems), returncode=3)


#: Tests that start real processes (workers, stand-ins, `make run`, a browser), time the shared
#: limiter or drop every Redis connection. `make test` runs them after the others, one at a time,
#: with the machine to themselves: beside parallel tests their processes would compete for the
#: cores, the limiter's timing would measure the competition, and CLIENT KILL would cut another
#: test's connection in the middle of its handshake.
SERIAL_MODULES = (
    "tests/core/test_redis_client.py",
    "tests/browser/",
    "tests/loadtest/",
    "tests/delivery/test_chaos.py",
    "tests/delivery/test_throttle.py",
    "tests/ses_standin/test_events.py",
    "tests/test_local_run.py",
    "tests/test_fault_run.py",
    "tests/test_printed_commands.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests of SERIAL_MODULES `serial`, before `-m` selects by marks."""
    for item in items:
        if item.nodeid.split("::", 1)[0].startswith(SERIAL_MODULES):
            item.add_marker(pytest.mark.serial)


def pytest_unconfigure(config):
    """End the run's output (after pytest's own last line) with the skips for want of a server."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        skips_summarize(reporter)


def skips_summarize(terminalreporter):
    """Write one line saying how many tests skipped for want of a server, and how to run them."""
    skipped = terminalreporter.stats.get("skipped", [])
    wanting = [
        report
        for report in skipped
        if any(need in str(report.longrepr) for need in (NEEDS_POSTGRES, NEEDS_REDIS))
    ]
    if wanting:
        terminalreporter.write_line(
            f"{len(wanting)} tests skipped for want of PostgreSQL or Redis (chaos, load test, locks, "
            "limiter): start them on 127.0.0.1:5432 (user postgres) and 127.0.0.1:6379, or point "
            "DATABASE_URL and REDIS_URL at them, and run `make test` again.",
            yellow=True,
            bold=True,
        )


@pytest.fixture
def postgres_only(db):
    """Mark a test that locks or races: it needs PostgreSQL, and fails rather than skips in CI."""
    if connection.vendor != "postgresql":
        if _services_required():
            pytest.fail("This test needs PostgreSQL (DATABASE_URL).")
        pytest.skip(NEEDS_POSTGRES)


@pytest.fixture
def redis_only():
    """Mark a test of shared state across processes: it needs Redis, and fails rather than skips in CI."""
    if not settings.REDIS_URL:
        if _services_required():
            pytest.fail("This test needs Redis (REDIS_URL).")
        pytest.skip(NEEDS_REDIS)


@pytest.fixture(autouse=True)
def language_default():
    """Leave no language active after a test: a German request's activation stays in its thread."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def link_caches_fresh():
    """Forget the per-process link caches: rolled-back tests reuse ids that SQLite handed out before."""
    from delivery import compose
    from tracking import hits as tracking_hits

    yield
    compose._link_ids.clear()
    tracking_hits.link_target.cache_clear()


@pytest.fixture(autouse=True)
def metrics_fresh():
    """Start every test with no fleet counts pending in this process or stored in Redis."""
    from core import fleet_metrics as metrics

    with metrics._lock:
        metrics._pending.clear()
        metrics._pending_sets.clear()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(settings.METRICS_REDIS_KEY)


@pytest.fixture(autouse=True)
def send_rate_fresh():
    """Start every test with no cached SES rate and, in Redis, an empty send-slot timeline."""
    from delivery import throttle

    throttle.send_rate_forget()
    if settings.REDIS_URL:
        throttle.send_slots_reset()
        # Hits recorded by an earlier test must not turn up in this one.
        redis.Redis.from_url(settings.REDIS_URL).delete(
            *(settings.TRACKING_HITS_REDIS_KEY + suffix for suffix in ("", ":processing", ":lock"))
        )
    yield
    throttle.send_rate_forget()


@pytest.fixture
def redis_down(settings):
    """Return a function that points this test at a Redis that refuses connections, as in an outage."""
    from core.api import auth
    from tracking import hits

    def down() -> None:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"  # Port 1: nothing listens; refused at once.
        auth._rate_counter_script.cache_clear()

    yield down
    auth._rate_counter_script.cache_clear()
    hits.redis_outage_forget()


@pytest.fixture
def aws_credentials(monkeypatch):
    """Give boto3 fake credentials and no endpoint override, so nothing can reach real AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": settings.AWS_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def ses(aws_credentials):
    """Yield a moto SES client with the test sender's domain verified; the app's client is fresh."""
    delivery_ses.ses_reset()
    with mock_aws():
        client = boto3.client("ses", region_name=settings.AWS_REGION)
        client.verify_domain_identity(Domain=SENDER_DOMAIN)
        yield client
    delivery_ses.ses_reset()


def sent_messages():
    """Return the raw messages moto's SES has accepted in this test."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][settings.AWS_REGION].sent_messages


def _error_response(status: int, code: str, message: str):
    http = AWSResponse(url="https://email.test", status_code=status, headers={}, raw=None)
    return http, {"Error": {"Code": code, "Message": message, "Type": "Sender"}, "ResponseMetadata": {}}


class _RawBody:
    """What botocore reads an answer's body from."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


@pytest.fixture
def inject_ses_error():
    """Make the app's SES client fail its next N SendRawEmail calls the way SES or the network does.

    moto never throttles or rejects like SES does, so faults are injected through botocore events.
    An error `code` is answered at before-call: the request never leaves, and botocore raises the
    ClientError SES would. An `exception` is raised at before-send, after moto has taken the
    message: a timeout on a request SES did receive. An `answer` (a body) is answered, with `status`, at
    before-send instead of moto, and parsed as botocore parses any answer: a proxy's HTML page,
    say. Returns the list of attempts seen.
    """
    registered = []

    def inject(
        *, code: str = "", message: str = "", status: int = 400, times: int = 1, exception=None, answer=None
    ):
        client = delivery_ses.ses_backend().connection
        remaining = {"n": times}
        attempts = []

        def handler(**kwargs):
            request = kwargs.get("request")
            body = request.body if request is not None else b""
            body = body.decode() if isinstance(body, bytes) else (body or "")
            if request is not None and "Action=SendRawEmail" not in body:
                return None
            attempts.append(kwargs)
            if remaining["n"] <= 0:
                return None
            remaining["n"] -= 1
            if exception is not None:
                raise exception
            if answer is not None:
                url, request.url = request.url, "https://proxy.invalid/"  # Past moto: it never sees it.
                return AWSResponse(url=url, status_code=status, headers={}, raw=_RawBody(answer))
            return _error_response(status, code, message)

        if answer is not None:
            event = "before-send"
            client.meta.events.register_first(event, handler)  # Answers instead of moto.
        elif exception is not None:
            # Generic before-send, registered last: moto's own before-send handler answers first,
            # so the message really reaches the stand-in before the "network" fails.
            event = "before-send"
            client.meta.events.register_last(event, handler)
        else:
            event = "before-call.ses.SendRawEmail"
            client.meta.events.register(event, handler)
        registered.append((client, event, handler))
        return attempts

    yield inject
    for client, event, handler in registered:
        client.meta.events.unregister(event, handler)


@pytest.fixture
def admin_client(db, admin_user, client):
    """pytest-django's admin_client, logged in as the admin demands: the second factor passed too."""
    from tests.utils import staff_login

    return staff_login(client, admin_user)


@pytest.fixture
def api_key(db):
    """Return a fresh API key holding every scope, and its secret; scope tests make narrower keys."""
    from core.models import ApiKey
    from core.services import api_key_create

    return api_key_create(name="tests", scopes=ApiKey.Scope.values)


@pytest.fixture
def api_client(api_key):
    """Return a DRF test client that presents the api_key fixture's key."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key[1])
    return client
