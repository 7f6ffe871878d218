"""The campaign report in the admin: its page, its charts' CSV downloads and the list's figures."""

from typing import TYPE_CHECKING

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.admin_access import sees_contacts
from campaigns.admin_tabs import campaign_tab
from campaigns.selectors import campaign_opens_tracked
from core.charts import Chart
from core.exports import csv_response
from core.templatetags.campanile import percent
from core.text import grouped
from delivery.compose import configuration_set_of
from delivery.models import StepExecution
from delivery.selectors import campaign_status_shown
from tracking.models import SendEventsCheck
from tracking.outcomes import NEED_THE_OPEN_PIXEL, RATES, Rate
from tracking.report import campaign_domains, campaign_report
from tracking.report_charts import domains_chart, links_of_several_steps, report_charts
from tracking.selectors import (
    REPORT_LINKS_SHOWN,
    campaign_event_rows,
    campaign_recipient_rows,
    campaigns_figures,
)


def _require(request, *permissions: str) -> None:
    """Refuse the request unless its user holds every one of these permissions."""
    if not request.user.has_perms(permissions):
        raise PermissionDenied


def _rate_rows(report: dict) -> list[tuple[str | Promise, str, str | Promise]]:
    shown = {name: percent(value, 2) for name, value in report["rates"].items()}
    # Without Delivery events the engagement rates are over sent, and the page says so.
    over_sent = gettext("sent (no Delivery events: see above)")
    # Beside text-only steps, the open rates are over the emails that carried the pixel alone.
    pixel = {
        "sent": gettext("sent with the open pixel"),
        "delivered": gettext("delivered with the open pixel"),
    }

    def of(rate: Rate) -> str | Promise:
        if report["steps_without_pixel"] and rate.name in NEED_THE_OPEN_PIXEL and rate.whole == "delivered":
            return pixel[report["rates_base"]]
        return over_sent if rate.whole == "delivered" and report["rates_base"] == "sent" else rate.of

    return [(rate.label, shown[rate.name], of(rate)) for rate in RATES]


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
        return grouped(obj.figures["recipients"])

    @admin.display(description=_("Sent"))
    def sent_shown(self, obj):
        return grouped(obj.figures["counts"]["sent"])

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
            path(
                "<path:object_id>/report/domains/",
                view(self.report_domains_view),
                name="campaigns_campaign_report_domains",
            ),
            path(
                "<path:object_id>/report/chart/<slug:key>.csv",
                view(self.chart_csv_view),
                name="campaigns_campaign_chart_csv",
            ),
            *super().get_urls(),
        ]

    def campaign_tabs(self, campaign):
        return [*super().campaign_tabs(campaign), campaign_tab(campaign, "report", _("Report"), "report")]

    def report_view(self, request, object_id):
        """Show a campaign's funnel, rates, charts over time, links, domains, clients and steps."""
        campaign = self._campaign_or_404(request, object_id)
        report = campaign_report(campaign=campaign)
        charts = report_charts(report)
        # A link may carry a contact's data (a template can write it into the address): the links
        # are shown to those who may see contacts.
        if not sees_contacts(request):
            report["links"] = None
        return self._page(
            request,
            campaign,
            "report.html",
            gettext("Report: %(name)s") % {"name": campaign.name},
            tab="report",
            report=report,
            rate_rows=_rate_rows(report),
            links_steps=links_of_several_steps(report["links"] or []),
            charts=charts,
            status_shown=campaign_status_shown(campaign=campaign, counts=report["ledger"]),
            unconfirmed=report["ledger"].get(StepExecution.Status.UNKNOWN, 0),
            send_events=SendEventsCheck.objects.filter(
                configuration_set=configuration_set_of(campaign)
            ).first(),
        )

    def recipients_csv_view(self, request, object_id):
        """Download each recipient's result: contacts' data, for those who may see contacts."""
        campaign = self._campaign_or_404(request, object_id)
        if not sees_contacts(request):
            raise PermissionDenied
        return csv_response(
            campaign_recipient_rows(campaign=campaign), f"campaign-{campaign.pk}-recipients.csv"
        )

    def events_csv_view(self, request, object_id):
        """Download every event: recipients' addresses, for those who may see contacts and events."""
        campaign = self._campaign_or_404(request, object_id)
        if not sees_contacts(request):
            raise PermissionDenied
        _require(request, "tracking.view_trackingevent")
        return csv_response(campaign_event_rows(campaign=campaign), f"campaign-{campaign.pk}-events.csv")

    def report_domains_view(self, request, object_id):
        """Show the breakdown by recipient domain: the report page loads it after itself (htmx), as
        it reads the campaign's ledger rows."""
        campaign = self._campaign_or_404(request, object_id)
        return TemplateResponse(
            request,
            "admin/campaigns/campaign/_report_domains.html",
            {
                "original": campaign,
                "chart": domains_chart(
                    campaign_domains(campaign=campaign),
                    opens_tracked=campaign_opens_tracked(campaign=campaign),
                ),
            },
        )

    def chart_csv_view(self, request, object_id, key):
        """Download the numbers of one of the report's charts."""
        campaign = self._campaign_or_404(request, object_id)
        chart: Chart | None
        if key == "domains":
            opens = campaign_opens_tracked(campaign=campaign)
            chart = domains_chart(campaign_domains(campaign=campaign), opens_tracked=opens)
        elif key == "links" and not sees_contacts(request):
            raise PermissionDenied
        else:
            # links.csv lists every link; the page, the most clicked (tracking.selectors).
            links_shown = None if key == "links" else REPORT_LINKS_SHOWN
            chart = report_charts(campaign_report(campaign=campaign, links_shown=links_shown)).get(key)
        if chart is None:
            raise Http404("No such chart.")
        return csv_response(chart.csv_rows(), f"campaign-{campaign.pk}-{key}.csv")
