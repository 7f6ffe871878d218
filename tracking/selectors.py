"""Reads over events and the ledger: the honest numbers of a campaign."""

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from campaigns.models import Campaign, CampaignStep, Contact
from campaigns.selectors import steps_showing_pixel
from delivery import compose as delivery_compose
from delivery import selectors as delivery_selectors
from delivery import tokens
from delivery.drip import exit_note_shown
from delivery.models import StepExecution, TrackedLink
from tracking.engagement import opens_counted
from tracking.models import StepEngagement, TrackingEvent
from tracking.outcomes import (
    ARRIVED_UNREPORTED,
    OUTCOME_KEYS,
    campaign_rates,
    counts_shown,
    rates_base,
)

Type = TrackingEvent.Type
Status = StepExecution.Status

ENGAGEMENT_COUNTERS = (
    "opens_unique",
    "opens_total",
    "machine_opens_total",
    "clicks_unique",
    "clicks_total",
    "machine_clicks_total",
)
LINK_COUNTERS = ("clicks_unique", "clicks_total", "machine_clicks_total")
#: How many links the report page and the stats API list, most clicked first: a template can give
#: each recipient their own link, and a list as long as the audience is too big to read (links.csv
#: lists them all).
REPORT_LINKS_SHOWN = 100


def campaign_outcome_counts(*, campaign: Campaign) -> dict[str, int]:
    """Return a campaign's counted outcomes and opens and clicks, with `sent`: what rates divide.

    From the counters the consumers keep and the ledger's tally, never by counting events.
    """
    return campaigns_outcome_counts(campaign_ids=[campaign.pk])[campaign.pk]


def campaigns_outcome_counts(
    *, campaign_ids: Iterable[int], ledger: dict[int, dict] | None = None, steps: set[int] | None = None
) -> dict[int, dict[str, int]]:
    """Return campaign_outcome_counts for each campaign, in three queries however many there are
    (one, given the campaigns' ledger: delivery.selectors.campaigns_ledger). Given `steps`, count
    only those steps' emails."""
    ids = list(campaign_ids)
    fields = (*ENGAGEMENT_COUNTERS, *OUTCOME_KEYS, ARRIVED_UNREPORTED)
    engagement = StepEngagement.objects.filter(step__campaign_id__in=ids)
    if steps is not None:
        engagement = engagement.filter(step_id__in=steps)
    summed = {
        row.pop("step__campaign_id"): row
        for row in engagement.order_by()
        .values("step__campaign_id")
        .annotate(**{field: Coalesce(Sum(field), 0) for field in fields})
    }
    ledger = delivery_selectors.campaigns_ledger(campaign_ids=ids) if ledger is None else ledger
    return {
        pk: counts_shown(
            {
                **{field: summed.get(pk, {}).get(field, 0) for field in fields},
                "sent": sum(
                    total
                    for step, total in ledger.get(pk, {}).get("sent_by_step", {}).items()
                    if steps is None or step in steps
                ),
            }
        )
        for pk in ids
    }


def campaigns_counts_and_rates(*, campaign_ids: Iterable[int]) -> dict[int, dict]:
    """Return each campaign's `ledger`, `counts`, `rates` and `rates_base`, and `opened_over`: the
    counts of its emails that carried the open pixel, over which its open rates are taken (a
    text-only email shows no open; campaigns.selectors.steps_showing_pixel), in five queries."""
    ids = list(campaign_ids)
    ledger = delivery_selectors.campaigns_ledger(campaign_ids=ids)
    counts = campaigns_outcome_counts(campaign_ids=ids, ledger=ledger)
    showing = set(
        steps_showing_pixel(CampaignStep.objects.filter(campaign_id__in=ids)).values_list("pk", flat=True)
    )
    opened_over = campaigns_outcome_counts(campaign_ids=ids, ledger=ledger, steps=showing)
    return {
        pk: {
            "ledger": ledger.get(pk, {"by_status": {}, "recipients": 0}),
            "counts": counts[pk],
            "opened_over": opened_over[pk],
            "rates": campaign_rates(counts=counts[pk], opened_over=opened_over[pk]),
            "rates_base": rates_base(counts=counts[pk]),
        }
        for pk in ids
    }


def campaigns_figures(*, campaign_ids: Iterable[int]) -> dict[int, dict]:
    """Return each campaign's recipients, counts and rates: a list's columns."""
    return {
        pk: {"recipients": each["ledger"]["recipients"], **each}
        for pk, each in campaigns_counts_and_rates(campaign_ids=campaign_ids).items()
    }


