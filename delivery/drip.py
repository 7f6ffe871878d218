"""Drip campaigns: moving contacts from step to step, send windows and the frequency cap.

Every contact moves on its own clock (its previous step's send time plus the next step's delay),
but the work is set-based: one INSERT … SELECT moves every contact who is due, whatever their
number. The ledger row of a step says what became of the contact there: pending (to send),
skipped (the step's condition left them out; they go on to the next step) or exited (they left
the sequence).
"""

import itertools
import logging
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from campaigns.models import Campaign, CampaignStep, Contact, Suppression
from campaigns.selectors import campaign_audience_base
from delivery import metrics
from delivery.models import Engagement, StepExecution, TrackedLink

logger = logging.getLogger(__name__)

Status, Outcome, Condition = StepExecution.Status, StepExecution.Outcome, CampaignStep.Condition


def _links_to(*, steps, url: str) -> list[str]:
    """Return the ids (as Engagement keys) of the steps' tracked links whose address begins with url."""
    return [
        str(pk)
        for pk in TrackedLink.objects.filter(step_id__in=steps, url__startswith=url).values_list(
            "pk", flat=True
        )
    ]


def engaged(steps, *tests: Q, contact: str = "contact_id", **lookups) -> Exists:
    """Whether the outer row's contact engaged so with an email of these steps (None: any step).

    contact names the outer query's contact id: "contact_id" for ledger rows, "pk" for contacts
    (segments read it so, delivery.segment_rules).
    """
    scope = Q(step_id__in=steps) if steps is not None else Q(step__isnull=False)
    return Exists(Engagement.objects.filter(scope, *tests, contact_id=OuterRef(contact), **lookups))


def step_condition(*, step: CampaignStep) -> Q | BaseExpression | None:
    """Return the SQL test of a step's condition on earlier steps' human engagement; None: always."""
    steps = (
        [step.condition_step_id]
        if step.condition_step_id
        else list(
            CampaignStep.objects.filter(campaign_id=step.campaign_id, order__lt=step.order).values_list(
                "pk", flat=True
            )
        )
    )
    if step.condition == Condition.CLICKED_LINK:
        links = _links_to(steps=steps, url=step.condition_url)
        return engaged(steps, links__has_any_keys=links) if links else Q(pk__in=[])
    tests: dict[str, BaseExpression] = {
        Condition.OPENED: engaged(steps, Engagement.opened_q()),
        Condition.NOT_OPENED: ~engaged(steps, Engagement.opened_q()),
        Condition.CLICKED: engaged(steps, clicks__gt=0),
        Condition.NOT_CLICKED: ~engaged(steps, clicks__gt=0),
    }
    return tests.get(step.condition)


#: Why a contact no longer in its campaign's audience (on none of its lists, or matching none of
#: its segments) leaves the sequence (here and at claim time).
LEFT_THE_LISTS = "left the campaign's audience"


def exit_note(reason: str) -> str:
    """Return the note an exited row keeps: why its contact left the sequence (in the engine's
    English, as every stored note; exit_note_shown says it in the reader's language)."""
    return f"{_EXIT_PREFIX}{reason}."


_EXIT_PREFIX = "Left the sequence: "
#: Each reason a row exits for, in the reader's words.
_EXIT_REASONS = {
    "unsubscribed": pgettext_lazy("drip exit", "the contact unsubscribed"),
    LEFT_THE_LISTS: pgettext_lazy("drip exit", "the contact left the campaign's audience"),
    "suppressed": pgettext_lazy("drip exit", "the address is suppressed"),
    "bounced": pgettext_lazy("drip exit", "an earlier email bounced"),
    "complained": pgettext_lazy("drip exit", "the contact complained"),
    "goal reached": pgettext_lazy("drip exit", "the contact reached the goal"),
}


def exit_note_shown(note: str) -> str:
    """Return a row's note in the reader's language when it is an exit's, else as stored."""
    reason = note.removeprefix(_EXIT_PREFIX).removesuffix(".")
    if note.startswith(_EXIT_PREFIX) and reason in _EXIT_REASONS:
        return gettext("Stopped before this step: %(reason)s.") % {"reason": _EXIT_REASONS[reason]}
    return note


