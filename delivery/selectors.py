"""Reads of the send ledger."""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext
from redis.exceptions import RedisError

from campaigns.models import Campaign, CampaignStep
from core import fleet_metrics as fleet
from core.models import ApiKey, MetricSnapshot
from delivery.models import LedgerTally, SendingHold, StepExecution

logger = logging.getLogger(__name__)


def _tally_by_step_and_status(step_ids) -> Iterable[tuple[int, str, int]]:
    """Yield (step, status, rows) from the ledger's tally, for the steps given (ids or a subquery)."""
    rows = (
        LedgerTally.objects.filter(step_id__in=step_ids)
        .order_by()
        .values_list("step_id", "status")
        .annotate(total=Sum("n"))
    )
    return ((step_id, status, total) for step_id, status, total in rows if total)


def step_tallies(*, campaign: Campaign) -> dict[int, dict[str, int]]:
    """Return a campaign's ledger rows per step and status, read from the tally, not the ledger."""
    counts: dict[int, dict[str, int]] = {}
    for step_id, status, total in _tally_by_step_and_status(campaign.steps.values("pk")):
        counts.setdefault(step_id, {})[status] = total
    return counts


def step_execution_counts(*, campaign: Campaign) -> dict[str, int]:
    """Return the number of ledger rows of a campaign in each status."""
    return campaigns_step_execution_counts(campaign_ids=[campaign.pk]).get(campaign.pk, {})


