"""Fleet-wide metrics of sending: emails by outcome, SES errors by kind, SES call time, the limiter."""

from core.fleet_metrics import FleetCounter, FleetGauge, FleetHistogram

EMAILS = FleetCounter(
    "campanile_emails",
    "Ledger rows settled by the sender, by outcome (sent, failed, unknown, suppressed, skipped: the "
    "contact takes a break, postponed, released: handed back after SES said to wait).",
    ("outcome",),
    known=("sent", "failed", "unknown", "suppressed", "skipped", "postponed", "released"),
)
SES_ERRORS = FleetCounter(
    "campanile_ses_errors",
    "SES calls that did not send, by kind: throttled, quota, halted, rejected (by SES: the row failed), "
    "retryable (SES or a proxy failing: tried again), timeout and unreadable (the fate is unknown), "
    "unreachable.",
    ("kind",),
    known=("throttled", "quota", "halted", "rejected", "retryable", "timeout", "unreadable", "unreachable"),
)
SES_SECONDS = FleetHistogram(
    "campanile_ses_send_seconds",
    "Time of one SES send call.",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SEND_RATE = FleetGauge("campanile_send_rate_per_second", "The fleet's sending rate the limiter keeps to.")
QUOTA_MAX = FleetGauge("campanile_ses_quota_24h", "SES's daily sending quota (Max24HourSend).")
QUOTA_USED = FleetGauge("campanile_ses_quota_used_24h", "Emails SES counts as sent in the last 24 hours.")
QUEUED = FleetCounter(
    "campanile_rows_queued",
    "Ledger rows made to be sent, by kind: campaign (fan-out, drips) or transactional (the API).",
    ("kind",),
    known=("campaign", "transactional"),
)
