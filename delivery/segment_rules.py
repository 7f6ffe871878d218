"""Segments' engagement rules: what a contact did with campaign mail, read with the drip conditions'
own query (delivery.drip.engaged), registered with campaigns.segments at start-up.

A rule: {"engagement": kind, scope}. Kinds: was_sent, opened, clicked, bounced, never_opened (sent
mail in the scope and opened none of it). The scope is one of "campaigns": [ids], "last_campaigns":
N (the latest N campaigns that completed, load tests left out) or "days": N (mail sent in the
last N days); none: all campaign mail.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign, CampaignStep
from campaigns.selectors import steps_showing_pixel
from core.text import text_as_json
from delivery.drip import engaged
from delivery.models import Engagement, StepExecution

KINDS = ("was_sent", "opened", "clicked", "bounced", "never_opened")
SCOPES = ("campaigns", "last_campaigns", "days")
MAX_CAMPAIGNS = 100
MAX_DAYS = 36500


def _scope_words() -> dict[str, str]:
    return {
        "last_campaigns": gettext("How many of the last campaigns"),
        "days": gettext("How many days"),
    }


def engagement_rule_check(rule: dict) -> None:
    """Raise ValidationError unless the rule names a kind and at most one well-formed scope."""
    if rule.get("engagement") not in KINDS:
        raise ValidationError(
            gettext("%(kind)s is not a kind of engagement.") % {"kind": text_as_json(rule.get("engagement"))}
        )
    if unknown := sorted(set(rule) - {"engagement", *SCOPES}, key=str):
        # A misspelt scope ("campaign") would otherwise widen the rule to all mail, unsaid.
        said = gettext("This rule takes only %(known)s, not %(keys)s.")
        raise ValidationError(
            said % {"known": ", ".join(("engagement", *SCOPES)), "keys": ", ".join(map(str, unknown))}
        )
    scopes = [key for key in SCOPES if key in rule]
    if len(scopes) > 1:
        raise ValidationError(gettext("An engagement rule has one scope: campaigns, last campaigns or days."))
    if "campaigns" in rule:
        ids = rule["campaigns"]
        if (
            not isinstance(ids, list)
            or not 0 < len(ids) <= MAX_CAMPAIGNS
            or any(isinstance(pk, bool) or not isinstance(pk, int) for pk in ids)
        ):
            raise ValidationError(
                gettext("Campaigns: a list of 1 to %(n)d campaign ids.") % {"n": MAX_CAMPAIGNS}
            )
        if Campaign.objects.filter(pk__in=ids).count() != len(set(ids)):
            raise ValidationError(gettext("A campaign the rule names does not exist."))
    for key, most in (("last_campaigns", MAX_CAMPAIGNS), ("days", MAX_DAYS)):
        value = rule.get(key)
        if key in rule and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most):
            raise ValidationError(
                gettext("%(what)s: a whole number from 1 to %(n)d.")
                % {"what": _scope_words()[key], "n": most}
            )


def _steps_in_scope(rule: dict) -> list[int] | None:
    """Return the step ids the rule looks at (None: every campaign step)."""
    if "campaigns" in rule:
        # A recurring campaign sends nothing itself: its runs stand for it.
        named = Campaign.objects.filter(Q(pk__in=rule["campaigns"]) | Q(parent_id__in=rule["campaigns"]))
        campaigns = list(named.values_list("pk", flat=True))
    elif "last_campaigns" in rule:
        # The latest that finished: one still sending (the very campaign a segment is the audience
        # of, say) has not mailed everyone yet, and would change the audience under itself.
        latest = Campaign.objects.filter(is_load_test=False, completed_at__isnull=False).order_by(
            "-completed_at"
        )
        campaigns = list(latest.values_list("pk", flat=True)[: rule["last_campaigns"]])
    else:
        return None
    return list(CampaignStep.objects.filter(campaign_id__in=campaigns).values_list("pk", flat=True))


def engagement_rule_condition(rule: dict) -> Q:
    """Return the rule's SQL condition over Contact."""
    named = set(rule.get("campaigns", ()))
    if named and Campaign.objects.filter(pk__in=named).count() != len(named):
        # A campaign gone since the rule was saved: the rule matches no one rather than read the
        # rest alone ("never opened" would take in those who opened only the one gone).
        return Q(pk__in=[])
    steps = _steps_in_scope(rule)
    since = (
        {"step_execution__sent_at__gte": timezone.now() - timedelta(days=rule["days"])}
        if "days" in rule
        else {}
    )
    kind = rule["engagement"]
    if kind in ("was_sent", "bounced", "never_opened"):
        rows = StepExecution.objects.filter(contact_id=OuterRef("pk"), status=StepExecution.Status.SENT)
        if kind == "never_opened":
            # Only mail that could show an open: a campaign without the pixel opened nothing seen.
            rows = rows.filter(step__in=steps_showing_pixel(CampaignStep.objects.all()))
        rows = rows.filter(step_id__in=steps) if steps is not None else rows.filter(step__isnull=False)
        if since:
            rows = rows.filter(sent_at__gte=since["step_execution__sent_at__gte"])
        if kind == "bounced":
            return Q(Exists(rows.filter(outcome=StepExecution.Outcome.BOUNCED)))
        if kind == "was_sent":
            return Q(Exists(rows))
        return Q(Exists(rows)) & ~Q(engaged(steps, Engagement.opened_q(), contact="pk", **since))
    test = Engagement.opened_q() if kind == "opened" else Q(clicks__gt=0)
    return Q(engaged(steps, test, contact="pk", **since))