def campaigns_step_execution_counts(*, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Return the number of ledger rows in each status for each campaign (campaigns_ledger)."""
    return {pk: ledger["by_status"] for pk, ledger in campaigns_ledger(campaign_ids=campaign_ids).items()}


def campaigns_ledger(*, campaign_ids: Iterable[int]) -> dict[int, dict]:
    """Return each campaign's ledger rows by status (`by_status`) and its `recipients`: its first
    step's rows, whatever became of them (every contact starts there; a drip's later steps hold the
    same people again). Also each step's rows sent (`sent_by_step`). From the tally, in two queries
    however many campaigns."""
    campaign_of: dict[int, int] = {}
    first: dict[int, tuple[int, int]] = {}  # Campaign: (order, step id) of its first step.
    steps = CampaignStep.objects.filter(campaign_id__in=list(campaign_ids)).values_list(
        "pk", "campaign_id", "order"
    )
    for step_id, campaign_id, order in steps:
        campaign_of[step_id] = campaign_id
        if campaign_id not in first or order < first[campaign_id][0]:
            first[campaign_id] = (order, step_id)
    ledger: dict[int, dict] = {pk: {"by_status": {}, "recipients": 0, "sent_by_step": {}} for pk in first}
    for step_id, status, total in _tally_by_step_and_status(list(campaign_of)):
        entry = ledger[campaign_of[step_id]]
        entry["by_status"][status] = entry["by_status"].get(status, 0) + total
        if status == StepExecution.Status.SENT:
            entry["sent_by_step"][step_id] = total
        if first[campaign_of[step_id]][1] == step_id:
            entry["recipients"] += total
    return ledger


def ledger_status_totals(*, statuses: Iterable[str]) -> dict[str, int]:
    """Return the number of campaign rows in each of these statuses, load tests left out (the tally)."""
    rows = (
        LedgerTally.objects.filter(
            status__in=list(statuses),
            step_id__in=CampaignStep.objects.filter(campaign__is_load_test=False).values("pk"),
        )
        .order_by()
        .values_list("status")
        .annotate(total=Sum("n"))
    )
    return {status: total for status, total in rows if total}


def campaign_sent_over_time(*, campaign: Campaign, unit: str = "minute") -> list[tuple[datetime, int]]:
    """Return a campaign's emails sent per minute (or per hour, in UTC): rows with a send time,
    whatever became of them, from the tally."""
    rows = LedgerTally.objects.filter(step_id__in=campaign.steps.values("pk"), sent_minute__isnull=False)
    moment = "sent_minute" if unit == "minute" else Trunc("sent_minute", unit, tzinfo=UTC)
    grouped = rows.order_by().values_list(moment).annotate(total=Sum("n")).order_by()
    return sorted((at, total) for at, total in grouped if total)


def campaign_list_sending() -> QuerySet[Campaign]:
    """Return campaigns currently in the sending status."""
    return Campaign.objects.filter(status=Campaign.Status.SENDING).order_by("pk")


def sending_hold_active(*, now: datetime | None = None) -> SendingHold | None:
    """Return the hold that stops all sending now, if any."""
    now = now or timezone.now()
    return SendingHold.objects.filter(Q(until__isnull=True) | Q(until__gt=now)).first()


def campaign_step_progress(*, campaign: Campaign) -> list[dict]:
    """Return, per step in order, its description and its contacts: waiting for it, queued, sent,
    skipped by its condition, exited there, and otherwise stopped (suppressed, failed, unknown)."""
    from delivery import drip

    steps = list(campaign.steps.select_related("template", "condition_step").order_by("order"))
    counts = step_tallies(campaign=campaign)
    Status = StepExecution.Status
    progress = []
    for index, step in enumerate(steps):
        by_status = counts.get(step.pk, {})
        progress.append(
            {
                "step_id": step.pk,
                "order": step.order,
                "summary": step.summary(),
                "waiting": drip.waiting_count(step=step, previous=steps[index - 1]) if index else 0,
                "queued": by_status.get(Status.PENDING, 0) + by_status.get(Status.SENDING, 0),
                "sent": by_status.get(Status.SENT, 0),
                "skipped": by_status.get(Status.SKIPPED, 0),
                "exited": by_status.get(Status.EXITED, 0),
                "stopped": sum(
                    by_status.get(status, 0)
                    for status in (Status.SUPPRESSED, Status.FAILED, Status.UNKNOWN, Status.CANCELLED)
                ),
            }
        )
    return progress


QUEUE_STATUSES = (StepExecution.Status.PENDING, StepExecution.Status.SENDING, StepExecution.Status.UNKNOWN)


def ledger_queue_depth() -> dict[tuple[str, str], int]:
    """Count rows waiting or in flight, by (campaign or transactional, status).

    Campaign rows are counted through the claim index, step by step of the campaigns that can
    still send: no scan of a ledger of millions per scrape.
    """
    steps = CampaignStep.objects.filter(
        campaign__status__in=[Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED]
    ).values("pk")
    depth: dict[tuple[str, str], int] = {
        (kind, status): 0 for kind in ("campaign", "transactional") for status in QUEUE_STATUSES
    }
    for kind, rows in (
        ("campaign", StepExecution.objects.filter(step_id__in=steps)),
        ("transactional", StepExecution.objects.filter(message__isnull=False)),
    ):
        by_status = (
            rows.filter(status__in=QUEUE_STATUSES).order_by().values_list("status").annotate(n=Count("pk"))
        )
        for status, n in by_status:
            depth[kind, status] = n
    return depth


def fleet_metrics_stored() -> dict | None:
    """Return the fleet's stored metrics, or None while their store (Redis) does not answer: a page
    that shows some of them says so and shows the rest."""
    try:
        return fleet.metrics_read()
    except RedisError:
        logger.warning("The fleet's metrics could not be read: Redis does not answer.", exc_info=True)
        return None


def ses_quota(*, stored: dict | None = None) -> dict:
    """Return SES's daily quota as the workers last read it: `quota_max` and `quota_used` (None
    until read), and `metrics_unavailable` while the metrics store does not answer. From the
    fleet's stored metrics (`stored`, read here unless given)."""
    from delivery import metrics

    if stored is None:
        stored = fleet_metrics_stored()
    return {
        "quota_max": (stored or {}).get(fleet.series_name(metrics.QUOTA_MAX.name)),
        "quota_used": (stored or {}).get(fleet.series_name(metrics.QUOTA_USED.name)),
        "metrics_unavailable": stored is None,
    }


