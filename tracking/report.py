"""Reads behind a campaign's report: totals, activity over time, domains, clients, the sender's
earlier campaigns. Every figure comes from the counters and tallies, or one grouped query."""

from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum, Value
from django.db.models.functions import Lower, StrIndex, Substr, Trunc
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign
from campaigns.selectors import steps_showing_pixel
from core.timeseries import HOUR, bucket_for, series_over_time
from delivery import selectors as delivery_selectors
from delivery.models import Engagement, LedgerTally, StepExecution
from tracking.hits import ClientKind, client_kind
from tracking.models import EventTally, StepEngagement, TrackingEvent
from tracking.outcomes import bounces_q, complaints_q
from tracking.selectors import (
    ENGAGEMENT_COUNTERS,
    REPORT_LINKS_SHOWN,
    campaign_stats,
    campaigns_figures,
)

Type = TrackingEvent.Type

#: The series of the charts over time: emails sent and delivered, a person's opens and clicks.
ACTIVITY_SERIES = ("sent", "delivered", "opens", "clicks")
_EVENT_SERIES = {Type.DELIVERY: "delivered", Type.OPEN: "opens", Type.CLICK: "clicks"}


def campaign_report(
    *, campaign: Campaign, now: datetime | None = None, links_shown: int | None = REPORT_LINKS_SHOWN
) -> dict:
    """Return what the campaign report's page shows at once: totals and rates, bounces by class, per
    step, per link, over time, by client and beside the sender's earlier campaigns.

    Counters and tallies only, so its time does not grow with the campaign; the breakdown by
    domain reads the ledger (campaign_domains) and is loaded after the page. The links are the
    `links_shown` most clicked (all with None: links.csv), the rest summed in `links_more`.
    """
    stats = campaign_stats(campaign=campaign, links_shown=links_shown)
    steps = {row.pk: row for row in StepEngagement.objects.filter(step__campaign=campaign)}
    showing = set(steps_showing_pixel(campaign.steps.all()).values_list("pk", flat=True))
    per_step = []
    for progress in delivery_selectors.campaign_step_progress(campaign=campaign):
        counters = steps.get(progress["step_id"])
        per_step.append(
            {
                **progress,
                **{field: getattr(counters, field, 0) for field in ENGAGEMENT_COUNTERS},
                "shows_pixel": progress["step_id"] in showing,
            }
        )
    # A link's share is of every link's clicks, those of the links left out too.
    human_clicks = sum(link["clicks_total"] for link in stats["links"]) + stats["links_more"]["clicks_total"]
    for link in stats["links"]:
        link["share"] = link["clicks_total"] / human_clicks if human_clicks else None
    return {
        **stats,
        "bounces_hard": stats["bounced_hard"],
        "bounces_soft": stats["bounced_soft"],
        "bounces_other": stats["bounced_other"],
        "steps": per_step,
        "activity": campaign_activity(campaign=campaign, now=now or timezone.now()),
        "clients": campaign_clients(campaign=campaign),
        "comparison": campaign_comparison(campaign=campaign),
        # Without the open pixel, "opened" is the clicked alone: the page leaves it out.
        "opens_tracked": bool(showing),
        # Steps whose emails show no opens beside some that do: the open rates leave them out.
        "steps_without_pixel": [step["order"] for step in per_step if not step["shows_pixel"]]
        if showing
        else [],
    }