def campaign_exits(*, campaign: Campaign) -> list[tuple[Q | Exists, str]]:
    """Return the SQL tests, with their reasons, of contacts who leave the campaign's sequence."""
    steps = list(CampaignStep.objects.filter(campaign=campaign).values_list("pk", flat=True))
    # By step ids, not a join to the steps: each test is a probe of the (step, contact) index.
    rows = StepExecution.objects.filter(contact_id=OuterRef("contact_id"), step_id__in=steps)
    exits: list[tuple[Q | Exists, str]] = [
        (~Q(contact__status=Contact.Status.SUBSCRIBED), "unsubscribed"),
        # Left the campaign's audience: every list it mails (the unsubscribe page's "only leave
        # these lists", or staff), or no longer matching any of its segments.
        (
            ~Q(
                Exists(
                    Contact.objects.filter(pk=OuterRef("contact_id")).filter(
                        campaign_audience_base(campaign=campaign)
                    )
                )
            ),
            LEFT_THE_LISTS,
        ),
        (Exists(Suppression.objects.filter(email=OuterRef("contact__email"))), "suppressed"),
        (Exists(rows.filter(outcome=Outcome.BOUNCED)), "bounced"),
        (Exists(rows.filter(outcome=Outcome.COMPLAINED)), "complained"),
    ]
    if campaign.goal_url:
        links = _links_to(steps=steps, url=campaign.goal_url)
        if links:
            exits.append((engaged(steps, links__has_any_keys=links), "goal reached"))
    return exits


def _passed_rows(
    *, step: CampaignStep, previous: CampaignStep, cutoff: datetime, since: datetime | None
) -> QuerySet:
    """Return the previous step's rows whose contacts passed it by cutoff and are not on this step yet."""
    passed = (
        StepExecution.objects.filter(step=previous, status__in=[Status.SENT, Status.SKIPPED])
        .annotate(passed_at=Coalesce("sent_at", "due_at"))
        .filter(passed_at__lte=cutoff)
    )
    if since is not None:
        passed = passed.filter(passed_at__gt=since)
    return passed.exclude(Exists(StepExecution.objects.filter(step=step, contact_id=OuterRef("contact_id"))))


def step_advance(*, step: CampaignStep, now: datetime | None = None, full: bool = False) -> int:
    """Move on to this step every contact who passed the one before and has waited its delay.

    One INSERT … SELECT; return how many contacts moved. Each gets a pending row, or a skipped
    one (the condition left them out) or an exited one (with the reason). Reads only contacts who
    passed since the last advance, minus DRIP_LATE_SECONDS for rows settled late; a full pass,
    asked for or due once every DRIP_LATE_SECONDS, reads all and so catches rows settled later.
    Idempotent: the step's row lock and the unique (step, contact) index keep every contact single.
    """
    from delivery.ledger import ledger_columns, rows_insert_select

    now = now or timezone.now()
    with transaction.atomic():
        step = CampaignStep.objects.select_related("campaign").select_for_update(of=("self",)).get(pk=step.pk)
        previous = (
            CampaignStep.objects.filter(campaign_id=step.campaign_id, order__lt=step.order)
            .order_by("-order")
            .first()
        )
        if previous is None or (step.send_at is not None and step.send_at > now):
            return 0
        cutoff = now - step.delay
        late = timedelta(seconds=settings.DRIP_LATE_SECONDS)
        since: datetime | None = None
        advanced_through, fully_advanced_at = step.advanced_through, step.fully_advanced_at
        if advanced_through is None or fully_advanced_at is None or fully_advanced_at <= now - late:
            full = True
        elif not full:
            since = advanced_through - late
        source = _passed_rows(step=step, previous=previous, cutoff=cutoff, since=since)
        due: Expression = ExpressionWrapper(F("passed_at") + Value(step.delay), output_field=DateTimeField())
        if step.send_at is not None:
            due = Greatest(due, Value(step.send_at, output_field=DateTimeField()))
        exits = campaign_exits(campaign=step.campaign)
        condition = step_condition(step=step)
        outcomes = [When(test, then=Value(Status.EXITED)) for test, _reason in exits]
        if condition is not None:
            outcomes.append(When(condition, then=Value(Status.PENDING)))
        status = Case(*outcomes, default=Value(Status.SKIPPED if condition is not None else Status.PENDING))
        reason = Case(
            *[When(test, then=Value(exit_note(reason))) for test, reason in exits],
            default=Value(""),
        )
        columns = ledger_columns(
            step_id=step.pk,
            now=now,
            contact_id=F("contact_id"),
            # The contact's address now, not the one the step before went to: it may have changed.
            email=F("contact__email"),
            status=status,
            last_error=reason,
            due_at=due,
        )
        moved = rows_insert_select(source=source, columns=columns)
        if moved:  # Skipped and exited rows too: each is a contact moved on.
            metrics.QUEUED.inc(moved, kind="campaign")
        step.advanced_through = cutoff
        if full:
            step.fully_advanced_at = now
        step.save(update_fields=["advanced_through", "fully_advanced_at"])
    return moved


def campaign_advance(*, campaign: Campaign, now: datetime | None = None) -> int:
    """Advance every later step of a campaign, in order; return how many contacts moved."""
    later_steps = list(CampaignStep.objects.filter(campaign=campaign).order_by("order"))[1:]
    return sum(step_advance(step=step, now=now) for step in later_steps)


