"""Test settings: the environment still decides the database and Redis, as in production."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")

from config.settings import *  # noqa: E402, F403
from config.settings import REDIS_URL, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests talk to the real Redis when REDIS_URL is given, else to kombu's in-memory transport; each
# run gets its own queue so a stray worker can never steal a test's tasks.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_DEFAULT_QUEUE = f"campanile-test-{os.getpid()}"

AWS_ENDPOINT_URL = None
AWS_SES_REGION_ENDPOINT_URL = None
SES_CONFIGURATION_SET = ""