def delivery_dashboard(*, now: datetime | None = None, minutes: int = 60) -> dict:
    """Return what the delivery dashboard shows: per-minute flows over the last `minutes`, SES call
    times, the limiter and quota, the queue, failed rows and the hold."""
    from delivery import metrics

    now = now or timezone.now()
    since = now - timedelta(minutes=minutes)
    snapshots = list(MetricSnapshot.objects.filter(at__gte=since).order_by("at"))
    # Each minute is the growth since the snapshot before it; the window's first minute needs the
    # last snapshot before the window. With none at all, the fleet's counters grew from nothing
    # in the minute before its first snapshot, which must not be left out.
    baseline = MetricSnapshot.objects.filter(at__lt=since).order_by("-at").first()
    if baseline is None and snapshots:
        baseline = MetricSnapshot(at=snapshots[0].at - timedelta(minutes=1), values={})
    snapshots = [baseline, *snapshots] if baseline else snapshots

    def per_minute(name: str, *label_sets: dict) -> list[tuple[datetime, float]]:
        series = [fleet.metric_per_minute(snapshots, name, **labels) for labels in label_sets]
        return [
            (moment, sum(values[i][1] for values in series)) for i, (moment, _value) in enumerate(series[0])
        ]

    outcomes = [{"outcome": outcome} for outcome in ("sent", "failed", "unknown", "suppressed")]
    stored = fleet_metrics_stored()
    recent = snapshots[-16:]  # The last quarter of an hour.
    return {
        "queued": per_minute(metrics.QUEUED.name, {"kind": "campaign"}, {"kind": "transactional"}),
        "processed": per_minute(metrics.EMAILS.name, *outcomes),
        "sent": per_minute(metrics.EMAILS.name, {"outcome": "sent"}),
        "throttled": per_minute(metrics.SES_ERRORS.name, {"kind": "throttled"}, {"kind": "quota"}),
        "latency_p50": fleet.histogram_quantile(recent, metrics.SES_SECONDS.name, 0.5),
        "latency_p95": fleet.histogram_quantile(recent, metrics.SES_SECONDS.name, 0.95),
        "send_rate": (stored or {}).get(fleet.series_name(metrics.SEND_RATE.name)),
        **ses_quota(stored=stored or {}),
        "metrics_unavailable": stored is None,
        "queue": ledger_queue_depth(),
        "failed": StepExecution.objects.filter(status=StepExecution.Status.FAILED).count(),
        "hold": sending_hold_active(now=now),
    }


def campaign_status_shown(*, campaign: Campaign, counts: dict[str, int] | None = None) -> str:
    """Return a campaign's status as people read it: a completed campaign with `unknown` rows is
    "Completed — N unconfirmed", since SES may or may not have taken those emails."""
    if campaign.status != Campaign.Status.COMPLETED:
        return campaign.get_status_display()
    counts = step_execution_counts(campaign=campaign) if counts is None else counts
    unconfirmed = counts.get(StepExecution.Status.UNKNOWN, 0)
    if not unconfirmed:
        return campaign.get_status_display()
    return gettext("Completed — %(count)s unconfirmed") % {"count": unconfirmed}


#: Rows still to go: queued, or in a worker's hands.
UNDER_WAY_STATUSES = (StepExecution.Status.PENDING, StepExecution.Status.SENDING)


def campaign_progress(*, campaign: Campaign, counts: dict[str, int], rate: float | None) -> dict:
    """Return how far a campaign's queued rows are: done of all, the share, and when the rest is
    done at `rate` emails a second (None while no rate is known yet)."""
    total = sum(counts.values())
    left = sum(counts.get(status, 0) for status in UNDER_WAY_STATUSES)
    finished = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
    return {
        "total": total,
        "done": total - left,
        "left": left,
        "share": (total - left) / total if total else None,
        "eta": timedelta(seconds=round(left / rate)) if rate and left else None,
        "finished": finished,
        "sending": campaign.status == Campaign.Status.SENDING,
    }


def step_executions_key_sees(*, key: ApiKey, path: str = "") -> Q:
    """Return the filter of the ledger rows an API key may read, reached through `path` ("" for a
    ledger row, "step_execution__" from an event): campaign mail is the account's, a transactional
    message its own key's alone."""
    return Q(**{f"{path}message__isnull": True}) | Q(**{f"{path}message__api_key": key})
