"""Admin for tracking events: read-only, since only webhooks and tracking views write them."""

import csv
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.http import StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaigns.admin_campaigns import campaign_tab
from core.charts import svg_time_bars
from core.templatetags.campanile import percent
from delivery.compose import configuration_set_of
from delivery.models import StepExecution, TrackedLink
from delivery.selectors import campaign_status_shown
from tracking import inbox
from tracking.models import Alert, SendEventsCheck, SnsMessage, SoftBounceStreak, TrackingEvent
from tracking.outcomes import RATES
from tracking.selectors import (
    campaign_event_rows,
    campaign_recipient_rows,
    campaign_report,
    campaigns_figures,
    contact_timeline,
)


@admin.register(TrackingEvent)
class TrackingEventAdmin(ModelAdmin):
    """Opens, clicks and what SES reported: each with its campaign's name and a click's address."""

    list_display = [
        "type_shown",
        "occurred_at",
        "recipient",
        "campaign_shown",
        "link_shown",
        "machine_shown",
    ]
    list_filter = ["type", "kind", "is_machine"]
    list_select_related = ["step_execution__step__campaign"]
    search_fields = ["=recipient", "=ses_message_id", "=event_id"]
    date_hierarchy = "occurred_at"
    raw_id_fields = ["step_execution"]
    readonly_fields = [f.name for f in TrackingEvent._meta.fields]
    show_full_result_count = False
    list_per_page = 100

    def get_changelist_instance(self, request):
        """Read the addresses of the page's clicked links at once (one query)."""
        changelist = super().get_changelist_instance(request)
        ids = {event.raw.get("link_id") for event in changelist.result_list} - {None}
        urls = dict(
            TrackedLink.objects.filter(pk__in=[pk for pk in ids if isinstance(pk, int)]).values_list(
                "pk", "url"
            )
        )
        for event in changelist.result_list:
            event.link_url = urls.get(event.raw.get("link_id"), "")
        return changelist

    @admin.display(description="Event", ordering="type")
    def type_shown(self, obj):
        """The event, with how Campanile read it where that says more ("Bounce (hard)")."""
        return f"{obj.get_type_display()} ({obj.kind})" if obj.kind else obj.get_type_display()

    @admin.display(description="Campaign")
    def campaign_shown(self, obj):
        row = obj.step_execution
        return Truncator(row.step.campaign.name).chars(24) if row is not None and row.step_id else "—"

    @admin.display(description="Link")
    def link_shown(self, obj):
        # Its start, the whole address on hover: a page of clicks must fit the screen.
        url = getattr(obj, "link_url", "")
        return format_html('<span title="{}">{}</span>', url, Truncator(url).chars(36)) if url else "—"

    @admin.display(description="By a machine", ordering="is_machine")
    def machine_shown(self, obj):
        # Words, not the admin's red cross: "no" here is the good news.
        return "Machine" if obj.is_machine else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SnsMessage)
class SnsMessageAdmin(ModelAdmin):
    """The SES event inbox: what SNS delivered, whether it is applied, and why not yet."""

    list_display = ["message_id", "received_at", "applied_at", "attempts", "note"]
    list_filter = [("applied_at", admin.EmptyFieldListFilter)]
    search_fields = ["=message_id"]
    readonly_fields = [f.name for f in SnsMessage._meta.fields]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["apply_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Apply the selected messages now")
    def apply_now(self, request, queryset):
        waiting = [
            pk for pk in queryset.values_list("pk", flat=True) if not inbox.sns_message_apply(message_id=pk)
        ]
        if waiting:
            self.message_user(
                request,
                f"{len(waiting)} still wait for their ledger rows; see their notes.",
                messages.WARNING,
            )
        else:
            self.message_user(request, "Applied.", messages.SUCCESS)


@admin.register(SoftBounceStreak)
class SoftBounceStreakAdmin(ModelAdmin):
    list_display = ["email", "count", "updated_at"]
    search_fields = ["=email"]
    readonly_fields = ["email", "count", "updated_at"]

    def has_add_permission(self, request):
        return False


class ContactTimelineMixin:
    """What tracking adds to the contact admin: the timeline of its mail and events.

    A mixin over campaigns.admin.ContactAdminBase; console.admin composes and registers them.
    """

    tracking_readonly_fields = ["timeline"]

    @admin.display(description="Timeline (newest first)")
    def timeline(self, obj):
        if obj.pk is None:
            return "—"
        entries = contact_timeline(contact=obj)
        if not entries:
            return "Nothing sent to this contact yet."
        return format_html(
            "<table><thead><tr><th>When</th><th>What</th><th>Campaign / message</th><th>Detail</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                [
                    (f"{entry['at']:%Y-%m-%d %H:%M}", entry["what"], entry["where"], entry["detail"])
                    for entry in entries
                ],
            ),
        )


