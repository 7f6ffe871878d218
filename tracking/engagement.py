"""Engagement counters per email, step and link, kept in the transaction that writes the events."""

import itertools
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.db import models, transaction
from django.db.models import F, Min

from delivery.models import Engagement, StepExecution, TrackedLink
from tracking.models import (
    LinkEngagement,
    StepEngagement,
    TrackingEvent,
)
from tracking.outcomes import (
    ARRIVED_UNREPORTED,
    COUNTED_EVENT_TYPES,
    arrived_unreported,
    outcome_keys,
    outcomes_reported,
)

_ENGAGEMENT_FIELDS = (
    "opens",
    "clicks",
    "machine_opens",
    "machine_clicks",
    "first_opened_at",
    "first_clicked_at",
    "links",
    "machine_links",
)


def opens_counted(opens: int, clicks: int) -> int:
    """Return the opens an email counts in the totals: its pixel's, or one when a person's click opened it.

    A click proves the open that a blocked pixel did not show (Engagement.counts_as_opened), so the
    total opens never fall below the emails opened.
    """
    return max(opens, int(Engagement.counts_as_opened(opens, clicks)))


@dataclass(frozen=True)
class Engaged:
    """One open or click to count for an email, or (sign -1) to take back."""

    #: None: the email's ledger row is gone (its events keep SET_NULL); nothing is counted.
    execution_id: int | None
    type: str
    is_machine: bool
    link_id: int | None
    at: datetime
    sign: int = 1

    @classmethod
    def of(cls, event: TrackingEvent) -> "Engaged":
        return cls(event.step_execution_id, event.type, event.is_machine, event.link_id, event.occurred_at)


def _counters_add(model: type[models.Model], deltas: dict[int, Counter]) -> None:
    """Add each key's deltas to its counter row, creating it; keys in order, so locks never cross."""
    deltas = {key: delta for key, delta in deltas.items() if any(delta.values())}
    manager = model._default_manager
    manager.bulk_create([model(pk=key) for key in deltas], ignore_conflicts=True)
    for key in sorted(deltas):
        manager.filter(pk=key).update(**{field: F(field) + n for field, n in deltas[key].items() if n})


def _first_human_times(rows: dict[int, Engagement], stale: set[tuple[int, str]]) -> None:
    """Find again the first human open or click of emails whose first one was taken back."""
    Type = TrackingEvent.Type
    for field, kind in (("first_opened_at", Type.OPEN), ("first_clicked_at", Type.CLICK)):
        ids = [pk for pk, stale_field in stale if stale_field == field]
        firsts = dict(
            TrackingEvent.objects.filter(step_execution_id__in=ids, type=kind, is_machine=False)
            .order_by()
            .values_list("step_execution_id")
            .annotate(first=Min("occurred_at"))
        )
        for pk in ids:
            setattr(rows[pk], field, firsts.get(pk))


def _engagement_rows_locked(execution_ids: Collection[int | None]) -> dict[int, Engagement]:
    """Return the emails' engagement rows, made if missing and locked in id order (so writers
    running side by side never deadlock); emails deleted since are left out."""
    emails = StepExecution.objects.filter(pk__in=execution_ids).values_list("pk", "step_id", "contact_id")
    steps = {pk: (step_id, contact_id) for pk, step_id, contact_id in emails}
    Engagement.objects.bulk_create(
        [
            Engagement(step_execution_id=pk, step_id=step_id, contact_id=contact_id)
            for pk, (step_id, contact_id) in sorted(steps.items())
        ],
        ignore_conflicts=True,
    )
    return {row.pk: row for row in Engagement.objects.select_for_update().filter(pk__in=steps).order_by("pk")}


