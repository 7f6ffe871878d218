"""Campaigns: created and edited with their steps, moved along the status machine, recurring runs."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from campaigns.audience import address_validate
from campaigns.exceptions import CampaignNotReady, InvalidTransition, TemplateRenderError
from campaigns.models import Campaign, CampaignAudit, CampaignStep, ContactList, Segment
from campaigns.rendering import template_compile
from campaigns.segments import segment_names_refused, segment_references
from core.db import rows_lock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = Campaign.Status

#: action → (statuses it may start from, status it leads to). None: decided by the action.
CAMPAIGN_TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "schedule": (frozenset({Status.DRAFT}), Status.SCHEDULED),
    "unschedule": (frozenset({Status.SCHEDULED}), Status.DRAFT),
    "start": (frozenset({Status.SCHEDULED}), Status.SENDING),
    "pause": (frozenset({Status.SCHEDULED, Status.SENDING}), Status.PAUSED),
    "resume": (frozenset({Status.PAUSED}), None),
    "complete": (frozenset({Status.SENDING}), Status.COMPLETED),
    # Failed rows put back in the queue make a completed campaign send again.
    "reopen": (frozenset({Status.COMPLETED}), Status.SENDING),
    "cancel": (frozenset({Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED}), Status.CANCELLED),
}

#: Each action in words, for the messages that name it.
CAMPAIGN_ACTION_WORDS = {
    "schedule": _("schedule"),
    "unschedule": _("unschedule"),
    "start": _("start"),
    "pause": _("pause"),
    "resume": _("resume"),
    "complete": _("complete"),
    "reopen": _("reopen"),
    "cancel": _("cancel"),
}


# --- Addresses ------------------------------------------------------------------------------------


# --- Templates ------------------------------------------------------------------------------------


# --- Contacts and lists ---------------------------------------------------------------------------


def contact_lists_delete(*, pks: list[int]) -> int:
    """Delete these lists (their memberships go with them), unless a segment's rules name one:
    then delete none and raise NamedBySegment. Return how many were deleted."""
    with transaction.atomic():
        # Locked before the checks: a segment or a campaign being saved to name one of them
        # (holding it, campaign_lists_lock, segment_references_lock) commits first and is seen.
        rows_lock(ContactList, pks, strength="UPDATE")
        segment_names_refused(list_ids=pks)
        _total, counts = ContactList.objects.filter(pk__in=pks).delete()
    return counts.get(ContactList._meta.label, 0)


def segment_references_lock(definition) -> None:
    """Hold the lists and campaigns a definition names against deletion until the transaction
    ends, and raise ValidationError if one is gone: whichever of a save and a deletion commits
    second sees the other (the deleter, this segment naming them; this, the list gone)."""
    lists, campaigns = segment_references(definition)
    if missing := sorted(lists - rows_lock(ContactList, lists, strength="KEY SHARE")):
        raise ValidationError({"definition": [gettext("No list %(id)s.") % {"id": missing[0]}]})
    if campaigns - rows_lock(Campaign, campaigns, strength="KEY SHARE"):
        raise ValidationError({"definition": [gettext("A campaign the rule names does not exist.")]})


def segment_save(*, segment: Segment) -> Segment:
    """Save a segment whose definition was checked, what its rules name held while it is written."""
    with transaction.atomic():
        segment_references_lock(segment.definition)
        segment.save()
    return segment


# --- API keys -------------------------------------------------------------------------------------


# --- Suppression ----------------------------------------------------------------------------------


# --- Campaigns ----------------------------------------------------------------------------------


def campaign_steps_limit_check(*, count: int) -> None:
    """Raise ValidationError, naming the limit, if a campaign would hold more than MAX_STEPS steps."""
    if count > Campaign.MAX_STEPS:
        said = gettext("A campaign holds at most %(max)d steps; this one would hold %(count)d.")
        raise ValidationError(said % {"max": Campaign.MAX_STEPS, "count": count}, code="too_many_steps")


@transaction.atomic
def _steps_create(*, campaign: Campaign, steps) -> None:
    """Create a campaign's steps ({order, template, delay, …}); condition_step_order names, by its
    order, the earlier step a condition looks at."""
    steps = [dict(step) for step in steps]
    try:
        campaign_steps_limit_check(count=len(steps))
    except ValidationError as exc:
        raise ValidationError({"steps": exc.error_list}) from exc
    looked_at = {step["order"]: step.pop("condition_step_order", None) for step in steps}
    CampaignStep.objects.bulk_create([CampaignStep(campaign=campaign, **step) for step in steps])
    by_order = {step.order: step for step in campaign.steps.all()}
    for order, earlier in looked_at.items():
        if earlier is not None:
            CampaignStep.objects.filter(pk=by_order[order].pk).update(condition_step=by_order[earlier])


def campaign_lists_lock(*, lists) -> None:
    """Hold the lists (or their ids) a campaign is being saved with against deletion until the
    transaction ends, and raise ValidationError if one is gone: a campaign narrowed by segments is
    never left with its segments alone, which would mail everyone in them."""
    pks = {getattr(item, "pk", item) for item in lists}
    if missing := sorted(pks - rows_lock(ContactList, pks, strength="KEY SHARE")):
        raise ValidationError({"lists": [gettext("No list %(id)s.") % {"id": missing[0]}]})


@transaction.atomic
def campaign_create(*, steps=(), lists=(), segments=(), **fields) -> Campaign:
    """Create a draft campaign with its steps and audience: lists, segments or both."""
    campaign_lists_lock(lists=lists)
    campaign = Campaign(**fields)
    campaign.full_clean(exclude=["lists", "segments"])
    campaign.save()
    campaign.lists.set(lists)
    campaign.segments.set(segments)
    _steps_create(campaign=campaign, steps=steps)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, steps=None, lists=None, segments=None, **fields) -> Campaign:
    """Change a draft campaign; given steps, lists or segments replace the old ones.

    Only drafts change: a scheduled campaign is unscheduled first, so what is sent is what was
    reviewed when it was scheduled.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        said = gettext(
            "Campaign “%(name)s” has the status %(status)s: only a draft can be edited (unschedule it first)."
        )
        raise InvalidTransition(said % {"name": campaign.name, "status": campaign.get_status_display()})
    if lists is not None or segments is not None:
        # The lists it will have, held before anything is written, given or kept.
        kept = lists if lists is not None else campaign.lists.values_list("pk", flat=True)
        campaign_lists_lock(lists=list(kept))
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.full_clean(exclude=["lists", "segments"])
    campaign.save()
    if lists is not None:
        campaign.lists.set(lists)
    if segments is not None:
        campaign.segments.set(segments)
    if steps is not None:
        campaign.steps.all().delete()
        _steps_create(campaign=campaign, steps=steps)
    return campaign