@admin.register(Alert)
class AlertAdmin(ModelAdmin):
    """What a person should look at: rates over their limits, engagement that fell."""

    list_display = ["created_at", "kind", "campaign", "message", "acknowledged_at"]
    list_filter = ["kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        done = queryset.filter(acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


class _Echo:
    """A file-like sink for csv.writer that hands back each line for streaming."""

    def write(self, value):
        return value


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """Return a value as a spreadsheet should show it: text that looks like a formula is quoted
    with a leading apostrophe (OWASP's advice for CSV exports); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    lines = (writer.writerow([_cell(value) for value in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _rate_rows(rates: dict, base: str) -> list[tuple[str, str, str]]:
    shown = {name: percent(value, 2) for name, value in rates.items()}
    # Without Delivery events the engagement rates are over sent, and the page says so.
    over_sent = "sent (no Delivery events: see above)"
    return [
        (rate.label, shown[rate.name], over_sent if rate.whole == "delivered" and base == "sent" else rate.of)
        for rate in RATES
    ]


if TYPE_CHECKING:  # The mixin's methods use the campaign admin's; at run time it is a plain class.
    from campaigns.admin_campaigns import CampaignAdminBase as _CampaignAdmin
else:
    _CampaignAdmin = object


class CampaignReportMixin(_CampaignAdmin):
    """What tracking adds to the campaign admin: the report and its CSV exports, and the list's
    performance columns.

    A mixin over campaigns.admin_campaigns.CampaignAdminBase; console.admin composes and registers them.
    """

    #: The campaign list's columns of figures (console.admin places them).
    report_list_display = [
        "recipients_shown",
        "sent_shown",
        "open_rate_shown",
        "click_rate_shown",
        "report_link",
    ]

    def get_changelist_instance(self, request):
        """Read the page's campaigns' figures at once (three queries), for the columns below."""
        changelist = super().get_changelist_instance(request)
        figures = campaigns_figures(campaign_ids=[campaign.pk for campaign in changelist.result_list])
        for campaign in changelist.result_list:
            campaign.figures = figures[campaign.pk]
        return changelist

    @admin.display(description=_("Recipients"))
    def recipients_shown(self, obj):
        return obj.figures["recipients"]

    @admin.display(description=_("Sent"))
    def sent_shown(self, obj):
        return obj.figures["counts"]["sent"]

    @admin.display(description=_("Opened"))
    def open_rate_shown(self, obj):
        return percent(obj.figures["rates"]["open"])

    @admin.display(description=_("Clicked"))
    def click_rate_shown(self, obj):
        return percent(obj.figures["rates"]["click"])

    @admin.display(description=_("Report"))
    def report_link(self, obj):
        if not obj.figures["counts"]["sent"]:
            return "—"
        return format_html(
            '<a class="cp-link" href="{}">{}</a>',
            reverse("admin:campaigns_campaign_report", args=[obj.pk]),
            _("Report"),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/report/", view(self.report_view), name="campaigns_campaign_report"),
            path(
                "<path:object_id>/report/recipients.csv",
                view(self.recipients_csv_view),
                name="campaigns_campaign_recipients_csv",
            ),
            path(
                "<path:object_id>/report/events.csv",
                view(self.events_csv_view),
                name="campaigns_campaign_events_csv",
            ),
            *super().get_urls(),
        ]

    def campaign_tabs(self, campaign):
        return [*super().campaign_tabs(campaign), campaign_tab(campaign, "report", "Report", "report")]

    def report_view(self, request, object_id):
        """Show a campaign's totals, rates, per-step and per-link numbers, and hourly charts."""
        campaign = self._campaign_or_404(request, object_id)
        report = campaign_report(campaign=campaign)
        charts = [
            svg_time_bars(report["hourly"][name], title=f"{label} per hour (UTC)", colour=colour)
            for name, label, colour in (
                ("sent", "Emails sent", "#417690"),
                ("delivered", "Deliveries", "#2e7d32"),
                ("opens", "Human opens", "#ef6c00"),
                ("clicks", "Human clicks", "#6a1b9a"),
            )
        ]
        return self._page(
            request,
            campaign,
            "report.html",
            f"Report: {campaign.name}",
            tab="report",
            report=report,
            rate_rows=_rate_rows(report["rates"], report["rates_base"]),
            charts=charts,
            status_shown=campaign_status_shown(campaign=campaign, counts=report["ledger"]),
            unconfirmed=report["ledger"].get(StepExecution.Status.UNKNOWN, 0),
            send_events=SendEventsCheck.objects.filter(
                configuration_set=configuration_set_of(campaign)
            ).first(),
        )

    def recipients_csv_view(self, request, object_id):
        campaign = self._campaign_or_404(request, object_id)
        return _csv_response(
            campaign_recipient_rows(campaign=campaign), f"campaign-{campaign.pk}-recipients.csv"
        )

    def events_csv_view(self, request, object_id):
        campaign = self._campaign_or_404(request, object_id)
        return _csv_response(campaign_event_rows(campaign=campaign), f"campaign-{campaign.pk}-events.csv")


@admin.register(SendEventsCheck)
class SendEventsCheckAdmin(ModelAdmin):
    """What SESv2 last said of each configuration set's Send events: whether silence proves anything."""

    list_display = ["configuration_set", "published", "checked_at", "detail"]
    readonly_fields = ["configuration_set", "published", "checked_at", "detail"]

    def has_add_permission(self, request):
        return False
