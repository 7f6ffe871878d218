"""Fleet-wide metrics of tracking: SES events applied, refused webhooks, guard pauses, hits."""

from core.fleet_metrics import FleetCounter

SES_EVENTS = FleetCounter("campanile_ses_events", "SES events applied, one per recipient.", ("type",))
SNS_REFUSED = FleetCounter("campanile_sns_refused", "SNS deliveries the webhook refused.", ("status",))
REPUTATION_PAUSES = FleetCounter(
    "campanile_reputation_pauses", "Campaigns paused by the reputation guard.", ("scope",)
)
TRACKING_HITS = FleetCounter("campanile_tracking_hits", "Pixel fetches and clicks recorded.", ("kind",))
ALERTS = FleetCounter("campanile_alerts", "Alerts raised, by kind.", ("kind",))
