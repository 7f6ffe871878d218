"""Admin for the audience, templates and campaigns; state changes go through services."""

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count

from campaigns import services
from campaigns.exceptions import CampanileError
from campaigns.models import (
    Campaign,
    CampaignStep,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
)


class MembershipInline(admin.TabularInline):
    model = ListMembership
    extra = 0
    raw_id_fields = ["contact"]
    readonly_fields = ["created_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "external_id", "status", "timezone", "created_at"]
    list_filter = ["status", "lists"]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    readonly_fields = ["created_at", "updated_at", "unsubscribed_at"]
    date_hierarchy = "created_at"
    # Counting a million rows on every page load is what makes admins slow; skip the full count.
    show_full_result_count = False
    list_per_page = 50


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason", "source"]
    search_fields = ["email"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "subject", "updated_at"]
    search_fields = ["name", "subject"]
    readonly_fields = ["created_at", "updated_at"]


class CampaignStepInline(admin.TabularInline):
    model = CampaignStep
    extra = 0
    min_num = 1
    autocomplete_fields = ["template"]


def _campaign_action(action, *, label, done):
    """Build an admin action that applies one status-machine service to every selected campaign.

    All or nothing: if one campaign cannot make the move, none does, and the admin says why.
    """

    def run(modeladmin, request, queryset):
        try:
            with transaction.atomic():
                for campaign in queryset.order_by("pk"):
                    action(campaign=campaign)
        except CampanileError as exc:
            modeladmin.message_user(request, f"{exc} Nothing was changed.", level=messages.ERROR)
            return
        modeladmin.message_user(request, f"{done} {queryset.count()} campaign(s).", level=messages.SUCCESS)

    run.__name__ = action.__name__
    return admin.action(description=label, permissions=["change"])(run)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "scheduled_at", "started_at", "completed_at", "from_email"]
    list_filter = ["status"]
    search_fields = ["name", "from_email"]
    filter_horizontal = ["lists"]
    readonly_fields = ["status", "started_at", "completed_at", "created_at", "updated_at"]
    inlines = [CampaignStepInline]
    actions = [
        _campaign_action(services.campaign_schedule, label="Schedule selected campaigns", done="Scheduled"),
        _campaign_action(
            services.campaign_unschedule, label="Unschedule selected campaigns", done="Unscheduled"
        ),
        _campaign_action(services.campaign_pause, label="Pause selected campaigns", done="Paused"),
        _campaign_action(services.campaign_resume, label="Resume selected campaigns", done="Resumed"),
        _campaign_action(services.campaign_cancel, label="Cancel selected campaigns", done="Cancelled"),
    ]
