"""Admin for tracking events: read-only, since only webhooks and tracking views write them."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns.admin import ContactAdmin
from campaigns.models import Contact
from tracking import services
from tracking.models import Alert, SnsMessage, SoftBounceStreak, TrackingEvent
from tracking.selectors import contact_timeline


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = ["type", "kind", "occurred_at", "recipient", "ses_message_id", "step_execution"]
    list_filter = ["type", "kind"]
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


@admin.register(SnsMessage)
class SnsMessageAdmin(admin.ModelAdmin):
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
            pk
            for pk in queryset.values_list("pk", flat=True)
            if not services.sns_message_apply(message_id=pk)
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
class SoftBounceStreakAdmin(admin.ModelAdmin):
    list_display = ["email", "count", "updated_at"]
    search_fields = ["=email"]
    readonly_fields = ["email", "count", "updated_at"]

    def has_add_permission(self, request):
        return False


class TrackingContactAdmin(ContactAdmin):
    """The contact page plus its timeline; registered here: campaigns can't import tracking."""

    readonly_fields = [*ContactAdmin.readonly_fields, "timeline"]

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


admin.site.unregister(Contact)
admin.site.register(Contact, TrackingContactAdmin)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
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