def engagement_add(*, engaged: list[Engaged]) -> None:
    """Count new opens and clicks (and take back re-judged ones) for their emails, steps and links.

    Call it in the transaction that wrote (or re-judged) the events, once per event: rows are
    locked email by email in order, so consumers running side by side count every event once.
    """
    rows = _engagement_rows_locked({item.execution_id for item in engaged})
    if not rows:
        return
    before = {pk: {field: getattr(row, field) for field in _ENGAGEMENT_FIELDS} for pk, row in rows.items()}
    stale: set[tuple[int, str]] = set()
    for item in engaged:
        row = None if item.execution_id is None else rows.get(item.execution_id)
        if row is None:
            continue  # Its email is gone.
        noun = "opens" if item.type == TrackingEvent.Type.OPEN else "clicks"
        column = f"machine_{noun}" if item.is_machine else noun
        setattr(row, column, getattr(row, column) + item.sign)
        if not item.is_machine:
            first = "first_opened_at" if noun == "opens" else "first_clicked_at"
            if item.sign < 0:
                stale.add((row.pk, first))
            elif getattr(row, first) is None or item.at < getattr(row, first):
                setattr(row, first, item.at)
        if noun == "clicks" and item.link_id is not None:
            field = "machine_links" if item.is_machine else "links"
            # A new dict each time, and no zeros kept: `before` keeps the old one, and "clicked
            # this link" stays a key lookup.
            counts = {
                **getattr(row, field),
                str(item.link_id): getattr(row, field).get(str(item.link_id), 0) + item.sign,
            }
            setattr(row, field, {link: n for link, n in counts.items() if n})
    _first_human_times(rows, stale)
    step_deltas: dict[int, Counter] = defaultdict(Counter)
    link_deltas: dict[int, Counter] = defaultdict(Counter)
    for pk, row in rows.items():
        old = before[pk]
        if row.step_id is not None:
            delta = step_deltas[row.step_id]
            was_opened = Engagement.counts_as_opened(old["opens"], old["clicks"])
            delta["opens_unique"] += row.opened - was_opened
            delta[ARRIVED_UNREPORTED] += arrived_unreported(
                opened=row.opened, outcomes=row.outcomes
            ) - arrived_unreported(opened=was_opened, outcomes=row.outcomes)
            delta["clicks_unique"] += (row.clicks > 0) - (old["clicks"] > 0)
            delta["opens_total"] += opens_counted(row.opens, row.clicks) - opens_counted(
                old["opens"], old["clicks"]
            )
            delta["clicks_total"] += row.clicks - old["clicks"]
            for noun in ("opens", "clicks"):
                delta[f"machine_{noun}_total"] += getattr(row, f"machine_{noun}") - old[f"machine_{noun}"]
        for link in (
            old["links"].keys() | row.links.keys() | old["machine_links"].keys() | row.machine_links.keys()
        ):
            human, was_human = row.links.get(link, 0), old["links"].get(link, 0)
            delta = link_deltas[int(link)]
            delta["clicks_unique"] += (human > 0) - (was_human > 0)
            delta["clicks_total"] += human - was_human
            delta["machine_clicks_total"] += row.machine_links.get(link, 0) - old["machine_links"].get(
                link, 0
            )
    Engagement.objects.bulk_update(rows.values(), _ENGAGEMENT_FIELDS, batch_size=500)
    _counters_add(StepEngagement, step_deltas)
    # A link deleted since (with its step) keeps no counter.
    existing = set(TrackedLink.objects.filter(pk__in=link_deltas).values_list("pk", flat=True))
    _counters_add(LinkEngagement, {pk: delta for pk, delta in link_deltas.items() if pk in existing})


def engagement_outcomes_add(*, outcomes: list[tuple[int, str]]) -> None:
    """Count (email, outcome) pairs for their steps, each email's outcome once however often reported,
    and its bounce under one class alone (tracking.outcomes.outcomes_reported).

    Call it in the transaction that wrote the events; rows are locked in id order, like opens.
    """
    rows = _engagement_rows_locked({execution_id for execution_id, _key in outcomes})
    if not rows:
        return
    deltas: dict[int, Counter] = defaultdict(Counter)
    changed = {}
    for execution_id, key in outcomes:
        row = rows.get(execution_id)
        if row is None:
            continue
        before = row.outcomes
        after = outcomes_reported(outcomes=before, key=key)
        if after == before:
            continue
        was_arrived = arrived_unreported(opened=row.opened, outcomes=before)
        row.outcomes = after
        changed[row.pk] = row
        if row.step_id is not None:
            delta = deltas[row.step_id]
            for counted in set(after) - set(before):
                delta[counted] += 1
            for taken_back in set(before) - set(after):  # A bounce class a more final one replaced.
                delta[taken_back] -= 1
            delta[ARRIVED_UNREPORTED] += arrived_unreported(opened=row.opened, outcomes=after) - was_arrived
    Engagement.objects.bulk_update(changed.values(), ["outcomes"], batch_size=500)
    _counters_add(StepEngagement, deltas)


#: The key under which an SES event of a campaign email whose contact was deleted keeps the email's
#: step, once its ledger row is gone and the event is left unlinked (SET_NULL).
FORGOTTEN_STEP = "step_id"
#: SES's events of an email it took (a rendering failure is of mail it did not send).
SES_TOOK_TYPES = (
    TrackingEvent.Type.SEND,
    TrackingEvent.Type.DELIVERY,
    TrackingEvent.Type.DELIVERY_DELAY,
    TrackingEvent.Type.BOUNCE,
    TrackingEvent.Type.COMPLAINT,
    TrackingEvent.Type.REJECT,
)


