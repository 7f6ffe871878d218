"""Test settings: production's settings on services the tests pick, whatever the caller's environment.

The tests read two inputs, DATABASE_URL and REDIS_URL. Without them they use PostgreSQL and Redis
at their documented local addresses when those answer, else SQLite and no Redis (the tests that
need a server then skip, or fail under CAMPANILE_REQUIRE_SERVICES). Every other setting a shell or
a .env could carry is cleared first, so a developer's configuration never changes a test's outcome
and the processes the tests start inherit the same clean slate.
"""

import os
import re
from pathlib import Path

#: The variables a test run takes from its caller; everything else is decided here.
TEST_INPUTS = ("DATABASE_URL", "REDIS_URL", "CAMPANILE_REQUIRE_SERVICES")
#: Where `make test` looks for the servers when DATABASE_URL and REDIS_URL are not given.
LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/campanile"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def _configuration_variables() -> set[str]:
    """Return every variable the settings document in .env.example, plus Celery's and boto3's own."""
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    # Celery reads CELERY_BROKER_URL itself, over the settings; boto3 reads AWS_*.
    prefixed = {name for name in os.environ if name.startswith(("CELERY_", "AWS_", "LOCAL_"))}
    return (documented | prefixed) - set(TEST_INPUTS)


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("/campanile", "/postgres"), connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


for _name in _configuration_variables():
    os.environ.pop(_name, None)
os.environ["DJANGO_ENV_FILE"] = ""
os.environ["DJANGO_SECRET_KEY"] = "tests-only-secret-key"
if "DATABASE_URL" not in os.environ and _postgres_answers(LOCAL_DATABASE_URL):
    os.environ["DATABASE_URL"] = LOCAL_DATABASE_URL
if "REDIS_URL" not in os.environ and _redis_answers(LOCAL_REDIS_URL):
    os.environ["REDIS_URL"] = LOCAL_REDIS_URL

from config.settings import *  # noqa: E402, F403
from config.settings import REDIS_URL  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests talk to the real Redis when there is one, else to kombu's in-memory transport; each run
# gets its own queue so a stray worker can never steal a test's tasks.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_DEFAULT_QUEUE = f"campanile-test-{os.getpid()}"
# One queue for everything in tests, so the in-process test worker sees every task.
CELERY_TASK_ROUTES = {}
# Fast enough that the limiter never slows a test down, unless the test sets its own rate; and
# a timeline of this run's own.
SES_MAX_SEND_RATE = 10_000.0
# Sending threads open connections of their own, which can't see a test's uncommitted rows;
# tests of concurrent sending set it themselves on committed data (transactional_db).
SEND_CONCURRENCY = 1
SEND_RATE_REDIS_KEY = f"campanile-test-{os.getpid()}:send-rate"
TRACKING_HITS_REDIS_KEY = f"campanile-test-{os.getpid()}:hits"
METRICS_REDIS_KEY = f"campanile-test-{os.getpid()}:metrics"
# Counts reach the store when a test flushes them (or /metrics does), not from a timer thread.
METRICS_FLUSH_SECONDS = 0

AWS_ENDPOINT_URL = None
AWS_SES_REGION_ENDPOINT_URL = None
SES_CONFIGURATION_SET = ""

# A file, not ":memory:", so the Celery worker thread of the end-to-end test shares the database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
    # A fresh clone has no var/ yet, and SQLite does not create folders.
    VAR_DIR.mkdir(exist_ok=True)  # noqa: F405
# Close connections after each task and request, so no thread holds one when the test database goes.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Tests never run collectstatic; WhiteNoise serves from the finders instead of a STATIC_ROOT.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