# --- Campaign status machine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who asks for a move: a person in the admin, an integrator's API key, or the system."""

    name: str = "system"
    user: "User | None" = None


SYSTEM = Actor()


def _campaign_transition(
    *, campaign: Campaign, action: str, note: str = "", actor: Actor = SYSTEM
) -> Campaign:
    """Move a campaign along CAMPAIGN_TRANSITIONS under a row lock, or raise InvalidTransition.

    note says why, when the system rather than a person moved it; any move replaces the last one.
    Every move is written to the campaign's audit trail, with its actor.
    """
    allowed_from, target = CAMPAIGN_TRANSITIONS[action]
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in allowed_from:
            allowed = ", ".join(sorted(str(Status(s).label) for s in allowed_from))
            said = gettext(
                "Cannot %(action)s campaign “%(name)s”: its status is %(status)s, and %(action)s "
                "applies only to a campaign whose status is %(allowed)s."
            )
            words = {"action": CAMPAIGN_ACTION_WORDS[action], "name": locked.name, "allowed": allowed}
            raise InvalidTransition(said % {**words, "status": locked.get_status_display()})
        before = locked.status
        # Resume goes back to where the campaign was: sending if it had started, else scheduled.
        locked.status = target or (Status.SENDING if locked.started_at else Status.SCHEDULED)
        now = timezone.now()
        if locked.status == Status.SENDING and locked.started_at is None:
            locked.started_at = now
        if locked.status in (Status.COMPLETED, Status.CANCELLED):
            locked.completed_at = now
        if action == "resume" and locked.status == Status.SCHEDULED and (locked.scheduled_at or now) < now:
            # Resuming a campaign whose time has passed is the go-ahead to send it now; without
            # this, the lateness guard would pause it again.
            locked.scheduled_at = now
        locked.status_note = note
        locked.save(
            update_fields=[
                "status",
                "started_at",
                "completed_at",
                "scheduled_at",
                "status_note",
                "updated_at",
            ]
        )
        campaign_recurrence_sync(campaign=locked)
        CampaignAudit.objects.create(
            campaign=locked,
            action=action,
            from_status=before,
            to_status=locked.status,
            user=actor.user,
            actor=actor.name[:200],
            note=note,
        )
    campaign.refresh_from_db()
    return campaign