def _events_keep_step(*, contact_ids: list[int], chunk: int = 2000) -> None:
    """Write each SES event of these contacts' campaign emails its email's step (FORGOTTEN_STEP).

    SES goes on counting that mail, its bounces and complaints, whoever was deleted since; so do
    the reputation guard and Account health (tracking.reputation), from these events.
    """
    events = (
        TrackingEvent.objects.filter(
            step_execution__contact_id__in=contact_ids,
            step_execution__step__isnull=False,
            type__in=SES_TOOK_TYPES,
        )
        .exclude(ses_message_id="")
        .order_by("pk")
        .values_list("pk", "raw", "step_execution__step_id")
    )
    kept: list[TrackingEvent] = []
    for row in itertools.chain(events.iterator(chunk_size=chunk), [None]):
        if row is not None:
            pk, raw, step_id = row
            raw = raw if isinstance(raw, dict) else {}
            kept.append(TrackingEvent(pk=pk, raw={**raw, FORGOTTEN_STEP: step_id}))
        if kept and (row is None or len(kept) == chunk):
            TrackingEvent.objects.bulk_update(kept, ["raw"])
            kept = []


def engagement_forget(*, contact_ids: Collection[int]) -> None:
    """Take the campaign emails of contacts about to be deleted out of their steps' and links'
    counters, as their ledger rows leave "sent": every rate stays over the emails still on record.

    Their SES events keep their email's step (_events_keep_step): SES still counts that mail.
    Call it in the transaction that deletes them. Their ledger rows are locked first: an open or an
    outcome being counted for one of them meanwhile (its engagement row not made yet) waits, then
    finds the row gone, instead of adding to the step's counters after this took its share out.
    """
    ids = list(contact_ids)
    list(
        StepExecution.objects.select_for_update().filter(contact_id__in=ids).order_by("pk").values_list("pk")
    )
    _events_keep_step(contact_ids=ids)
    rows = (
        Engagement.objects.select_for_update()
        .filter(step_execution__contact_id__in=ids, step__isnull=False)
        .order_by("pk")
    )
    step_deltas: dict[int, Counter] = defaultdict(Counter)
    link_deltas: dict[int, Counter] = defaultdict(Counter)
    for row in rows.iterator(chunk_size=2000):
        delta = step_deltas[cast(int, row.step_id)]
        delta["opens_unique"] -= row.opened
        delta[ARRIVED_UNREPORTED] -= arrived_unreported(opened=row.opened, outcomes=row.outcomes)
        delta["clicks_unique"] -= row.clicks > 0
        delta["opens_total"] -= opens_counted(row.opens, row.clicks)
        delta["clicks_total"] -= row.clicks
        for noun in ("opens", "clicks"):
            delta[f"machine_{noun}_total"] -= getattr(row, f"machine_{noun}")
        for key in row.outcomes:
            delta[key] -= 1
        for link, n in row.links.items():
            link_deltas[int(link)]["clicks_unique"] -= n > 0
            link_deltas[int(link)]["clicks_total"] -= n
        for link, n in row.machine_links.items():
            link_deltas[int(link)]["machine_clicks_total"] -= n
    _counters_add(StepEngagement, step_deltas)
    existing = set(TrackedLink.objects.filter(pk__in=link_deltas).values_list("pk", flat=True))
    _counters_add(LinkEngagement, {pk: delta for pk, delta in link_deltas.items() if pk in existing})


def engagement_rebuild(*, chunk: int = 5000) -> int:
    """Count every email's, step's and link's opens and clicks again from the events.

    For upgrades and audits, with the consumer ticks stopped. Return how many events were counted.
    """
    with transaction.atomic():
        for model in (Engagement, StepEngagement, LinkEngagement):
            model.objects.all().delete()
    events = (
        TrackingEvent.objects.filter(
            type__in=(TrackingEvent.Type.OPEN, TrackingEvent.Type.CLICK), step_execution__isnull=False
        )
        .order_by("step_execution_id")
        .only("step_execution_id", "type", "is_machine", "raw", "occurred_at")
    )
    reported = (
        TrackingEvent.objects.filter(
            type__in=COUNTED_EVENT_TYPES,
            step_execution__isnull=False,
        )
        .order_by("step_execution_id")
        .values_list("step_execution_id", "type", "kind")
    )
    outcomes = [
        (pk, key)
        for pk, kind_of, kind in reported.iterator(chunk_size=chunk)
        for key in outcome_keys(event_type=kind_of, kind=kind)
    ]
    for start in range(0, len(outcomes), chunk):
        with transaction.atomic():
            engagement_outcomes_add(outcomes=outcomes[start : start + chunk])
    counted, part = 0, []
    for event in itertools.chain(events.iterator(chunk_size=chunk), [None]):
        if event is not None:
            part.append(Engaged.of(event))
        if part and (event is None or len(part) == chunk):
            with transaction.atomic():
                engagement_add(engaged=part)
            counted, part = counted + len(part), []
    return counted