def campaign_stats(*, campaign: Campaign, links_shown: int | None = REPORT_LINKS_SHOWN) -> dict:
    """Return a campaign's delivery and engagement figures, each recipient counted once per kind.

    "unique" counts recipients, "total" counts events (and one open for an email a person's click
    opened with its pixel unseen: tracking.engagement.opens_counted); machine opens and clicks
    (privacy proxies, link scanners) are counted apart and left out of the rates. `opened_over`
    counts the emails that carried the open pixel alone: the open rates' part and whole. `links` are
    the `links_shown` most clicked (all with None), `links_more` the count and clicks of the rest.
    """
    mine = campaigns_counts_and_rates(campaign_ids=[campaign.pk])[campaign.pk]
    links = campaign_link_clicks(campaign=campaign, limit=links_shown)
    return {
        "recipients": mine["ledger"]["recipients"],
        "ledger": {status: mine["ledger"]["by_status"].get(status, 0) for status in Status.values},
        **mine["counts"],
        "opened_over": mine["opened_over"],
        "links": links,
        "links_more": campaign_links_more(campaign=campaign, shown=links, limit=links_shown),
        "rates": mine["rates"],
        "rates_base": mine["rates_base"],
    }


def campaign_link_clicks(*, campaign: Campaign, limit: int | None = None) -> list[dict]:
    """Return a campaign's tracked links with their human clicks, most clicked first, `limit` at most.

    Clicks are unique recipients and total; machine clicks (scanners, prefetches) are counted apart.
    Links nobody clicked are listed too, in the order first sent.
    """
    links = (
        _campaign_links(campaign=campaign)
        # Sorted and cut in the database: a link per recipient makes as many rows as the audience.
        .order_by("-clicks_total", "-clicks_unique", "step__order", "pk")
        .values_list("url", "step__order", *LINK_COUNTERS)
    )
    return [
        {
            "url": _unsubscribe_tokens_masked(url),
            # A drip's steps each track their own links: the same address may be listed per step.
            "step": step,
            **dict(zip(LINK_COUNTERS, counters, strict=True)),
        }
        for url, step, *counters in (links if limit is None else links[:limit])
    ]


def campaign_links_more(*, campaign: Campaign, shown: list[dict], limit: int | None) -> dict[str, int]:
    """Return how many of a campaign's tracked links `shown` (campaign_link_clicks) leaves out, and the
    clicks they hold together."""
    if limit is None or len(shown) < limit:
        return {"links": 0, **dict.fromkeys(LINK_COUNTERS, 0)}
    # All of them summed in one query, less the shown: the rest are never read row by row.
    every = _campaign_links(campaign=campaign).aggregate(
        links=Count("pk"), **{field: Coalesce(Sum(field), 0) for field in LINK_COUNTERS}
    )
    return {
        "links": every["links"] - len(shown),
        **{field: every[field] - sum(link[field] for link in shown) for field in LINK_COUNTERS},
    }


def _campaign_links(*, campaign: Campaign) -> QuerySet[TrackedLink]:
    """Return a campaign's tracked links with their human and machine clicks, 0 for the unclicked."""
    return (
        TrackedLink.objects.filter(step__campaign=campaign)
        .exclude(url=delivery_compose.honeypot_url())  # The hidden trap is no marketer's link.
        .annotate(**{field: Coalesce(F(f"engagement__{field}"), 0) for field in LINK_COUNTERS})
    )


def _unsubscribe_tokens_masked(url: str) -> str:
    """Return a tracked address with any of our unsubscribe tokens in it written as `…`, whole or a
    piece of one: a link stored before such links went untracked may hold one recipient's, which
    unsubscribes them."""
    host = urlsplit(settings.PUBLIC_BASE_URL).netloc
    if host and host.lower() in url.lower():
        url = re.sub(rf"(?i)({re.escape(host)}(?:/|%2F)u(?:/|%2F))[^&#\s]+", r"\1…", url)
    # A template's filters may have written the token without our host before it (`cut:'/'`,
    # `slice`, `upper`, `make_list|join`): any run that reads as one, or a piece of one, goes too.
    return tokens.tokens_masked(url)


TIMELINE_LENGTH = 200