# --- Recurring campaigns --------------------------------------------------------------------------

#: The task each recurring campaign's beat entry calls (campaigns/tasks.py).
RECUR_TASK = "campaigns.tasks.campaign_recur"


def _recurrence_task_name(campaign: Campaign) -> str:
    return f"campaign {campaign.pk} recurrence"


def campaign_recurrence_sync(*, campaign: Campaign) -> None:
    """Keep a recurring campaign's beat entry in step with it: firing only while it is scheduled.

    Pausing the campaign pauses its schedule; cancelling removes it.
    """
    name = _recurrence_task_name(campaign)
    if not campaign.recurrence or campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.DRAFT):
        PeriodicTask.objects.filter(name=name).delete()
        return
    minute, hour, day_of_month, month_of_year, day_of_week = campaign.recurrence.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=campaign.timezone or "UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": RECUR_TASK,
            "crontab": schedule,
            "kwargs": json.dumps({"campaign_id": campaign.pk}),
            "enabled": campaign.status == Campaign.Status.SCHEDULED,
        },
    )


def campaign_run_create(*, campaign: Campaign, now: datetime | None = None) -> Campaign | None:
    """Start one run of a recurring campaign: a copy, scheduled now, for the audience of the moment.

    Return it; None if the campaign is not scheduled (paused, cancelled) or this minute's run
    exists already (beat's message delivered twice).
    """
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    with transaction.atomic():
        parent = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if parent.status != Campaign.Status.SCHEDULED or not parent.recurrence:
            return None
        if parent.runs.filter(scheduled_at=now).exists():
            return None
        # A campaign saved before steps were bounded may hold more: its runs are refused, not cut short.
        campaign_steps_limit_check(count=parent.steps.count())
        run = Campaign.objects.get(pk=parent.pk)
        run.pk = None
        run._state.adding = True
        run.name = f"{parent.name[:180]} · {now:%Y-%m-%d %H:%M}"
        run.recurrence, run.parent, run.scheduled_at = "", parent, now
        run.created_at = now
        run.save()
        # The whole audience: lists and segments (campaign_audience_base reads both).
        run.lists.set(parent.lists.all())
        run.segments.set(parent.segments.all())
        CampaignStep.objects.bulk_create(
            [
                CampaignStep(
                    campaign=run,
                    **{
                        name: getattr(step, name)
                        for name in ("order", "template_id", "delay", "send_at", "condition", "condition_url")
                    },
                )
                for step in parent.steps.order_by("order")
            ]
        )
        # An earlier step the condition looks at is the run's own step of the same order.
        pairs = parent.steps.exclude(condition_step=None).values_list("order", "condition_step__order")
        for order, condition_order in pairs:
            run.steps.filter(order=order).update(condition_step=run.steps.get(order=condition_order))
    return run


