"""The admin's sidebar: pages grouped by the task they serve, each shown to whoever may open it.

Home · Campaigns · Audience · Content · Deliverability · Settings. A marketer's groups hold the
objects they work with; the engine's tables (sending holds, SNS messages, soft-bounce streaks) and
beat's schedule sit under Deliverability and Settings, seen only by the roles that hold their view
permission (console/roles.py).
"""

from dataclasses import dataclass

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.admin_access import user_sees_contacts


@dataclass(frozen=True)
class Page:
    """One sidebar entry: its title, icon (Material Symbols), admin URL name and the permission it needs."""

    title: str | Promise
    icon: str
    url_name: str
    permission: str  # "" for a page every staff member may open.
    #: A page whose rows are recipients' data asks for contacts' too (campaigns.admin_access).
    shows_contacts: bool = False
    superuser_only: bool = False


GROUPS: list[tuple[str | Promise, list[Page]]] = [
    ("", [Page(_("Home"), "home", "admin:index", "")]),
    (
        _("Campaigns"),
        [
            Page(
                _("Campaigns"), "campaign", "admin:campaigns_campaign_changelist", "campaigns.view_campaign"
            ),
            Page(
                _("Send log"),
                "outbox",
                "admin:delivery_stepexecution_changelist",
                "delivery.view_stepexecution",
                shows_contacts=True,
            ),
            Page(
                _("Transactional emails"),
                "forward_to_inbox",
                "admin:delivery_transactionalmessage_changelist",
                "delivery.view_transactionalmessage",
                shows_contacts=True,
            ),
        ],
    ),
    (
        _("Audience"),
        [
            Page(_("Contacts"), "person", "admin:campaigns_contact_changelist", "", shows_contacts=True),
            Page(
                _("Lists"), "groups", "admin:campaigns_contactlist_changelist", "campaigns.view_contactlist"
            ),
            Page(
                _("Segments"),
                "filter_alt",
                "admin:campaigns_segment_changelist",
                "campaigns.view_segment",
                shows_contacts=True,
            ),
            Page(
                _("Signup forms"),
                "edit_note",
                "admin:campaigns_signupform_changelist",
                "campaigns.view_signupform",
            ),
            Page(
                _("Imports"),
                "upload_file",
                "admin:campaigns_contactimport_changelist",
                "campaigns.view_contactimport",
                shows_contacts=True,
            ),
            Page(
                _("Suppressions"),
                "block",
                "admin:campaigns_suppression_changelist",
                "campaigns.view_suppression",
                shows_contacts=True,
            ),
        ],
    ),
    (
        _("Content"),
        [Page(_("Templates"), "article", "admin:campaigns_template_changelist", "campaigns.view_template")],
    ),
    (
        _("Deliverability"),
        [
            Page(
                _("Delivery dashboard"),
                "monitoring",
                "admin:delivery_dashboard",
                "delivery.view_stepexecution",
            ),
            Page(_("Alerts"), "notifications", "admin:tracking_alert_changelist", "tracking.view_alert"),
            Page(
                _("Opens and clicks"),
                "ads_click",
                "admin:tracking_trackingevent_changelist",
                "tracking.view_trackingevent",
                shows_contacts=True,
            ),
            Page(
                _("Sending holds"),
                "pause_circle",
                "admin:delivery_sendinghold_changelist",
                "delivery.view_sendinghold",
            ),
            Page(
                _("SES notifications"),
                "mark_email_unread",
                "admin:tracking_snsmessage_changelist",
                "tracking.view_snsmessage",
                shows_contacts=True,
            ),
            Page(
                _("Soft bounces"),
                "unsubscribe",
                "admin:tracking_softbouncestreak_changelist",
                "tracking.view_softbouncestreak",
                shows_contacts=True,
            ),
            Page(
                _("Event checks"),
                "fact_check",
                "admin:tracking_sendeventscheck_changelist",
                "tracking.view_sendeventscheck",
            ),
            Page(
                _("Load tests"), "speed", "admin:loadtest_loadtestrun_changelist", "loadtest.view_loadtestrun"
            ),
        ],
    ),
    (
        _("Settings"),
        [
            Page(_("API keys"), "key", "admin:core_apikey_changelist", "core.view_apikey"),
            Page(_("Users"), "manage_accounts", "admin:auth_user_changelist", "auth.view_user"),
            Page(_("Roles"), "badge", "admin:auth_group_changelist", "auth.view_group"),
            Page(
                _("Campaign history"),
                "history",
                "admin:campaigns_campaignaudit_changelist",
                "campaigns.view_campaignaudit",
            ),
            Page(
                _("Scheduled jobs"),
                "schedule",
                "admin:django_celery_beat_periodictask_changelist",
                "django_celery_beat.view_periodictask",
            ),
            Page(
                _("Login attempts"),
                "lock_clock",
                "admin:axes_accessattempt_changelist",
                "",
                superuser_only=True,
            ),
            Page(
                _("Second-factor apps"),
                "phonelink_lock",
                "admin:otp_totp_totpdevice_changelist",
                "",
                superuser_only=True,
            ),
        ],
    ),
]


def page_allowed(request: HttpRequest, page: Page) -> bool:
    """Tell whether this staff member may open the page."""
    user = request.user
    if page.superuser_only:
        return user.is_superuser
    if page.shows_contacts and not user_sees_contacts(user):
        return False
    return not page.permission or user.has_perm(page.permission)


def sidebar_navigation(request: HttpRequest) -> list[dict]:
    """Return the sidebar's groups as django-unfold reads them, without pages this person can't open."""
    groups = []
    for title, pages in GROUPS:
        items = [
            {"title": page.title, "icon": page.icon, "link": reverse(page.url_name)}
            for page in pages
            if page_allowed(request, page)
        ]
        if items:
            groups.append({"title": title, "separator": bool(title), "items": items})
    return groups


def theme_stylesheet(request: HttpRequest) -> str:
    """Return the URL of the theme's colours (console/static/console/theme.css)."""
    return static("console/theme.css")


def console_stylesheet(request: HttpRequest) -> str:
    """Return the URL of the stylesheet of Campanile's own pages (console/static/console/console.css)."""
    return static("console/console.css")


def charts_script(request: HttpRequest) -> str:
    """Return the URL of the script that downloads a chart as a PNG (core/static/core/charts.js)."""
    return static("core/charts.js")


def htmx_config_script(request: HttpRequest) -> str:
    """Return the URL of the script that keeps htmx from writing an inline <style>."""
    return static("console/htmx-config.js")
