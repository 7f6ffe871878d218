"""Reads over events and the ledger: the honest numbers of a campaign."""

from django.db.models import Count, Q

from campaigns.models import Campaign
from delivery import services as delivery_services
from delivery.models import StepExecution, TrackedLink
from tracking.models import TrackingEvent

Type = TrackingEvent.Type
Status = StepExecution.Status


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_stats(*, campaign: Campaign) -> dict:
    """Return a campaign's delivery and engagement figures, each recipient counted once per kind.

    "unique" counts recipients, "total" counts events; machine opens and clicks (privacy proxies,
    link scanners) are counted apart and left out of the rates.
    """
    ledger = dict(
        StepExecution.objects.filter(step__campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    events = TrackingEvent.objects.filter(step_execution__step__campaign=campaign)

    def recipients(kind, **extra):
        return Count("step_execution", filter=Q(type=kind, **extra), distinct=True)

    def total(kind, **extra):
        return Count("pk", filter=Q(type=kind, **extra))

    counts = events.aggregate(
        delivered=recipients(Type.DELIVERY),
        bounced=recipients(Type.BOUNCE),
        complained=recipients(Type.COMPLAINT),
        rejected=recipients(Type.REJECT),
        opens_unique=recipients(Type.OPEN, is_machine=False),
        opens_total=total(Type.OPEN, is_machine=False),
        machine_opens_total=total(Type.OPEN, is_machine=True),
        clicks_unique=recipients(Type.CLICK, is_machine=False),
        clicks_total=total(Type.CLICK, is_machine=False),
        machine_clicks_total=total(Type.CLICK, is_machine=True),
        unsubscribed=recipients(Type.UNSUBSCRIBE),
    )
    sent = ledger.get(Status.SENT, 0)
    delivered = counts["delivered"]
    return {
        "recipients": sum(ledger.values()),
        "ledger": {status: ledger.get(status, 0) for status in Status.values},
        "sent": sent,
        **counts,
        "links": campaign_link_clicks(campaign=campaign),
        "rates": {
            "delivery": _rate(delivered, sent),
            "bounce": _rate(counts["bounced"], sent),
            "complaint": _rate(counts["complained"], sent),
            "open": _rate(counts["opens_unique"], delivered),
            "click": _rate(counts["clicks_unique"], delivered),
            "click_to_open": _rate(counts["clicks_unique"], counts["opens_unique"]),
            "unsubscribe": _rate(counts["unsubscribed"], delivered),
        },
    }


def campaign_link_clicks(*, campaign: Campaign) -> list[dict]:
    """Return each tracked link of a campaign with its human clicks: unique recipients and total.

    Machine clicks (scanners, prefetches) are counted apart. Links nobody clicked are listed too.
    """
    clicks = (
        TrackingEvent.objects.filter(
            type=Type.CLICK, step_execution__step__campaign=campaign, raw__link_id__isnull=False
        )
        .values("raw__link_id")
        .annotate(
            unique=Count("step_execution", filter=Q(is_machine=False), distinct=True),
            total=Count("pk", filter=Q(is_machine=False)),
            machine=Count("pk", filter=Q(is_machine=True)),
        )
    )
    by_link = {row["raw__link_id"]: row for row in clicks}
    links = (
        TrackedLink.objects.filter(step__campaign=campaign)
        .exclude(url=delivery_services.honeypot_url())  # The hidden trap is no marketer's link.
        .order_by("pk")
        .values_list("pk", "url")
    )
    return [
        {
            "url": url,
            "clicks_unique": by_link.get(pk, {}).get("unique", 0),
            "clicks_total": by_link.get(pk, {}).get("total", 0),
            "machine_clicks_total": by_link.get(pk, {}).get("machine", 0),
        }
        for pk, url in links
    ]