def campaign_activity(*, campaign: Campaign, now: datetime) -> dict[str, Any]:
    """Return the campaign's emails sent and delivered, and a person's opens and clicks, per bucket
    from its first send: minutes while it is young, then hours, then days (core.timeseries)."""
    step_ids = campaign.steps.values("pk")
    events = EventTally.objects.filter(
        step_id__in=step_ids, type__in=list(_EVENT_SERIES), is_machine=False
    ).order_by()
    sent = LedgerTally.objects.filter(step_id__in=step_ids, sent_minute__isnull=False).order_by()
    # Over the minutes whose deltas sum to something: a re-judged click or a deleted row leaves
    # rows that cancel out, and they must not stretch the span.
    sending = (
        sent.values("sent_minute")
        .annotate(total=Sum("n"))
        .filter(total__gt=0)
        .aggregate(first=Min("sent_minute"), last=Max("sent_minute"))
    )
    heard = (
        events.values("minute")
        .annotate(total=Sum("n"))
        .filter(total__gt=0)
        .aggregate(first=Min("minute"), last=Max("minute"))
    )
    # Since the first send: an event stamped earlier (a clock's skew, a replayed record) is left out.
    start = sending["first"] or heard["first"]
    last = max(filter(None, (sending["last"], heard["last"])), default=None)
    # Long spans are summed by the hour in the database: a year of minutes is too many rows to read.
    by_hour = start is not None and last is not None and bucket_for(start=start, end=min(last, now)) >= HOUR
    unit = "hour" if by_hour else "minute"
    if by_hour and start is not None:
        # Summed by the UTC hour, the first send's hour starts before it: in a zone of half hours
        # it can start the local day before, and must not be left out of the first day's bar.
        start = start.replace(minute=0, second=0, microsecond=0)
    moment = Trunc("minute", unit, tzinfo=UTC) if by_hour else "minute"
    series: dict[str, list[tuple[datetime, int]]] = {name: [] for name in ACTIVITY_SERIES}
    series["sent"] = delivery_selectors.campaign_sent_over_time(campaign=campaign, unit=unit)
    for kind, at, total in events.values_list("type", moment).annotate(total=Sum("n")).order_by():
        if total:
            series[_EVENT_SERIES[kind]].append((at, total))
    bucket, starts, values = series_over_time(series, now=now, start=start)
    return {"bucket": bucket, "starts": starts, "series": values}


#: Mailbox providers by domain, for the breakdown by domain; other domains stand by themselves.
PROVIDERS = {
    "gmail.com": "Gmail",
    "googlemail.com": "Gmail",
    "outlook.com": "Outlook",
    "hotmail.com": "Outlook",
    "live.com": "Outlook",
    "msn.com": "Outlook",
    "yahoo.com": "Yahoo",
    "ymail.com": "Yahoo",
    "aol.com": "AOL",
    "icloud.com": "iCloud",
    "me.com": "iCloud",
    "mac.com": "iCloud",
    "gmx.de": "GMX",
    "gmx.net": "GMX",
    "gmx.com": "GMX",
    "web.de": "WEB.DE",
    "t-online.de": "T-Online",
    "proton.me": "Proton",
    "protonmail.com": "Proton",
}
# Country domains of the big providers: yahoo.co.uk, hotmail.fr, outlook.de…
_PROVIDER_PREFIXES = {"yahoo.": "Yahoo", "hotmail.": "Outlook", "outlook.": "Outlook", "live.": "Outlook"}
#: Providers or domains shown one by one; the rest are summed as "Other domains".
DOMAINS_SHOWN = 8


def domain_provider(domain: str) -> str:
    """Return the mailbox provider of a recipient domain, or the domain itself."""
    if domain in PROVIDERS:
        return PROVIDERS[domain]
    for prefix, provider in _PROVIDER_PREFIXES.items():
        if domain.startswith(prefix):
            return provider
    return domain


_DOMAIN_COUNTS = (
    "sent",
    "delivered",
    "bounced",
    "bounced_hard",
    "opened",
    "pixel_sent",
    "pixel_delivered",
    "pixel_opened",
)


