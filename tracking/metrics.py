"""Fleet-wide metrics of tracking: SES events applied, refused webhooks, guard pauses, hits."""

from core.fleet_metrics import FleetCounter
from tracking.events import SES_EVENT_TYPES
from tracking.models import Alert, TrackingHit

SES_EVENTS = FleetCounter(
    "campanile_ses_events", "SES events applied, one per recipient.", ("type",), known=SES_EVENT_TYPES
)
SNS_REFUSED = FleetCounter(
    "campanile_sns_refused",
    "SNS deliveries the webhook refused, by HTTP status: 400 malformed, 403 untrusted, 413 too large, "
    "503 certificate unavailable.",
    ("status",),
    known=("400", "403", "413", "503"),
)
REPUTATION_PAUSES = FleetCounter(
    "campanile_reputation_pauses",
    "Campaigns paused by the reputation guard.",
    ("scope",),
    known=("campaign", "configuration_set"),
)
TRACKING_HITS = FleetCounter(
    "campanile_tracking_hits",
    "Pixel fetches and clicks recorded.",
    ("kind",),
    known=tuple(TrackingHit.Kind.values),
)
ALERTS = FleetCounter(
    "campanile_alerts", "Alerts raised, by kind.", ("kind",), known=tuple(Alert.Kind.values)
)
