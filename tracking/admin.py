"""Admin for tracking events: read-only, since only webhooks and tracking views write them."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaigns.admin_access import ContactDataAdminMixin, sees_contacts
from core.text import grouped
from delivery.models import TrackedLink
from tracking import inbox
from tracking.models import Alert, SendEventsCheck, SnsMessage, SoftBounceStreak, TrackingEvent
from tracking.selectors import (
    contact_timeline,
)


@admin.register(TrackingEvent)
class TrackingEventAdmin(ContactDataAdminMixin, ModelAdmin):
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
        ids = {event.link_id for event in changelist.result_list} - {None}
        urls = dict(TrackedLink.objects.filter(pk__in=ids).values_list("pk", "url"))
        for event in changelist.result_list:
            event.link_url = urls.get(event.link_id, "")
        return changelist

    @admin.display(description=_("Event"), ordering="type")
    def type_shown(self, obj):
        """The event, with how Campanile read it where that says more ("Bounce (hard)")."""
        return f"{obj.get_type_display()} ({obj.kind})" if obj.kind else obj.get_type_display()

    @admin.display(description=_("Campaign"))
    def campaign_shown(self, obj):
        row = obj.step_execution
        return Truncator(row.step.campaign.name).chars(24) if row is not None and row.step_id else "—"

    @admin.display(description=_("Link"))
    def link_shown(self, obj):
        # Its start, the whole address on hover: a page of clicks must fit the screen.
        url = getattr(obj, "link_url", "")
        return format_html('<span title="{}">{}</span>', url, Truncator(url).chars(36)) if url else "—"

    @admin.display(description=_("By a machine"), ordering="is_machine")
    def machine_shown(self, obj):
        # Words, not the admin's red cross: "no" here is the good news.
        return gettext("Machine") if obj.is_machine else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SnsMessage)
class SnsMessageAdmin(ContactDataAdminMixin, ModelAdmin):
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

    def has_apply_permission(self, request) -> bool:
        """Tell whether one may apply messages by hand: the page is read-only for everyone, so the
        action asks for the model's change permission itself, as the roles grant it."""
        return request.user.has_perm("tracking.change_snsmessage") and sees_contacts(request)

    @admin.action(description=_("Apply the selected messages now"), permissions=["apply"])
    def apply_now(self, request, queryset):
        waiting = [
            pk for pk in queryset.values_list("pk", flat=True) if not inbox.sns_message_apply(message_id=pk)
        ]
        if waiting:
            self.message_user(
                request,
                ngettext(
                    "%(count)s still waits for its ledger rows; see its note.",
                    "%(count)s still wait for their ledger rows; see their notes.",
                    len(waiting),
                )
                % {"count": grouped(len(waiting))},
                messages.WARNING,
            )
        else:
            self.message_user(request, gettext("Applied."), messages.SUCCESS)


@admin.register(SoftBounceStreak)
class SoftBounceStreakAdmin(ContactDataAdminMixin, ModelAdmin):
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

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        # The emails and their events, for those who may see the send log and the events, as the
        # contact's JSON download gives them: a role that sees contacts alone sees no timeline.
        seen = request.user.has_perm("delivery.view_stepexecution") and request.user.has_perm(
            "tracking.view_trackingevent"
        )
        return fields if seen else [name for name in fields if name not in self.tracking_readonly_fields]

    @admin.display(description=_("Timeline (newest first)"))
    def timeline(self, obj):
        if obj.pk is None:
            return "—"
        entries = contact_timeline(contact=obj)
        if not entries:
            return gettext("Nothing sent to this contact yet.")
        return format_html(
            '<div class="cp-scroll"><table class="cp-table"><thead><tr>'
            "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table></div>",
            gettext("When"),
            gettext("What"),
            gettext("Campaign / message"),
            gettext("Detail"),
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

    @admin.action(description=_("Acknowledge the selected alerts"), permissions=["change"])
    def acknowledge(self, request, queryset):
        done = queryset.filter(acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
        self.message_user(
            request,
            ngettext("%(count)s alert acknowledged.", "%(count)s alerts acknowledged.", done)
            % {"count": grouped(done)},
            messages.SUCCESS,
        )


@admin.register(SendEventsCheck)
class SendEventsCheckAdmin(ModelAdmin):
    """What SESv2 last said of each configuration set's Send events: whether silence proves anything."""

    list_display = ["configuration_set", "published", "checked_at", "detail"]
    readonly_fields = ["configuration_set", "published", "checked_at", "detail"]

    def has_add_permission(self, request):
        return False
