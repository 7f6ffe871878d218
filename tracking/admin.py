"""Admin for tracking events: read-only, since only webhooks and tracking views write them."""

from django.contrib import admin

from tracking.models import TrackingEvent


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = ["type", "occurred_at", "recipient", "ses_message_id", "step_execution"]
    list_filter = ["type"]
    search_fields = ["=recipient", "=ses_message_id", "=event_id"]
    date_hierarchy = "occurred_at"
    raw_id_fields = ["step_execution"]
    readonly_fields = [f.name for f in TrackingEvent._meta.fields]
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
