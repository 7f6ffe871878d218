"""Tallies: the ledger and event counts the database keeps as deltas match a recount, always."""

import importlib
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncMinute

from core.db import tally_compact, tally_triggers_create, tally_triggers_drop
from core.tasks import tallies_compact
from delivery import selectors as delivery_selectors
from delivery.models import LedgerTally, StepExecution
from tests.factories import (
    CampaignFactory,
    CampaignStepFactory,
    ContactFactory,
    StepExecutionFactory,
    TrackingEventFactory,
)
from tracking import report as tracking_report
from tracking.models import EventTally, TrackingEvent

Status = StepExecution.Status
Type = TrackingEvent.Type
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ledger_recount(campaign) -> dict:
    rows = StepExecution.objects.filter(step__campaign=campaign).values_list("step_id", "status")
    counts: dict = {}
    for step_id, status in rows:
        counts.setdefault(step_id, {}).setdefault(status, 0)
        counts[step_id][status] += 1
    return counts


def sent_recount(campaign) -> dict:
    rows = (
        StepExecution.objects.filter(step__campaign=campaign, sent_at__isnull=False)
        .annotate(minute=TruncMinute("sent_at"))
        .order_by()
        .values_list("minute")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def event_recount(campaign) -> dict:
    rows = (
        TrackingEvent.objects.filter(step_execution__step__campaign=campaign)
        .annotate(minute=TruncMinute("occurred_at"))
        .order_by()
        .values_list("step_execution__step_id", "type", "kind", "is_machine", "minute")
        .annotate(n=Count("pk"))
    )
    return {tuple(key): n for *key, n in rows}


def event_tally(campaign) -> dict:
    rows = (
        EventTally.objects.filter(step_id__in=campaign.steps.values("pk"))
        .values_list("step_id", "type", "kind", "is_machine", "minute")
        .annotate(total=Sum("n"))
    )
    return {tuple(key): total for *key, total in rows if total}


def two_step_campaign(contacts: int):
    campaign = CampaignFactory()
    first = CampaignStepFactory(campaign=campaign, order=1)
    second = CampaignStepFactory(campaign=campaign, order=2)
    people = [ContactFactory() for _ in range(contacts)]
    return campaign, first, second, people


def test_ledger_tally_follows_every_kind_of_write_and_survives_compaction(db):
    campaign, first, second, people = two_step_campaign(12)
    other = CampaignStepFactory()  # Another campaign's rows are not counted here.
    rng = random.Random(8)
    # Bulk insert (fan-out), one-by-one create, queryset updates, save(), raw SQL and deletes.
    StepExecution.objects.bulk_create(
        StepExecution(step=first, contact=person, email=person.email) for person in people
    )
    StepExecutionFactory(step=second, contact=people[0])
    StepExecutionFactory(step=other, contact=people[0])
    StepExecution.objects.filter(step=first, contact__in=people[:8]).update(status=Status.SENDING)
    for index, row in enumerate(StepExecution.objects.filter(step=first, status=Status.SENDING)):
        row.status = rng.choice([Status.SENT, Status.SENT, Status.FAILED, Status.UNKNOWN])
        row.sent_at = START + timedelta(minutes=37 * index) if row.status == Status.SENT else None
        row.save()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {StepExecution._meta.db_table} SET status = %s WHERE step_id = %s AND status = %s",  # noqa: S608
            [Status.PENDING, first.pk, Status.FAILED],
        )
    StepExecution.objects.filter(step=first, contact=people[11]).delete()
    StepExecution.objects.filter(step=first, status=Status.UNKNOWN).update(
        status=Status.SENT, sent_at=START + timedelta(hours=5)
    )
    StepExecution.objects.filter(step=first, status=Status.SENT).update(last_error="touched")  # No change.

    expected = ledger_recount(campaign)
    assert delivery_selectors.step_tallies(campaign=campaign) == expected
    assert dict(delivery_selectors.campaign_sent_over_time(campaign=campaign)) == sent_recount(campaign)
    assert sum(sent_recount(campaign).values()) == expected[first.pk][Status.SENT]
    deltas = LedgerTally.objects.count()

    tallies_compact()

    assert delivery_selectors.step_tallies(campaign=campaign) == expected
    assert dict(delivery_selectors.campaign_sent_over_time(campaign=campaign)) == sent_recount(campaign)
    # One row per (step, status, minute) is left, and no key that sums to zero.
    keys = LedgerTally.objects.values_list("step_id", "status", "sent_minute")
    assert LedgerTally.objects.count() == len(set(keys)) < deltas
    assert not LedgerTally.objects.filter(n=0).exists()
    assert tally_compact(LedgerTally) == 0  # Nothing left to fold.