def campaign_domains(*, campaign: Campaign) -> list[dict]:
    """Return the campaign's emails sent, delivered, bounced (hard among them) and opened (by a
    person) per mailbox provider, most mailed first, the smallest summed as "Other domains".

    One grouped query over the campaign's ledger rows: its time grows with the campaign, so the
    report loads it after the page.
    """
    events = TrackingEvent.objects.filter(step_execution=OuterRef("pk"))
    # The events by which an email is delivered in the campaign's count: SES's report, or a sign
    # from its recipient (a complaint that is one; an open or a click is read from its engagement).
    arrival_signs = events.filter(Q(type__in=(Type.DELIVERY, Type.UNSUBSCRIBE)) | complaints_q())
    arrived = Q(Exists(arrival_signs)) | Engagement.opened_q("engagement__")
    # The open rate is over the emails that carried the pixel (tracking.outcomes.campaign_rates).
    pixel = Q(step__in=steps_showing_pixel(campaign.steps.all()))
    rows = (
        StepExecution.objects.filter(step__campaign=campaign, status=StepExecution.Status.SENT)
        .annotate(domain=Lower(Substr("email", StrIndex("email", Value("@")) + 1)))
        .order_by()
        .values("domain")
        .annotate(
            sent=Count("pk"),
            # Delivered as the campaign counts it (outcomes.counts_shown): SES reported it, or its
            # recipient showed it arrived (opened or clicked, unsubscribed, complained).
            delivered=Count("pk", filter=arrived),
            # Bounced as the campaign counts it, from the Bounce events (outcomes.bounces_q), not
            # the ledger's outcome: a block leaves it delivered, a later complaint outranks it.
            bounced=Count("pk", filter=Q(Exists(events.filter(bounces_q())))),
            bounced_hard=Count("pk", filter=Q(Exists(events.filter(bounces_q(hard=True))))),
            opened=Count("pk", filter=Engagement.opened_q("engagement__")),
            pixel_sent=Count("pk", filter=pixel),
            pixel_delivered=Count("pk", filter=pixel & arrived),
            pixel_opened=Count("pk", filter=pixel & Engagement.opened_q("engagement__")),
        )
    )
    providers: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = domain_provider(row.pop("domain"))
        entry = providers.setdefault(
            name, {"name": name, "rate_base": "delivered", **dict.fromkeys(_DOMAIN_COUNTS, 0)}
        )
        for key in _DOMAIN_COUNTS:
            entry[key] += row[key]
    reported = StepEngagement.objects.filter(step__campaign=campaign).aggregate(n=Sum("delivered"))["n"]
    if not reported:
        # No Delivery event at all: "delivered" is unknown, not the opened, and the rates are over
        # sent, as the campaign's are (outcomes.counts_shown, outcomes.rates_base).
        for entry in providers.values():
            entry["delivered"], entry["pixel_delivered"], entry["rate_base"] = 0, 0, "sent"
    ranked = sorted(providers.values(), key=lambda entry: (-entry["sent"], entry["name"]))
    shown, rest = ranked[:DOMAINS_SHOWN], ranked[DOMAINS_SHOWN:]
    if rest:
        summed = {key: sum(each[key] for each in rest) for key in _DOMAIN_COUNTS}
        shown.append({"name": gettext("Other domains"), "rate_base": rest[0]["rate_base"], **summed})
    return shown


def campaign_clients(*, campaign: Campaign) -> list[dict]:
    """Return the campaign's opens and clicks by who made them (tracking.hits.ClientKind), every
    kind listed, with whether the rates count them."""
    totals = {kind: {"opens": 0, "clicks": 0} for kind in ClientKind.values}
    rows = (
        EventTally.objects.filter(step_id__in=campaign.steps.values("pk"), type__in=[Type.OPEN, Type.CLICK])
        .order_by()
        .values_list("type", "kind", "is_machine")
        .annotate(total=Sum("n"))
    )
    for event_type, kind, is_machine, total in rows:
        column = "opens" if event_type == Type.OPEN else "clicks"
        totals[client_kind(kind=kind, is_machine=is_machine)][column] += total
    return [
        {
            "kind": kind,
            "label": ClientKind(kind).label,
            **totals[kind],
            # A proxy's repeated fetches are machine opens, but its first is a person's: see the docs.
            "counted": kind in (ClientKind.PERSON, ClientKind.PROXIED),
        }
        for kind in ClientKind.values
    ]


#: How many of the sender's earlier campaigns the report sets beside this one.
COMPARED_CAMPAIGNS = 5


def campaign_comparison(*, campaign: Campaign) -> list[dict]:
    """Return this campaign and the sender's (same From address) last campaigns started before it,
    newest first, each with its figures and rates (load tests left out)."""
    earlier = Campaign.objects.filter(
        from_email=campaign.from_email, started_at__isnull=False, is_load_test=False
    ).exclude(pk=campaign.pk)
    if campaign.started_at is not None:
        earlier = earlier.filter(started_at__lt=campaign.started_at)
    campaigns = [campaign, *earlier.order_by("-started_at")[:COMPARED_CAMPAIGNS]]
    figures = campaigns_figures(campaign_ids=[each.pk for each in campaigns])
    return [{"campaign": each, "current": each.pk == campaign.pk, **figures[each.pk]} for each in campaigns]
