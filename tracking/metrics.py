"""Prometheus counters of tracking: what SES reported, what the webhook refused, what the guard paused.

Counted per process; exposing them (and adding up Celery and gunicorn processes) is the job of
the operator metrics endpoint.
"""

from prometheus_client import Counter

SES_EVENTS = Counter("campanile_ses_events", "SES events applied, one per recipient.", ["type"])
SNS_REFUSED = Counter("campanile_sns_refused", "SNS deliveries the webhook refused.", ["status"])
REPUTATION_PAUSES = Counter(
    "campanile_reputation_pauses", "Campaigns paused by the reputation guard.", ["scope"]
)
