"""Test settings: the environment still decides the database and Redis, as in production."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests talk to the real Redis when REDIS_URL is given, else to kombu's in-memory transport; each
# run gets its own queue so a stray worker can never steal a test's tasks.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
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
