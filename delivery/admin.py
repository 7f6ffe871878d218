"""Admin for the send ledger: read-only, since only the delivery engine writes it."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from campaigns.admin import CampaignAdmin
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign
from delivery.models import SendingHold, StepExecution, TransactionalMessage
from delivery.selectors import campaign_step_progress
from delivery.services import campaign_retry_failed


@admin.register(StepExecution)
class StepExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "campaign",
        "step_order",
        "status",
        "outcome",
        "ses_message_id",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "outcome", "step__campaign"]
    search_fields = ["=email", "=ses_message_id", "=tracking_id"]
    list_select_related = ["step__campaign"]
    readonly_fields = [f.name for f in StepExecution._meta.fields]
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Campaign", ordering="step__campaign")
    def campaign(self, obj):
        return obj.step.campaign if obj.step_id else "— (API message)"

    @admin.display(description="Step", ordering="step__order")
    def step_order(self, obj):
        return obj.step.order if obj.step_id else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TransactionalMessage)
class TransactionalMessageAdmin(admin.ModelAdmin):
    """Messages queued through the API; read-only, like the ledger rows that send them."""

    list_display = ["to_email", "template", "status", "unique_code", "api_key", "created_at"]
    list_filter = ["execution__status", "api_key"]
    search_fields = ["=to_email", "=unique_code", "=id"]
    list_select_related = ["execution", "template", "api_key"]
    readonly_fields = [f.name for f in TransactionalMessage._meta.fields]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Status", ordering="execution__status")
    def status(self, obj):
        return obj.execution.status

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SendingHold)
class SendingHoldAdmin(admin.ModelAdmin):
    """Fleet-wide stops on sending, placed when SES says so; delete one to lift it now."""

    list_display = ["reason", "until", "created_at", "detail"]
    readonly_fields = [f.name for f in SendingHold._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Retry failed recipients of selected campaigns", permissions=["change"])
def campaign_retry_failed_action(modeladmin, request, queryset):
    """Put each selected campaign's failed rows back in its queue (never its unknown ones)."""
    for campaign in queryset.order_by("pk"):
        try:
            retried = campaign_retry_failed(campaign=campaign)
        except InvalidTransition as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
        else:
            modeladmin.message_user(request, f"“{campaign.name}”: {retried} failed recipients queued again.")


class DeliveryCampaignAdmin(CampaignAdmin):
    """The campaign admin plus the ledger's actions and counts; registered here: campaigns can't
    import delivery."""

    actions = [*CampaignAdmin.actions, campaign_retry_failed_action]
    readonly_fields = [*CampaignAdmin.readonly_fields, "steps_progress"]

    @admin.display(description="Contacts per step")
    def steps_progress(self, obj):
        if obj.pk is None:
            return "—"
        columns = ("waiting", "queued", "sent", "skipped", "exited", "stopped")
        head = format_html_join("", "<th>{}</th>", [("Step",), *[(name.capitalize(),) for name in columns]])
        body = format_html_join(
            "",
            '<tr><td title="{}">{}</td>' + "<td>{}</td>" * len(columns) + "</tr>",
            [
                (row["summary"], row["order"], *[row[name] for name in columns])
                for row in campaign_step_progress(campaign=obj)
            ],
        )
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>"
            "<p>Waiting: passed the step before, not yet due here. Skipped: left out by the step's "
            "condition, going on to the next. Exited: left the sequence here. Stopped: suppressed, "
            "failed or unknown.</p>",
            head,
            body,
        )


admin.site.unregister(Campaign)
admin.site.register(Campaign, DeliveryCampaignAdmin)