def _waiting_rows(*, step: CampaignStep, previous: CampaignStep) -> QuerySet:
    return _passed_rows(
        step=step, previous=previous, cutoff=timezone.now() + timedelta(days=36500), since=None
    )


def waiting_count(*, step: CampaignStep, previous: CampaignStep) -> int:
    """Count contacts who passed `previous` and have not reached `step` yet."""
    return _waiting_rows(step=step, previous=previous).count()


def campaign_waiting(*, campaign: Campaign) -> bool:
    """Whether any contact has passed a step and not yet reached the next one (waits for a delay)."""
    steps = list(CampaignStep.objects.filter(campaign=campaign).order_by("order"))
    return any(
        _waiting_rows(step=step, previous=previous).exists() for previous, step in itertools.pairwise(steps)
    )


# --- Send windows and the frequency cap -------------------------------------------------------------


def _in_window(campaign: Campaign, local: datetime) -> bool:
    if campaign.send_weekdays and str(local.isoweekday()) not in campaign.send_weekdays:
        return False
    start, end = campaign.send_window_start, campaign.send_window_end
    if start is None or end is None or start == end:
        return True
    moment = local.time()
    return start <= moment < end if start < end else (moment >= start or moment < end)


def _zone(*names: str) -> zoneinfo.ZoneInfo:
    """Return the first of these time zones this machine knows, or UTC.

    A contact's zone was checked when it was saved, but perhaps on a machine whose time zone data
    held a zone this worker's lacks (or written by hand): that contact's window is then the
    campaign's, not a failed batch.
    """
    for name in names:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                logger.warning("Time zone %r is unknown to this machine; using the next one.", name)
    return zoneinfo.ZoneInfo("UTC")


def send_window_next(*, campaign: Campaign, tz_name: str, now: datetime) -> datetime | None:
    """Return when the campaign's send window next opens for a contact in tz_name; None: it is open.

    Hours and weekdays are the contact's local ones, so a 09:00 window opens at 09:00 on both
    sides of a daylight-saving change.
    """
    tz = _zone(tz_name, campaign.timezone)
    local = now.astimezone(tz)
    if _in_window(campaign, local):
        return None
    opening = campaign.send_window_start or time(0)
    for days in range(8):
        day: date = local.date() + timedelta(days=days)
        candidate = datetime.combine(day, opening, tzinfo=tz)
        # A time skipped by a daylight-saving change becomes the first instant after it.
        candidate = candidate.astimezone(UTC).astimezone(tz)
        if candidate > local and _in_window(campaign, candidate):
            return candidate.astimezone(UTC)
    return None  # No weekday allowed at all: the form refuses that, so send rather than hold forever.


def _cap_until(sent: list[datetime], *, limit: int, period: timedelta, now: datetime) -> datetime | None:
    """Return when one more email fits under `limit` per rolling `period`; None: it fits now."""
    recent = sorted(moment for moment in sent if moment > now - period)
    if not limit or len(recent) < limit:
        return None
    return recent[len(recent) - limit] + period


def frequency_cap_until(*, executions: list[StepExecution], now: datetime) -> dict[int, datetime]:
    """Return, by row id, when each campaign row may be sent under the marketing frequency cap.

    Rows absent may go now. Mail sent and mail in flight (another campaign's claimed rows) count;
    transactional mail does not.
    """
    per_day, per_week = settings.MARKETING_MAX_PER_DAY, settings.MARKETING_MAX_PER_WEEK
    if not (per_day or per_week) or not executions:
        return {}
    contacts = {row.contact_id for row in executions}
    others = StepExecution.objects.filter(contact_id__in=contacts, step__isnull=False).exclude(
        pk__in=[row.pk for row in executions]
    )
    sent: dict[int | None, list[datetime]] = {}
    week_ago = now - timedelta(days=7)
    for contact_id, status, sent_at in others.filter(
        Q(status=Status.SENT, sent_at__gt=week_ago) | Q(status=Status.SENDING)
    ).values_list("contact_id", "status", "sent_at"):
        # A sent row has its sent_at (the filter compares it); a row in flight counts as sent now.
        sent.setdefault(contact_id, []).append(sent_at if status == Status.SENT and sent_at else now)
    later = {}
    for row in executions:
        moments = sent.get(row.contact_id, [])
        until = max(
            filter(
                None,
                (
                    _cap_until(moments, limit=per_day, period=timedelta(days=1), now=now),
                    _cap_until(moments, limit=per_week, period=timedelta(days=7), now=now),
                ),
            ),
            default=None,
        )
        if until is not None:
            # Mail in flight counts as sent now; it may still settle, so look again soon.
            later[row.pk] = min(until, now + timedelta(days=7)) if until > now else now + timedelta(minutes=5)
        else:
            moments.append(now)  # A second row of the same contact in this batch waits for this one.
            sent[row.contact_id] = moments
    return later
