"""Admin for the send ledger: read-only, since only the delivery engine writes it."""

from django.contrib import admin

from delivery.models import StepExecution


@admin.register(StepExecution)
class StepExecutionAdmin(admin.ModelAdmin):
    list_display = ["email", "campaign", "step_order", "status", "ses_message_id", "attempts", "sent_at"]
    list_filter = ["status", "step__campaign"]
    search_fields = ["=email", "=ses_message_id", "=tracking_id"]
    list_select_related = ["step__campaign"]
    readonly_fields = [f.name for f in StepExecution._meta.fields]
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Campaign", ordering="step__campaign")
    def campaign(self, obj):
        return obj.step.campaign

    @admin.display(description="Step", ordering="step__order")
    def step_order(self, obj):
        return obj.step.order

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
