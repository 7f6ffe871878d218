"""The campaign's admin pages this app owns: the form, status moves, the preview and the schedule's
dry run; console.admin composes them with what delivery and tracking add."""

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaigns import selectors, services
from campaigns.admin_access import sees_contacts, sees_memberships
from campaigns.admin_audience import audience_formfield_options
from campaigns.admin_filters import LoadTestFilter
from campaigns.admin_steps import CampaignStepInline, campaign_is_draft
from campaigns.admin_tabs import AUDIENCE_PANE, campaign_form_tabs, campaign_tab
from campaigns.models import (
    Campaign,
    CampaignAudit,
    Template,
)
from campaigns.rendering import template_compile, template_render
from campaigns.segments import segments_naming
from core.admin import RecordInline
from core.exceptions import CampanileError
from core.forms import AddressField

if TYPE_CHECKING:  # The type of a lazy translation, as the stubs know it (no such class at run time).
    from django_stubs_ext import StrPromise

# The preview shows the email in a sandboxed srcdoc frame, which takes its page's
# Content-Security-Policy: that page lets the email have its inline styles and remote images.
# Scripts stay refused, and the sandbox runs none anyway.
PREVIEW_CSP = {
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "https:"],
    "font-src": [SELF, "https:"],
}


def with_preview_csp(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Answer with the preview's Content-Security-Policy (PREVIEW_CSP) instead of the site's."""
    return cast(Callable[..., HttpResponseBase], csp_replace(PREVIEW_CSP)(view))


class CampaignAuditInline(RecordInline):
    """Who moved the campaign along its status machine, newest first; written by the services."""

    model = CampaignAudit
    fields = ("at", "action", "from_status", "to_status", "actor", "note")
    verbose_name_plural = _("History of moves")


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


# The marketer's moves through the status machine: action → (service, button, what was done,
# the list's bulk action). Whole sentences each: a translation cannot be pieced from a verb.
# "start" and "complete" are left out: only the delivery engine makes those.
CAMPAIGN_ADMIN_ACTIONS: "dict[str, tuple[Callable[..., Campaign], StrPromise, StrPromise, StrPromise]]" = {
    "schedule": (
        services.campaign_schedule,
        _("Schedule"),
        ngettext_lazy("Scheduled %(count)s campaign.", "Scheduled %(count)s campaigns.", "count"),
        _("Schedule selected campaigns"),
    ),
    "unschedule": (
        services.campaign_unschedule,
        _("Unschedule"),
        ngettext_lazy("Unscheduled %(count)s campaign.", "Unscheduled %(count)s campaigns.", "count"),
        _("Unschedule selected campaigns"),
    ),
    "pause": (
        services.campaign_pause,
        _("Pause"),
        ngettext_lazy("Paused %(count)s campaign.", "Paused %(count)s campaigns.", "count"),
        _("Pause selected campaigns"),
    ),
    "resume": (
        services.campaign_resume,
        _("Resume"),
        ngettext_lazy("Resumed %(count)s campaign.", "Resumed %(count)s campaigns.", "count"),
        _("Resume selected campaigns"),
    ),
    "cancel": (
        services.campaign_cancel,
        _("Cancel campaign"),
        ngettext_lazy("Cancelled %(count)s campaign.", "Cancelled %(count)s campaigns.", "count"),
        _("Cancel selected campaigns"),
    ),
}


def campaign_admin_apply(modeladmin, request, campaigns, action: str) -> bool:
    """Apply one status-machine action to campaigns, all or nothing, and tell the user the outcome."""
    service, _verb, done, _description = CAMPAIGN_ADMIN_ACTIONS[action]
    actor = services.Actor(name=f"{request.user.get_username()} (admin)", user=request.user)
    try:
        with transaction.atomic():
            for campaign in campaigns:
                service(campaign=campaign, actor=actor)
    except CampanileError as exc:
        # The service's own words (in the reader's language), then the outcome.
        outcome = gettext("%(problem)s Nothing was changed.") % {"problem": exc}
        modeladmin.message_user(request, outcome, level=messages.ERROR)
        return False
    modeladmin.message_user(request, done % {"count": len(campaigns)}, level=messages.SUCCESS)
    return True


def _bulk_action(action: str):
    """Build the changelist action for one status-machine action."""

    def run(modeladmin, request, queryset):
        campaign_admin_apply(modeladmin, request, list(queryset.order_by("pk")), action)

    run.__name__ = f"campaign_{action}"
    return admin.action(description=CAMPAIGN_ADMIN_ACTIONS[action][3], permissions=["change"])(run)


#: The fieldset only a campaign that exists has (its title is also how get_fieldsets finds it).
STATUS_FIELDSET = _("Status")


class CampaignAdminBase(ModelAdmin):
    """The campaign pages of this app: the form, status moves, preview and the schedule's dry run.

    console.admin registers it with the pages other apps add (progress, test send, report).
    """

    list_display = ["name", "status", "date_shown"]
    list_filter = ["status", "started_at", LoadTestFilter]
    search_fields = ["name", "from_email"]
    readonly_fields = [
        "status",
        "status_note",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    # What a marketer fills in first; the expert settings folded away (each has a default).
    fieldsets = [
        (None, {"fields": ["name", "from_email", "reply_to"]}),
        # Shown as the Audience tab, untitled (the class is how change_form.html finds it).
        (None, {"classes": [AUDIENCE_PANE], "fields": ["lists", "segments", "audience_mode"]}),
        (_("When and tracking"), {"fields": ["scheduled_at", ("track_opens", "track_clicks")]}),
        (
            _("Advanced"),
            {
                "classes": ["collapse"],
                "description": _(
                    "Drips, send windows, recurrence and the SES configuration set: "
                    "see Campaigns and drips in the docs."
                ),
                "fields": [
                    "configuration_set",
                    "goal_url",
                    "timezone",
                    ("send_window_start", "send_window_end"),
                    "send_weekdays",
                    "recurrence",
                ],
            },
        ),
        (
            STATUS_FIELDSET,
            {
                "fields": [
                    "status",
                    "status_note",
                    ("started_at", "completed_at"),
                    ("created_at", "updated_at"),
                ]
            },
        ),
    ]
    #: Fieldsets of a campaign that exists: none on the page that adds one.
    existing_only_fieldsets: tuple[str | Promise, ...] = (STATUS_FIELDSET,)
    inlines = [CampaignStepInline, CampaignAuditInline]
    actions = [_bulk_action(action) for action in CAMPAIGN_ADMIN_ACTIONS]

    @admin.display(description=_("Date"), ordering="scheduled_at")
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
                said = gettext("“%(name)s” has the status %(status)s: only a draft changes.")
                raise PermissionDenied(said % {"name": obj.name, "status": stored.get_status_display()})
        if "lists" in form.cleaned_data:
            # Held until the page's save commits, the form's segments with them: a list deleted
            # since the form was checked is refused, never leaving the segments to mail alone.
            try:
                services.campaign_lists_lock(lists=list(form.cleaned_data["lists"]))
            except ValidationError as exc:
                raise PermissionDenied(" ".join(exc.messages)) from exc
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return (
            fieldsets
            if obj is not None
            else [f for f in fieldsets if f[0] not in self.existing_only_fieldsets]
        )

    def get_readonly_fields(self, request, obj=None):
        # Only drafts change, as through the API: what is sent is what was reviewed.
        if obj is not None and not campaign_is_draft(obj):
            fields = self.model._meta.get_fields()
            names = [*self.readonly_fields, *(f.name for f in fields if f.concrete and not f.auto_created)]
            return list(dict.fromkeys(names))
        return self.readonly_fields

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "reply_to":  # The address rule names what it refuses; Django's would not.
            kwargs["form_class"] = AddressField
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.update(audience_formfield_options(db_field.name))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "lists" in form.base_fields:
            # A many-to-many field's form field: base_fields types it as any form field.
            lists = cast(forms.ModelMultipleChoiceField, form.base_fields["lists"])
            lists.queryset = selectors.contact_list_choices(campaign=obj)
        return form

    def get_deleted_objects(self, objs, request):
        """Ask only for the right to delete campaigns (and to see contacts, whom the list of what
        goes names): their steps, audit and emails go with them by design, and the steps' own pages
        are the engine's (superusers only)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # "Delete selected" asks has_delete_permission with no campaign: a campaign under way or
        # done is refused here, on the confirmation page and again on its POST.
        protected = (
            list(protected)
            + [
                gettext("%(campaign)s (%(status)s): cancel it before deleting it")
                % {"campaign": campaign.name, "status": campaign.get_status_display()}
                for campaign in objs
                if campaign.status not in services.CAMPAIGN_DELETABLE
            ]
            + [
                gettext("%(campaign)s: segments name it in their rules (%(segments)s); change those first")
                % {"campaign": campaign.name, "segments": ", ".join(naming[:5])}
                for campaign in objs
                if (naming := segments_naming(campaign_ids=[campaign.pk]))
            ]
        )
        return deleted, counts, set() if sees_contacts(request) else perms_needed, protected

    def has_delete_permission(self, request, obj=None):
        """Delete only a draft or a cancelled campaign, as the API: cancel one under way first."""
        deletable = obj is None or obj.status in services.CAMPAIGN_DELETABLE
        return deletable and super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        self.delete_queryset(request, Campaign.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        """Delete through the service, which locks each campaign and checks its status again."""
        try:
            services.campaigns_delete(pks=list(queryset.values_list("pk", flat=True)))
        except CampanileError as exc:  # Scheduled, or named by a segment, since the confirmation page.
            raise PermissionDenied(str(exc)) from exc

    def get_formset_kwargs(self, request, obj, inline, prefix):
        """Start a new campaign's first step at order 1, with the template it was started from
        (the template page's "Save and start a campaign": `?template=<id>`)."""
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, CampaignStepInline) and request.method == "GET" and not (obj and obj.pk):
            first = {"order": 1}
            wanted = request.GET.get("template", "")
            if wanted.isascii() and wanted.isdigit() and Template.objects.filter(pk=wanted).exists():
                first["template"] = int(wanted)
            kwargs["initial"] = [first]
        return kwargs

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
                view(with_preview_csp(self.preview_view)),
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

    def campaign_checklist(self, campaign: Campaign) -> list[selectors.CheckItem]:
        """Return what a draft still needs; delivery's admin adds what SES says of its sender."""
        return selectors.campaign_checklist(campaign=campaign)

    def campaign_tabs(self, campaign: Campaign) -> list[dict[str, str | Promise]]:
        """Return the campaign's pages as tabs; the admins of delivery and tracking add theirs."""
        return [
            *campaign_form_tabs(campaign),
            campaign_tab(campaign, "preview", _("Preview & test"), "preview", short=_("Preview")),
        ]

    def _tabs_context(self, campaign: Campaign, active: str) -> dict:
        tabs = self.campaign_tabs(campaign)
        # A page within a tab (the test send, within Preview & test) is a second row under it.
        main = [tab for tab in tabs if not tab.get("within")]
        inner = [tab for tab in tabs if tab.get("within") == active]
        return {
            "campaign_tabs": main,
            "campaign_subtabs": [tab for tab in main if tab["key"] == active] + inner if inner else [],
            "tab_urls": {tab["key"]: tab["url"] for tab in tabs},
            "active_tab": active,
        }

    def _page(
        self, request, campaign: Campaign, template: str, title: str | Promise, *, tab: str = "", **context
    ):
        return TemplateResponse(
            request,
            f"admin/campaigns/campaign/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                "original": campaign,
                **self._tabs_context(campaign, tab),
                **context,
            },
        )

    def preview_view(self, request, object_id):
        """Show a step's email as one contact will get it: subject, HTML (sandboxed) and text.

        It shows a contact's data: only to those who may see contacts.
        """
        campaign = self._campaign_or_404(request, object_id)
        if not sees_contacts(request):
            raise PermissionDenied
        steps = list(campaign.steps.select_related("template").order_by("order"))
        step = next(
            (s for s in steps if str(s.order) == request.GET.get("step")), steps[0] if steps else None
        )
        contact = selectors.preview_contact(
            campaign=campaign,
            wanted=request.GET.get("contact", ""),
            may_see_memberships=sees_memberships(request),
        )
        problem, rendered = "", None
        if step is None:
            problem = gettext("The campaign has no step yet.")
        elif contact is None:
            problem = gettext("No such contact, and the campaign's lists have none to show.")
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
            gettext("Preview: %(name)s") % {"name": campaign.name},
            tab="preview",
            steps=steps,
            step=step,
            contact=contact,
            contact_field=request.GET.get("contact") or (contact.email if contact and contact.pk else ""),
            sample=contact is not None and contact.pk is None,
            rendered=rendered,
            problem=problem,
        )

    def schedule_view(self, request, object_id):
        """Confirm a schedule: what will go, to how many, when; POST schedules it."""
        campaign = self._campaign_or_404(request, object_id, change=True)
        if request.method == "POST":
            if campaign_admin_apply(self, request, [campaign], "schedule"):
                return redirect(self.scheduled_url(campaign))
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
            gettext("Schedule %(name)s?") % {"name": campaign.name},
            tab="overview",
            breakdown=selectors.campaign_audience_breakdown(campaign=campaign),
            steps=campaign.steps.select_related("template", "condition_step").order_by("order"),
            problem=problem,
        )

    def scheduled_url(self, campaign: Campaign) -> str:
        """Return where a campaign's page goes once it is scheduled (delivery's admin: its progress)."""
        return reverse("admin:campaigns_campaign_change", args=[campaign.pk])

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

    def add_view(self, request, form_url="", extra_context=None):
        tabs = {"campaign_tabs": campaign_form_tabs(None), "active_tab": "overview", "on_form": True}
        return super().add_view(request, form_url, {**(extra_context or {}), **tabs})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        buttons = []
        if campaign is not None:
            buttons = [
                (action, verb)
                for action, (_service, verb, _done, _description) in CAMPAIGN_ADMIN_ACTIONS.items()
                if campaign.status in services.CAMPAIGN_TRANSITIONS[action][0]
            ]
        extra_context = {
            **(extra_context or {}),
            **(self._tabs_context(campaign, "overview") if campaign is not None else {}),
            "on_form": True,
            # What is still missing before it can go: shown while it is a draft.
            "checklist": self.campaign_checklist(campaign)
            if campaign is not None and campaign_is_draft(campaign)
            else [],
            "transition_buttons": buttons,
            "preview_url": reverse("admin:campaigns_campaign_preview", args=[object_id]),
            "schedule_url": reverse("admin:campaigns_campaign_schedule_confirm", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)
