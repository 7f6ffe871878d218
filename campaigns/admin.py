"""Admin for the audience, templates and campaigns; state changes go through services."""

from collections.abc import Callable
from typing import cast

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from unfold.admin import ModelAdmin, TabularInline

from campaigns import selectors, services
from campaigns.admin_steps import CampaignStepInline, campaign_is_draft
from campaigns.consent import (
    ConsentActor,
    contact_address_leave,
    contact_save_keeping_consent,
    contact_status_change,
    contacts_delete,
    reason_given,
)
from campaigns.models import (
    Campaign,
    CampaignAudit,
    ConsentChange,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
)
from campaigns.rendering import template_compile, template_render
from core.admin import EngineTableAdminMixin
from core.exceptions import CampanileError
from core.forms import JSONShownField

# The preview shows the email in a sandboxed srcdoc frame, which takes its page's
# Content-Security-Policy: that page lets the email have its inline styles and remote images.
# Scripts stay refused, and the sandbox runs none anyway.
PREVIEW_CSP = {
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "https:"],
    "font-src": [SELF, "https:"],
}


def _with_preview_csp(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer with the preview's Content-Security-Policy (PREVIEW_CSP) instead of the site's."""
    return cast(Callable[..., HttpResponseBase], csp_replace(PREVIEW_CSP)(view))


class LoadTestFilter(admin.SimpleListFilter):
    """Leave load-test rows out of a changelist unless asked: they are a load test's, not the
    marketer's. A row stays reachable by its own page whatever the filter says."""

    title = "load test data"
    parameter_name = "load_test"
    #: The lookup that says a row belongs to a load test.
    flag = "is_load_test"

    def lookups(self, request, model_admin):
        return [("shown", "Shown too"), ("only", "Only load test data")]

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = "Hidden"  # The default, which Django would call "All".
        return choices

    def queryset(self, request, queryset):
        if self.value() == "shown":
            return queryset
        return queryset.filter(**{self.flag: self.value() == "only"})


class MembershipLoadTestFilter(LoadTestFilter):
    flag = "contact_list__is_load_test"


class MarketerRelatedFilter(admin.RelatedFieldListFilter):
    """Filter by a related list or campaign, offering the marketer's only, not every load test's."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"is_load_test": False}
        )


class MembershipInline(TabularInline):
    model = ListMembership
    extra = 0
    raw_id_fields = ["contact"]
    readonly_fields = ["created_at"]


class ConsentChangeInline(TabularInline):
    """A contact's consent history, newest first; written by campaigns.consent, never edited."""

    model = ConsentChange
    verbose_name_plural = "Consent history"
    fields = ["at", "from_status", "to_status", "by", "actor", "via", "reason"]
    readonly_fields = ["at", "from_status", "to_status", "by", "actor", "via", "reason"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ContactForm(forms.ModelForm):
    """The contact form: a change of status needs a reason, and a re-subscribe an explicit tick."""

    consent_reason = forms.CharField(
        label="Reason for a status change",
        required=False,
        max_length=500,
        help_text="Required when you change the status; kept in the contact's consent history.",
    )
    resubscribe = forms.BooleanField(
        label="Subscribe again",
        required=False,
        help_text="Tick to subscribe a contact who unsubscribed again: only with their consent.",
    )

    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "external_id", "attributes", "timezone", "status"]
        field_classes = {"attributes": JSONShownField}

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None or "status" not in self.changed_data:
            return cleaned
        if not reason_given(cleaned.get("consent_reason", "")):
            self.add_error("consent_reason", "Say why the status changes.")
        was_unsubscribed = self.initial.get("status") == Contact.Status.UNSUBSCRIBED
        if (
            was_unsubscribed
            and cleaned.get("status") == Contact.Status.SUBSCRIBED
            and not cleaned["resubscribe"]
        ):
            self.add_error("resubscribe", "This contact unsubscribed: tick this to subscribe them again.")
        return cleaned


class ContactAdminBase(ModelAdmin):
    """The contact pages of the audience; console.admin registers them with what other apps add."""

    form = ContactForm

    list_display = ["email", "first_name", "last_name", "external_id", "status", "timezone", "created_at"]
    list_filter = ["status", ("lists", MarketerRelatedFilter), LoadTestFilter]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    search_help_text = "Part of an address, a name or an external id."
    readonly_fields = ["created_at", "updated_at", "unsubscribed_at"]
    date_hierarchy = "created_at"
    # Counting a million rows on every page load is what makes admins slow; skip the full count.
    show_full_result_count = False
    list_per_page = 50
    inlines = [MembershipInline, ConsentChangeInline]

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if change and "status" in form.changed_data:
            # The status goes through the consent service, which audits it; the rest saves as usual.
            status, obj.status = obj.status, form.initial["status"]
            actor = ConsentActor(
                by=ConsentChange.By.STAFF,
                name=request.user.get_username(),
                via=ConsentChange.Via.ADMIN,
                user=request.user,
            )
            contact_status_change(
                contact=obj,
                status=status,
                actor=actor,
                reason=form.cleaned_data["consent_reason"],
                resubscribe=form.cleaned_data["resubscribe"],
            )
        if change and "email" in form.changed_data:
            contact_address_leave(contact=obj, new_email=obj.email, source=Suppression.Source.ADMIN)
        if change:
            changed = {
                name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data
            }
            contact_save_keeping_consent(contact=obj, values=changed)
        else:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        contacts_delete(contacts=Contact.objects.filter(pk=obj.pk), source=Suppression.Source.ADMIN)

    def delete_queryset(self, request, queryset):
        contacts_delete(contacts=queryset, source=Suppression.Source.ADMIN)


@admin.register(ContactList)
class ContactListAdmin(ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    list_filter = [LoadTestFilter]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count


@admin.register(ListMembership)
class ListMembershipAdmin(EngineTableAdminMixin, ModelAdmin):
    list_display = ["contact", "contact_list", "created_at"]
    list_filter = [("contact_list", MarketerRelatedFilter), MembershipLoadTestFilter]
    search_fields = ["=contact__email", "contact__external_id"]
    list_select_related = ["contact", "contact_list"]
    raw_id_fields = ["contact"]
    show_full_result_count = False


@admin.register(Suppression)
class SuppressionAdmin(ModelAdmin):
    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason", "source"]
    search_fields = ["email"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Template)
class TemplateAdmin(ModelAdmin):
    list_display = ["name", "subject", "updated_at"]
    search_fields = ["name", "subject"]
    readonly_fields = ["created_at", "updated_at"]


class CampaignAuditInline(TabularInline):
    """Who moved the campaign along its status machine, newest first; written by the services."""

    model = CampaignAudit
    extra = 0
    readonly_fields = fields = ("at", "action", "from_status", "to_status", "actor", "note")
    verbose_name_plural = "History of moves"
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CampaignAudit)
class CampaignAuditAdmin(ModelAdmin):
    list_display = ["at", "campaign", "action", "from_status", "to_status", "actor", "note"]
    list_filter = ["action", "to_status"]
    search_fields = ["campaign__name", "actor"]
    list_select_related = ["campaign"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in CampaignAudit._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The marketer's moves through the status machine: action → (service, verb, past tense).
# "start" and "complete" are left out: only the delivery engine makes those.
CAMPAIGN_ADMIN_ACTIONS: dict[str, tuple[Callable[..., Campaign], str, str]] = {
    "schedule": (services.campaign_schedule, "Schedule", "Scheduled"),
    "unschedule": (services.campaign_unschedule, "Unschedule", "Unscheduled"),
    "pause": (services.campaign_pause, "Pause", "Paused"),
    "resume": (services.campaign_resume, "Resume", "Resumed"),
    "cancel": (services.campaign_cancel, "Cancel campaign", "Cancelled"),
}


def campaign_admin_apply(modeladmin, request, campaigns, action: str) -> bool:
    """Apply one status-machine action to campaigns, all or nothing, and tell the user the outcome."""
    service, _verb, done = CAMPAIGN_ADMIN_ACTIONS[action]
    actor = services.Actor(name=f"{request.user.get_username()} (admin)", user=request.user)
    try:
        with transaction.atomic():
            for campaign in campaigns:
                service(campaign=campaign, actor=actor)
    except CampanileError as exc:
        modeladmin.message_user(request, f"{exc} Nothing was changed.", level=messages.ERROR)
        return False
    modeladmin.message_user(request, f"{done} {len(campaigns)} campaign(s).", level=messages.SUCCESS)
    return True


def _bulk_action(action: str):
    """Build the changelist action for one status-machine action."""

    def run(modeladmin, request, queryset):
        campaign_admin_apply(modeladmin, request, list(queryset.order_by("pk")), action)

    run.__name__ = f"campaign_{action}"
    verb = CAMPAIGN_ADMIN_ACTIONS[action][1].split()[0]
    return admin.action(description=f"{verb} selected campaigns", permissions=["change"])(run)


class CampaignAdminBase(ModelAdmin):
    """The campaign pages of this app: the form, status moves, preview and the schedule's dry run.

    console.admin registers it with the pages other apps add (progress, test send, report).
    """

    list_display = ["name", "status", "date_shown"]
    list_filter = ["status", "started_at", LoadTestFilter]
    search_fields = ["name", "from_email"]
    filter_horizontal = ["lists"]
    readonly_fields = [
        "status",
        "status_note",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    inlines = [CampaignStepInline, CampaignAuditInline]
    actions = [_bulk_action(action) for action in CAMPAIGN_ADMIN_ACTIONS]

    @admin.display(description="Date", ordering="scheduled_at")
    def date_shown(self, obj):
        """Show when the campaign finished, started or is to start, whichever it has reached."""
        moment = obj.completed_at or obj.started_at or obj.scheduled_at
        return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else "—"

    def save_model(self, request, obj, form, change):
        if change:
            # Locked, and checked again: a campaign scheduled since its page was opened stays as
            # it was scheduled (the page's save runs in one transaction, inlines included).
            stored = Campaign.objects.select_for_update().only("status").get(pk=obj.pk)
            if not campaign_is_draft(stored):
                raise PermissionDenied(
                    f"“{obj.name}” is {stored.get_status_display().lower()}: only a draft changes."
                )
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        # Only drafts change, as through the API: what is sent is what was reviewed.
        if obj is not None and not campaign_is_draft(obj):
            fields = self.model._meta.get_fields()
            names = [*self.readonly_fields, *(f.name for f in fields if f.concrete and not f.auto_created)]
            return list(dict.fromkeys(names))
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "lists" in form.base_fields:
            # A many-to-many field's form field: base_fields types it as any form field.
            lists = cast(forms.ModelMultipleChoiceField, form.base_fields["lists"])
            lists.queryset = selectors.contact_list_choices(campaign=obj)
        return form

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/<slug:action>/",
                view(self.transition_view),
                name="campaigns_campaign_transition",
            ),
            path(
                "<path:object_id>/preview/",
                view(_with_preview_csp(self.preview_view)),
                name="campaigns_campaign_preview",
            ),
            path(
                "<path:object_id>/schedule/",
                view(self.schedule_view),
                name="campaigns_campaign_schedule_confirm",
            ),
            *super().get_urls(),
        ]

    def _campaign_or_404(self, request, object_id, *, change: bool = False) -> Campaign:
        campaign = self.get_object(request, object_id)
        if campaign is None:
            raise Http404("No such campaign.")
        allowed = self.has_change_permission if change else self.has_view_permission
        if not allowed(request, campaign):
            raise PermissionDenied
        return campaign

    def _page(self, request, campaign: Campaign, template: str, title: str, **context):
        return TemplateResponse(
            request,
            f"admin/campaigns/campaign/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                "original": campaign,
                **context,
            },
        )

    def preview_view(self, request, object_id):
        """Show a step's email as one contact will get it: subject, HTML (sandboxed) and text."""
        campaign = self._campaign_or_404(request, object_id)
        steps = list(campaign.steps.select_related("template").order_by("order"))
        step = next(
            (s for s in steps if str(s.order) == request.GET.get("step")), steps[0] if steps else None
        )
        contact = selectors.preview_contact(campaign=campaign, wanted=request.GET.get("contact", ""))
        problem, rendered = "", None
        if step is None:
            problem = "The campaign has no step yet."
        elif contact is None:
            problem = "No such contact, and the campaign's lists have none to show."
        else:
            try:
                rendered = template_render(
                    compiled=template_compile(template=step.template),
                    contact=contact,
                    extra={"unsubscribe_url": "#unsubscribe"},
                )
            except CampanileError as exc:
                problem = str(exc)
        return self._page(
            request,
            campaign,
            "preview.html",
            f"Preview: {campaign.name}",
            steps=steps,
            step=step,
            contact=contact,
            contact_field=request.GET.get("contact") or (contact.email if contact else ""),
            rendered=rendered,
            problem=problem,
        )

    def schedule_view(self, request, object_id):
        """Confirm a schedule: what will go, to how many, when; POST schedules it."""
        campaign = self._campaign_or_404(request, object_id, change=True)
        if request.method == "POST":
            campaign_admin_apply(self, request, [campaign], "schedule")
            return redirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        problem = ""
        try:
            services.campaign_check_ready(campaign=campaign)
        except CampanileError as exc:
            problem = str(exc)
        return self._page(
            request,
            campaign,
            "schedule_confirm.html",
            f"Schedule {campaign.name}?",
            breakdown=selectors.campaign_audience_breakdown(campaign=campaign),
            steps=campaign.steps.select_related("template", "condition_step").order_by("order"),
            problem=problem,
        )

    def transition_view(self, request, object_id, action):
        """Apply one status-machine action from the campaign's own page (POST only)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = self.get_object(request, object_id)
        if campaign is None or action not in CAMPAIGN_ADMIN_ACTIONS:
            raise Http404("No such campaign or action.")
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        campaign_admin_apply(self, request, [campaign], action)
        return redirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        buttons = []
        if campaign is not None:
            buttons = [
                (action, verb)
                for action, (_service, verb, _done) in CAMPAIGN_ADMIN_ACTIONS.items()
                if campaign.status in services.CAMPAIGN_TRANSITIONS[action][0]
            ]
        extra_context = {
            **(extra_context or {}),
            "transition_buttons": buttons,
            "preview_url": reverse("admin:campaigns_campaign_preview", args=[object_id]),
            "schedule_url": reverse("admin:campaigns_campaign_schedule_confirm", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)
