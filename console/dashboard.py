"""The home page a marketer opens every morning: campaigns and how they did, the audience, the
account's health, and what needs attention; composed here, the one app that sees every other's."""

import json
from datetime import datetime

from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.admin_access import user_sees_contacts
from campaigns.models import Campaign
from campaigns.selectors import audience_growth
from core.text import grouped
from delivery import selectors as delivery_selectors
from delivery.models import SendingHold, StepExecution
from tracking.models import Alert
from tracking.reputation import sending_health
from tracking.selectors import campaigns_figures

RECENT_CAMPAIGNS = 8
#: Campaigns still to finish come first on the home page.
UNDER_WAY = (Campaign.Status.SENDING, Campaign.Status.PAUSED, Campaign.Status.SCHEDULED)


def home_campaigns(*, limit: int = RECENT_CAMPAIGNS) -> list[dict]:
    """Return the campaigns under way, then the latest others, each with its figures."""
    shown = Campaign.objects.filter(is_load_test=False)
    # Latest started first, then those never started (drafts) by creation: PostgreSQL would put a
    # missing start first in a descending order, before every campaign that ran.
    latest = (F("started_at").desc(nulls_last=True), "-created_at")
    under_way = list(shown.filter(status__in=UNDER_WAY).order_by(*latest)[:limit])
    others = list(shown.exclude(status__in=UNDER_WAY).order_by(*latest)[: limit - len(under_way)])
    campaigns = under_way + others
    figures = campaigns_figures(campaign_ids=[campaign.pk for campaign in campaigns])
    return [{"campaign": campaign, **figures[campaign.pk]} for campaign in campaigns]


#: The permission each part of the home page needs, as the pages it sums up would ask.
SEES_CAMPAIGNS = "campaigns.view_campaign"
SEES_ALERTS = "tracking.view_alert"
SEES_SEND_LOG = "delivery.view_stepexecution"
SEES_HOLDS = "delivery.view_sendinghold"


def home_attention(*, request: HttpRequest, hold: SendingHold | None) -> list[dict]:
    """Return what needs this person's attention: only what the pages behind it would show them,
    each with a link where they may follow it."""
    user = request.user
    items = []
    if hold is not None and (user.has_perm(SEES_CAMPAIGNS) or user.has_perm(SEES_HOLDS)):
        until = date_format(timezone.localtime(hold.until), "DATETIME_FORMAT") if hold.until else None
        items.append(
            {
                "text": _("All sending is on hold: %(reason)s") % {"reason": hold.get_reason_display()}
                + (_(" (until %(until)s)") % {"until": until} if until else ""),
                "link": reverse("admin:delivery_sendinghold_changelist") if user.has_perm(SEES_HOLDS) else "",
                "level": "danger",
            }
        )
    paused = Campaign.objects.filter(status=Campaign.Status.PAUSED, is_load_test=False).order_by("pk")
    for campaign in paused if user.has_perm(SEES_CAMPAIGNS) else ():
        items.append(
            {
                "text": _("“%(name)s” is paused: %(note)s")
                % {"name": campaign.name, "note": campaign.status_note or _("paused by hand")},
                "link": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
                "level": "warning",
            }
        )
    alerts = Alert.objects.filter(acknowledged_at__isnull=True).count() if user.has_perm(SEES_ALERTS) else 0
    if alerts:
        items.append(
            {
                "text": ngettext(
                    "%(n)s alert not yet acknowledged", "%(n)s alerts not yet acknowledged", alerts
                )
                % {"n": grouped(alerts)},
                "link": reverse("admin:tracking_alert_changelist") + "?acknowledged_at__isnull=True",
                "level": "warning",
            }
        )
    # The send log's rows are recipients' data: it asks for contacts' too (ContactDataAdminMixin).
    if not (user.has_perm(SEES_SEND_LOG) and user_sees_contacts(user)):
        return items
    stuck = delivery_selectors.ledger_status_totals(
        statuses=(StepExecution.Status.FAILED, StepExecution.Status.UNKNOWN)
    )
    rows_link = reverse("admin:delivery_stepexecution_changelist")
    if failed := stuck.get(StepExecution.Status.FAILED, 0):
        items.append(
            {
                "text": ngettext("%(n)s email failed", "%(n)s emails failed", failed)
                % {"n": grouped(failed)},
                "link": f"{rows_link}?status__exact={StepExecution.Status.FAILED}",
                "level": "warning",
            }
        )
    if unknown := stuck.get(StepExecution.Status.UNKNOWN, 0):
        items.append(
            {
                "text": ngettext(
                    "%(n)s email whose sending SES has not confirmed",
                    "%(n)s emails whose sending SES has not confirmed",
                    unknown,
                )
                % {"n": grouped(unknown)},
                "link": f"{rows_link}?status__exact={StepExecution.Status.UNKNOWN}",
                "level": "warning",
            }
        )
    return items


def home_dashboard(*, request: HttpRequest, now: datetime | None = None) -> dict:
    """Return what the home page shows this person: each part only to those who may see the pages
    it sums up (a staff member without them sees what needs attention that is theirs, if anything)."""
    now = now or timezone.now()
    user = request.user
    hold = delivery_selectors.sending_hold_active(now=now)
    shown: dict = {"home_attention": home_attention(request=request, hold=hold)}
    if user.has_perm(SEES_CAMPAIGNS):
        # The quota only: the delivery dashboard's other figures (per-minute series, the queue, a
        # count of failed rows) are its own page's cost, not the home page's.
        quota = delivery_selectors.ses_quota()
        campaigns_shown = home_campaigns()
        used, most = quota["quota_used"], quota["quota_max"]
        shown |= {
            "home_campaigns": campaigns_shown,
            "home_campaigns_over_sent": any(row["rates_base"] == "sent" for row in campaigns_shown),
            "home_health": sending_health(now=now),
            "home_quota": {
                "used": used,
                "max": most,
                "share": used / most if most and used is not None else None,
                "unavailable": quota["metrics_unavailable"],
            },
            "home_hold": hold,
        }
    if user_sees_contacts(user):
        audience = audience_growth(now=now)
        shown |= {
            "home_audience": audience,
            "home_audience_chart": json.dumps(
                {
                    "labels": [date_format(day, "M j") for day, _joined, _left in audience["days"]],
                    "datasets": [
                        {"label": _("Joined"), "data": [joined for _day, joined, _left in audience["days"]]},
                        {
                            "label": _("Unsubscribed"),
                            "data": [left for _day, _joined, left in audience["days"]],
                        },
                    ],
                }
            ),
        }
    return shown


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    """Add the home page's figures to the admin index's context (django-unfold's DASHBOARD_CALLBACK)."""
    return {**context, **home_dashboard(request=request)}
