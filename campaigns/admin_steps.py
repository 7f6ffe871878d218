"""The admin of campaign steps: only a draft campaign's steps change, in the admin as in the API.

campaigns.services.campaign_update refuses to change a campaign that is not a draft, so what is
sent is what was reviewed when it was scheduled; these pages hold to the same rule.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline

from campaigns.models import Campaign, CampaignStep
from core.admin import EngineTableAdminMixin
from core.forms import AutocompleteSelectKept


def campaign_is_draft(campaign: Campaign) -> bool:
    """Tell whether a campaign may still be changed: only drafts may."""
    return campaign.status == Campaign.Status.DRAFT


def _template_box(admin_page, db_field, kwargs) -> None:
    """Give the step's template its autocomplete box, one that survives a sent value that is no id."""
    if db_field.name == "template":
        kwargs["widget"] = AutocompleteSelectKept(db_field, admin_page.admin_site, using=kwargs.get("using"))


class CampaignStepForm(forms.ModelForm):
    """A step's form: an empty delay is none (right after the step before), as in the API; the
    step a condition looks at is an earlier one of the same campaign."""

    def clean_delay(self):
        return self.cleaned_data.get("delay") or timedelta(0)

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        looked_at, order = cleaned.get("condition_step"), cleaned.get("order")
        campaign_id = cleaned["campaign"].pk if cleaned.get("campaign") else self.instance.campaign_id
        if looked_at is not None and (
            looked_at.campaign_id != campaign_id or (order is not None and looked_at.order >= order)
        ):
            self.add_error("condition_step", gettext("Choose an earlier step of the same campaign."))
        return cleaned


class CampaignStepInline(StackedInline):
    """The steps of a campaign, in order, each with a sentence saying what it does."""

    model = CampaignStep
    form = CampaignStepForm
    #: The Content tab of the campaign's form (unfold shows a tab inline alone, as pane "steps").
    tab = True
    extra = 0
    min_num = 1
    autocomplete_fields = ["template"]
    fields = [
        "order",
        "template",
        "delay",
        "send_at",
        "condition",
        "condition_step",
        "condition_url",
        "summary",
    ]
    readonly_fields = ["summary"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _template_box(self, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        """Offer as a condition's step only this campaign's own steps (none before it is saved)."""
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("condition_step")
        if field is not None:
            field.queryset = CampaignStep.objects.filter(campaign=obj) if obj else CampaignStep.objects.none()
        return formset

    @admin.display(description=_("In words"))
    def summary(self, obj):
        return obj.summary() if obj.pk else gettext("Saved steps are described here.")

    def has_add_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_delete_permission(request, obj)


@admin.register(CampaignStep)
class CampaignStepAdmin(EngineTableAdminMixin, ModelAdmin):
    form = CampaignStepForm
    list_display = ["campaign", "order", "template", "delay"]
    list_filter = ["campaign__status"]
    search_fields = ["campaign__name", "template__name"]
    list_select_related = ["campaign", "template"]
    autocomplete_fields = ["template"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _template_box(self, db_field, kwargs)
        if db_field.name == "campaign":  # A step is added to a draft only.
            kwargs["queryset"] = Campaign.objects.filter(status=Campaign.Status.DRAFT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj.campaign)) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj.campaign)) and super().has_delete_permission(
            request, obj
        )