_LOOKS_AT_OPENS = (CampaignStep.Condition.OPENED, CampaignStep.Condition.NOT_OPENED)
_LOOKS_AT_CLICKS = (
    CampaignStep.Condition.CLICKED,
    CampaignStep.Condition.NOT_CLICKED,
    CampaignStep.Condition.CLICKED_LINK,
)


def _drip_problems(*, campaign: Campaign, steps: list[CampaignStep]) -> list[str]:
    """Name what in a campaign's steps, windows or schedule cannot work as set."""
    problems = []
    Condition = CampaignStep.Condition
    for index, step in enumerate(steps):
        earlier = {other.pk for other in steps[:index]}
        if index == 0 and step.condition != Condition.ALWAYS:
            problems.append(
                gettext("its first step has a condition, but there is no earlier step to look at")
            )
        if step.condition == Condition.CLICKED_LINK and not step.condition_url:
            problems.append(
                gettext("step %(n)d waits for a click on a link but names none") % {"n": step.order}
            )
        if step.condition_step_id and step.condition_step_id not in earlier:
            said = gettext("step %(n)d's condition looks at a step that does not come before it")
            problems.append(said % {"n": step.order})
        # A condition on what the campaign does not track never holds, or always does: "not
        # opened" would mail everyone, "clicked" no one.
        looked_at = [other for other in steps[:index] if step.condition_step_id in (None, other.pk)]
        if step.condition in _LOOKS_AT_OPENS and not campaign.track_opens:
            said = gettext("step %(n)d looks at opens, but the campaign does not track them")
            problems.append(said % {"n": step.order})
        elif (
            step.condition in _LOOKS_AT_OPENS
            and looked_at
            and not any(o.template.has_html for o in looked_at)
        ):
            said = gettext(
                "step %(n)d looks at opens, but the emails it looks at are text alone, with no HTML to "
                "carry the open pixel"
            )
            problems.append(said % {"n": step.order})
        if step.condition in _LOOKS_AT_CLICKS and not campaign.track_clicks:
            said = gettext("step %(n)d looks at clicks, but the campaign does not track them")
            problems.append(said % {"n": step.order})
    if campaign.goal_url and not campaign.track_clicks:
        problems.append(gettext("its goal is a click on a link, but the campaign does not track clicks"))
    if (campaign.send_window_start is None) != (campaign.send_window_end is None):
        problems.append(gettext("its send window needs both a start and an end"))
    if campaign.audience_mode == Campaign.Audience.EVERGREEN and campaign.recurrence:
        problems.append(
            gettext(
                "a campaign whose audience is ongoing cannot also recur: each run would start everyone again"
            )
        )
    return problems


def campaign_check_ready(*, campaign: Campaign) -> None:
    """Raise CampaignNotReady, saying what is missing, unless the campaign can be sent."""
    problems = []
    steps = list(campaign.steps.select_related("template"))
    if not steps:
        problems.append(gettext("it has no steps"))
    problems += _drip_problems(campaign=campaign, steps=sorted(steps, key=lambda step: step.order))
    if not campaign.lists.exists() and not campaign.segments.exists():
        problems.append(gettext("it has no audience: choose lists, segments or both"))
    try:
        address_validate(value=campaign.from_email, field="from_email")
    except ValidationError:
        problems.append(
            gettext("its sender %(sender)s is not a valid address") % {"sender": repr(campaign.from_email)}
        )
    for step in steps:
        try:
            template_compile(template=step.template)
        except TemplateRenderError as exc:
            said = gettext("step %(n)d's template does not compile (%(why)s)")
            problems.append(said % {"n": step.order, "why": exc})
    if problems:
        said = gettext("Campaign “%(name)s” cannot be scheduled: %(problems)s.")
        raise CampaignNotReady(said % {"name": campaign.name, "problems": "; ".join(problems)})


