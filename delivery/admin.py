"""Admin for the send ledger: read-only, since only the delivery engine writes it."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaigns.admin_access import ContactDataAdminMixin
from campaigns.admin_filters import MarketerRelatedFilter, MessageLoadTestFilter
from campaigns.exceptions import InvalidTransition
from core.charts import COLOURS, Chart, Series
from core.text import grouped
from delivery import drip
from delivery.models import SendingHold, StepExecution, TransactionalMessage
from delivery.selectors import (
    delivery_dashboard,
)
from delivery.services import (
    step_executions_retry,
)


@admin.register(StepExecution)
class StepExecutionAdmin(ContactDataAdminMixin, ModelAdmin):
    list_display = [
        "email",
        "campaign",
        "step_order",
        "status",
        "outcome_shown",
        "ses_message_id",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "outcome", ("step__campaign", MarketerRelatedFilter)]
    # Part of an address reads the trigram index (delivery/migrations/0015); ids are whole.
    search_fields = ["email", "=ses_message_id", "=tracking_id"]
    search_help_text = _("Part of an address (spring1@, @example.com), or a whole SES message id.")
    list_select_related = ["step__campaign"]
    # The outcome and the note as people read them (no SES report for a row never sent; an exit's
    # reason in the reader's language), in the places of the stored columns.
    readonly_fields = [
        {"outcome": "outcome_shown", "last_error": "note_shown"}.get(f.name, f.name)
        for f in StepExecution._meta.fields
    ]
    show_full_result_count = False
    list_per_page = 100

    actions = ["retry_selected"]

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_shown(self, obj):
        """What SES reported of a sent email; nothing for one never sent, as SES never had it."""
        if not obj.outcome and obj.status != StepExecution.Status.SENT:
            return "—"
        return obj.get_outcome_display()

    @admin.display(description=_("note"))
    def note_shown(self, obj):
        """Why a row ended as it did: an exit from a drip in the reader's words, else as stored."""
        return drip.exit_note_shown(obj.last_error) or "—"

    def get_urls(self):
        dashboard = self.admin_site.admin_view(self.dashboard_view)
        return [path("dashboard/", dashboard, name="delivery_dashboard"), *super().get_urls()]

    @admin.action(description=_("Retry the selected failed emails"), permissions=["view"])
    def retry_selected(self, request, queryset):
        if not request.user.has_perm("campaigns.change_campaign"):
            raise PermissionDenied
        try:
            retried = step_executions_retry(rows=queryset)
        except InvalidTransition as exc:
            self.message_user(
                request, gettext("%(problem)s Nothing was changed.") % {"problem": exc}, messages.ERROR
            )
        else:
            self.message_user(
                request,
                ngettext(
                    "%(count)s failed email queued again; others were left as they are.",
                    "%(count)s failed emails queued again; others were left as they are.",
                    retried,
                )
                % {"count": grouped(retried)},
            )

    def dashboard_view(self, request):
        """Show the fleet's sending: flows per minute, SES call times, limiter, quota, queue, failures."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        board = delivery_dashboard()
        x_title = gettext("Time (%(zone)s)") % {"zone": timezone.get_current_timezone_name()}
        charts = [
            Chart(
                key=name,
                title=title,
                labels=[date_format(timezone.localtime(minute), "H:i") for minute, _n in board[name]],
                series=[Series(label, [n for _minute, n in board[name]], colour)],
                x_title=x_title,
                y_title=title,
            )
            for name, label, title, colour in (
                ("queued", gettext("Emails queued"), gettext("Emails queued per minute"), COLOURS["sent"]),
                (
                    "processed",
                    gettext("Emails processed"),
                    gettext("Emails processed per minute"),
                    COLOURS["other"],
                ),
                ("sent", gettext("Emails sent"), gettext("Emails sent per minute"), COLOURS["delivered"]),
                (
                    "throttled",
                    gettext("SES throttling errors"),
                    gettext("SES throttling errors per minute"),
                    COLOURS["bounced"],
                ),
            )
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Delivery dashboard"),
            "opts": self.model._meta,
            "board": board,
            "charts": charts,
            "failed_url": reverse("admin:delivery_stepexecution_changelist") + "?status__exact=failed",
        }
        return TemplateResponse(request, "admin/delivery/dashboard.html", context)

    @admin.display(description=_("Campaign"), ordering="step__campaign")
    def campaign(self, obj):
        return obj.step.campaign if obj.step_id else gettext("— (API message)")

    @admin.display(description=_("Step"), ordering="step__order")
    def step_order(self, obj):
        return obj.step.order if obj.step_id else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TransactionalMessage)
class TransactionalMessageAdmin(ContactDataAdminMixin, ModelAdmin):
    """Messages queued through the API, and Campanile's own (a signup's confirmation, under no key);
    read-only, like the ledger rows that send them."""

    list_display = ["to_email", "template", "status", "unique_code", "api_key", "created_at"]
    list_filter = [MessageLoadTestFilter, "execution__status", "api_key"]
    search_fields = ["=to_email", "=unique_code", "=id"]
    list_select_related = ["execution", "template", "api_key"]
    # Not its context: a signup's confirmation link is for the address's owner alone to follow.
    exclude = ["context"]
    readonly_fields = [f.name for f in TransactionalMessage._meta.fields if f.name != "context"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description=_("Status"), ordering="execution__status")
    def status(self, obj):
        return obj.execution.get_status_display()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SendingHold)
class SendingHoldAdmin(ModelAdmin):
    """Fleet-wide stops on sending, placed when SES says so; delete one to lift it now."""

    list_display = ["reason", "until", "created_at", "detail"]
    readonly_fields = [f.name for f in SendingHold._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