def contact_timeline(*, contact: Contact) -> list[dict]:
    """Return what happened to a contact's mail, newest first: each step reached and each event.

    Rows say when a step fell due or was sent, and how it ended (sent, skipped by its condition,
    exited, suppressed…); events are SES's (delivery, bounce, complaint…) and ours (opens, clicks,
    unsubscribes), machine ones marked.
    """
    rows = StepExecution.objects.filter(contact=contact).select_related("step__campaign", "message__template")
    entries: list[dict[str, Any]] = []
    for row in rows.order_by("-pk")[:TIMELINE_LENGTH]:
        if row.message is not None:
            where = f"API · {row.message.template}"
        else:
            where = gettext("%(campaign)s · step %(order)s") % {
                "campaign": row.campaign_step.campaign,
                "order": row.campaign_step.order,
            }
        entries.append(
            {
                "at": row.sent_at or row.due_at or row.created_at,
                "what": gettext("Step %(status)s") % {"status": row.get_status_display().lower()},
                "where": where,
                "detail": " · ".join(
                    filter(
                        None,
                        [row.get_outcome_display() if row.outcome else "", exit_note_shown(row.last_error)],
                    )
                ),
            }
        )
    events = list(
        TrackingEvent.objects.filter(step_execution__contact=contact)
        .select_related("step_execution__step__campaign")
        .order_by("-occurred_at")[:TIMELINE_LENGTH]
    )
    # A click says which link: the addresses of the clicked links, in one query.
    clicked = {event.link_id for event in events} - {None}
    urls: dict[int | None, str] = dict(TrackedLink.objects.filter(pk__in=clicked).values_list("pk", "url"))
    for event in events:
        step = event.step_execution.step if event.step_execution is not None else None
        link = urls.get(event.link_id)
        entries.append(
            {
                "at": event.occurred_at,
                "what": gettext("%(type)s (machine)") % {"type": event.get_type_display()}
                if event.is_machine
                else event.get_type_display(),
                "where": gettext("%(campaign)s · step %(order)s")
                % {"campaign": step.campaign, "order": step.order}
                if step is not None
                else gettext("API message"),
                "detail": " · ".join(
                    filter(None, [_unsubscribe_tokens_masked(link) if link else "", event.kind])
                ),
            }
        )
    return sorted(entries, key=lambda entry: entry["at"], reverse=True)[:TIMELINE_LENGTH]


def campaign_recipient_rows(*, campaign: Campaign):
    """Yield one row per ledger row of the campaign: who, which step, what became of it, engagement."""
    # "opened" is the report's (Engagement.opened: a person opened or clicked it); "opens" is what
    # the email counts in the totals (opens_counted): the pixel's loads, or one a click proved.
    yield [
        "email", "first_name", "last_name", "step", "status", "outcome", "sent_at", "opened", "opens",
        "clicks", "machine_opens", "machine_clicks", "first_opened_at", "first_clicked_at", "note",
    ]  # fmt: skip
    rows = (
        StepExecution.objects.filter(step__campaign=campaign)
        .select_related("step", "engagement", "contact")
        .order_by("step__order", "pk")
    )
    for row in rows.iterator(chunk_size=2000):
        engagement = getattr(row, "engagement", None)
        yield [
            row.email,
            row.contact.first_name if row.contact else "",  # None: erased.
            row.contact.last_name if row.contact else "",
            row.campaign_step.order,
            row.status,
            row.outcome,
            row.sent_at.isoformat() if row.sent_at else "",
            "yes" if engagement is not None and engagement.opened else "no",
            opens_counted(engagement.opens, engagement.clicks) if engagement is not None else 0,
            *(getattr(engagement, field, 0) for field in ("clicks", "machine_opens", "machine_clicks")),
            *(
                moment.isoformat() if (moment := getattr(engagement, field, None)) else ""
                for field in ("first_opened_at", "first_clicked_at")
            ),
            row.last_error,
        ]


def campaign_event_rows(*, campaign: Campaign):
    """Yield one row per event of the campaign, oldest first, with the clicked link's address."""
    yield ["occurred_at", "type", "recipient", "step", "kind", "machine", "link", "ses_message_id"]
    links: dict[int | None, str] = dict(
        TrackedLink.objects.filter(step__campaign=campaign).values_list("pk", "url")
    )
    events = (
        TrackingEvent.objects.filter(step_execution__step__campaign=campaign)
        .select_related("step_execution__step")
        .order_by("occurred_at", "pk")
    )
    for event in events.iterator(chunk_size=2000):
        row = cast(StepExecution, event.step_execution)  # Never None: the filter goes through it.
        yield [
            event.occurred_at.isoformat(),
            event.type,
            event.recipient,
            row.campaign_step.order,
            event.kind,
            "yes" if event.is_machine else "",
            _unsubscribe_tokens_masked(links.get(event.link_id, "")),
            event.ses_message_id,
        ]


def send_events_by_recipient(fragment: str) -> dict[str, int]:
    """Return, per recipient address containing `fragment`, how many distinct emails SES reported
    sending to it (Send events): how a load test counts what real SES received."""
    rows = (
        TrackingEvent.objects.filter(type=Type.SEND, recipient__contains=fragment)
        .values_list("recipient")
        .annotate(n=Count("ses_message_id", distinct=True))
    )
    return dict(rows)


def message_events(*, message_id) -> list[Mapping[str, object]]:
    """Return a transactional message's events, oldest first: what SES reported, opens, clicks."""
    return list(
        TrackingEvent.objects.filter(step_execution__message_id=message_id)
        .order_by("occurred_at")
        .values("type", "occurred_at", "recipient")
    )