def campaign_schedule(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Schedule a draft campaign; it starts at scheduled_at, or at the next tick if that is empty."""
    with transaction.atomic():
        # Locked before the check: an edit landing meanwhile waits, so what is checked is what goes.
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        campaign_check_ready(campaign=campaign)
        campaign = _campaign_transition(campaign=campaign, action="schedule", actor=actor)
        if campaign.scheduled_at is None:
            campaign.scheduled_at = timezone.now()
            campaign.save(update_fields=["scheduled_at", "updated_at"])
    return campaign


def campaign_unschedule(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Return a scheduled campaign to draft so it can be edited."""
    return _campaign_transition(campaign=campaign, action="unschedule", actor=actor)


def campaign_start(*, campaign: Campaign) -> Campaign:
    """Mark a due scheduled campaign as sending."""
    return _campaign_transition(campaign=campaign, action="start")


def campaign_pause(*, campaign: Campaign, note: str = "", actor: Actor = SYSTEM) -> Campaign:
    """Pause a campaign: nothing new is claimed until it is resumed; note says why, if not a person."""
    return _campaign_transition(campaign=campaign, action="pause", note=note, actor=actor)


def campaign_resume(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Resume a paused campaign where it stopped, or back to scheduled if it never started."""
    return _campaign_transition(campaign=campaign, action="resume", actor=actor)


def campaign_complete(*, campaign: Campaign) -> Campaign:
    """Mark a sending campaign as completed."""
    return _campaign_transition(campaign=campaign, action="complete")


def campaign_reopen(*, campaign: Campaign, note: str = "", actor: Actor = SYSTEM) -> Campaign:
    """Send a completed campaign again, for rows put back in its queue."""
    return _campaign_transition(campaign=campaign, action="reopen", note=note, actor=actor)


def campaign_audit_record(*, campaign: Campaign, action: str, note: str, actor: Actor = SYSTEM) -> None:
    """Write an entry in a campaign's audit trail for an act that moves no status (rows re-queued)."""
    CampaignAudit.objects.create(
        campaign=campaign,
        action=action,
        from_status=campaign.status,
        to_status=campaign.status,
        user=actor.user,
        actor=actor.name[:200],
        note=note[:300],
    )


def campaign_cancel(*, campaign: Campaign, actor: Actor = SYSTEM) -> Campaign:
    """Cancel a campaign for good."""
    return _campaign_transition(campaign=campaign, action="cancel", actor=actor)


#: A campaign may be deleted before it was ever scheduled or once cancelled: cancel one under way
#: first, so that its emails, events and report never vanish while it sends or after it sent.
CAMPAIGN_DELETABLE = frozenset({Status.DRAFT, Status.CANCELLED})


def campaigns_delete(*, pks: list[int]) -> int:
    """Delete these campaigns, each locked and its status checked again; if one is under way or
    done, delete none and raise InvalidTransition naming it. Return how many were deleted."""
    with transaction.atomic():
        locked = list(Campaign.objects.select_for_update().filter(pk__in=pks).order_by("pk"))
        kept = [campaign for campaign in locked if campaign.status not in CAMPAIGN_DELETABLE]
        if kept:
            named = ", ".join(f"“{campaign.name}” ({campaign.get_status_display()})" for campaign in kept)
            said = gettext("Not deleted: cancel a campaign before deleting it: %(campaigns)s.")
            raise InvalidTransition(said % {"campaigns": named})
        # A segment that reads what people did with these campaigns would silently lose it.
        segment_names_refused(campaign_ids=[campaign.pk for campaign in locked])
        Campaign.objects.filter(pk__in=[campaign.pk for campaign in locked]).delete()
    return len(locked)