def test_deleting_a_campaign_takes_its_counts_away(db):
    campaign, first, _, people = two_step_campaign(3)
    for person in people:
        row = StepExecutionFactory(step=first, contact=person, status=Status.SENT, sent_at=START)
        TrackingEventFactory(step_execution=row, type=Type.OPEN, occurred_at=START)
    campaign.delete()

    tallies_compact()

    assert not LedgerTally.objects.exists()
    assert not EventTally.objects.exists()


def test_event_tally_follows_inserts_rejudged_clicks_relinks_and_deletes(db):
    campaign, first, second, people = two_step_campaign(6)
    rows = [StepExecutionFactory(step=first, contact=person, status=Status.SENT) for person in people]
    later = StepExecutionFactory(step=second, contact=people[0], status=Status.SENT)
    for index, row in enumerate(rows):
        for kind in (Type.DELIVERY, Type.OPEN, Type.OPEN, Type.CLICK):
            TrackingEventFactory(
                step_execution=row,
                type=kind,
                is_machine=index == 0 and kind == Type.OPEN,
                occurred_at=START + timedelta(minutes=50 * index),
            )
    TrackingEventFactory(step_execution=later, type=Type.CLICK, occurred_at=START)
    # A click judged human, then re-judged as a scanner's burst.
    TrackingEvent.objects.filter(step_execution=rows[1], type=Type.CLICK).update(is_machine=True)
    # An event kept unlinked, then linked when its row turned up.
    stray = TrackingEventFactory(step_execution=None, type=Type.DELIVERY, occurred_at=START)
    stray.step_execution = rows[2]
    stray.save()
    TrackingEvent.objects.filter(step_execution=rows[3], type=Type.OPEN).delete()

    assert event_tally(campaign) == event_recount(campaign)
    tallies_compact()
    assert event_tally(campaign) == event_recount(campaign)

    activity = tracking_report.campaign_activity(campaign=campaign, now=START + timedelta(days=1))
    opens = activity["series"]["opens"]
    assert sum(opens) == TrackingEvent.objects.filter(type=Type.OPEN, is_machine=False).count()
    assert sum(activity["series"]["clicks"]) == 6  # 7 clicks, one re-judged a machine's.


def test_the_migration_counts_rows_that_were_there_before_it(db):
    module = importlib.import_module("delivery.migrations.0016_ledger_tally_minute")
    campaign, first, _, people = two_step_campaign(4)
    tally_triggers_drop(connection, name=module.NEW["name"], source=module.NEW["source"])
    try:
        for person in people:
            StepExecutionFactory(step=first, contact=person, status=Status.SENT, sent_at=START)
        LedgerTally.objects.all().delete()
        assert delivery_selectors.step_tallies(campaign=campaign) == {}
    finally:
        tally_triggers_create(connection, **module.NEW)

    assert delivery_selectors.step_tallies(campaign=campaign) == {first.pk: {Status.SENT: 4}}
    assert dict(delivery_selectors.campaign_sent_over_time(campaign=campaign)) == {START: 4}


@pytest.mark.django_db(transaction=True)
def test_compaction_racing_open_transactions_loses_and_doubles_nothing(postgres_only):
    campaign, first, _, people = two_step_campaign(40)
    StepExecution.objects.bulk_create(
        StepExecution(step=first, contact=person, email=person.email) for person in people
    )
    for person in people[:10]:  # Committed deltas for the compactions to fold.
        StepExecution.objects.filter(contact=person).update(status=Status.SENDING)
        StepExecution.objects.filter(contact=person).update(status=Status.PENDING)
    started = threading.Barrier(3)
    errors = []

    def settle(chunk):
        try:
            with transaction.atomic():
                ids = list(StepExecution.objects.filter(contact__in=chunk).values_list("pk", flat=True))
                for pk in ids:
                    StepExecution.objects.filter(pk=pk).update(status=Status.SENT, sent_at=START)
                    if pk == ids[len(ids) // 2]:
                        started.wait(timeout=10)  # Deltas written, not yet committed.
                        started.wait(timeout=10)  # The compactions have run.
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def compact():
        try:
            started.wait(timeout=10)
            threads = [threading.Thread(target=fold) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            started.wait(timeout=10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def fold():
        try:
            tally_compact(LedgerTally)
        finally:
            connection.close()

    workers = [threading.Thread(target=settle, args=(people[i::2],)) for i in range(2)]
    workers.append(threading.Thread(target=compact))
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors
    tallies_compact()

    assert delivery_selectors.step_tallies(campaign=campaign) == {first.pk: {Status.SENT: 40}}
    assert dict(delivery_selectors.campaign_sent_over_time(campaign=campaign)) == {START: 40}
