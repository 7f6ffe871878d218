"""The admin of campaign steps: only a draft campaign's steps change, in the admin as in the API.

campaigns.services.campaign_update refuses to change a campaign that is not a draft, so what is
sent is what was reviewed when it was scheduled; these pages hold to the same rule.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline

from campaigns.models import Campaign, CampaignStep
from campaigns.services import campaign_steps_limit_check
from core.admin import EngineTableAdminMixin
from core.forms import AutocompleteSelectKept


def campaign_is_draft(campaign: Campaign) -> bool:
    """Tell whether a campaign may still be changed: only drafts may."""
    return campaign.status == Campaign.Status.DRAFT


def _template_box(admin_page, db_field, kwargs) -> None:
    """Give the step's template its autocomplete box, one that survives a sent value that is no id."""
    if db_field.name == "template":
        kwargs["widget"] = AutocompleteSelectKept(db_field, admin_page.admin_site, using=kwargs.get("using"))


EARLIER_STEP = _("Choose an earlier step of the same campaign.")
DELETED_STEP = _("This condition looks at a step being deleted: change it first.")


class _StepsReadOnce:
    """The steps a page offers for its conditions, read from the database once for all its forms."""

    def __init__(self) -> None:
        self.rows: list[CampaignStep] | None = None

    def __call__(self, queryset) -> list[CampaignStep]:
        if self.rows is None:
            self.rows = list(queryset)
        return self.rows


class _StepsReadOnceIterator(ModelChoiceIterator):
    field: "StepChoiceField"

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for step in self.field.steps_read_once(self.queryset):
            yield self.choice(step)

    def __len__(self):
        steps = self.field.steps_read_once(self.queryset)
        return len(steps) + (1 if self.field.empty_label is not None else 0)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.steps_read_once(self.queryset))


class StepChoiceField(forms.ModelChoiceField):
    """A condition's step, whose choices the copies of the field (one per form of a formset) share,
    read once: a plain ModelChoiceField reads them again for each form, N² rows for N steps. A choice
    sent is still looked up in the queryset, which must be set before the choices are first read."""

    iterator = _StepsReadOnceIterator

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form's copy of the field is a shallow one (its queryset aside): it shares this.
        self.steps_read_once = _StepsReadOnce()


class CampaignStepForm(forms.ModelForm):
    """A step's form: an empty delay is none (right after the step before), as in the API; the
    step a condition looks at is another of the same campaign (which comes before: judged by the
    inline's formset, or by the step page's own form, on the orders being saved)."""

    def clean_delay(self):
        return self.cleaned_data.get("delay") or timedelta(0)

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        looked_at = cleaned.get("condition_step")
        campaign_id = cleaned["campaign"].pk if cleaned.get("campaign") else self.instance.campaign_id
        if looked_at is not None and (
            looked_at.campaign_id != campaign_id or (self.instance.pk and looked_at.pk == self.instance.pk)
        ):
            self.add_error("condition_step", EARLIER_STEP)
        return cleaned


class CampaignStepPageForm(CampaignStepForm):
    """A step on its own page: its condition looks at an earlier step, and a step another looks at
    stays before it in the same campaign."""

    def clean(self):
        cleaned = super().clean()
        order, campaign = cleaned.get("order"), cleaned.get("campaign")
        if campaign is not None and campaign.pk != self.instance.campaign_id:  # A step it gains.
            try:
                campaign_steps_limit_check(count=campaign.steps.count() + 1)
            except forms.ValidationError as exc:
                self.add_error("campaign", exc)
        looked_at = cleaned.get("condition_step")
        if looked_at is not None and order is not None and looked_at.order >= order:
            self.add_error("condition_step", EARLIER_STEP)
        if self.instance.pk and order is not None and campaign is not None:
            for dependent in CampaignStep.objects.filter(condition_step=self.instance).order_by("order"):
                if dependent.campaign_id != campaign.pk or dependent.order <= order:
                    said = gettext(
                        "Step %(n)s looks at this step: it must stay before it in the same campaign."
                    )
                    self.add_error(None, said % {"n": dependent.order})
                    break
        return cleaned


class CampaignStepFormSet(forms.BaseInlineFormSet):
    """A campaign's steps saved together: no more than a campaign holds, and each condition looks
    at a step that comes before it in the orders being saved, never at itself."""

    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]
        campaign_steps_limit_check(count=len(kept))
        orders = {form.instance.pk: form.cleaned_data.get("order") for form in kept if form.instance.pk}
        deleted = {
            form.instance.pk
            for form in self.forms
            if form.instance.pk and getattr(form, "cleaned_data", {}).get("DELETE")
        }
        for form in kept:
            looked_at = form.cleaned_data.get("condition_step")
            if looked_at is not None and looked_at.pk in deleted:
                # Deleting it would leave the condition looking at any earlier step, unsaid.
                form.add_error("condition_step", DELETED_STEP)
            looked_at, order = form.cleaned_data.get("condition_step"), form.cleaned_data.get("order")
            if looked_at is None or order is None:
                continue
            looked_order = orders.get(looked_at.pk, looked_at.order)
            if looked_at.pk == form.instance.pk or looked_order is None or looked_order >= order:
                form.add_error("condition_step", EARLIER_STEP)


class CampaignStepInline(StackedInline):
    """The steps of a campaign, in order, each with a sentence saying what it does."""

    model = CampaignStep
    form = CampaignStepForm
    formset = CampaignStepFormSet
    #: The Content tab of the campaign's form (unfold shows a tab inline alone, as pane "steps").
    tab = True
    extra = 0
    min_num = 1
    #: The page offers no more forms than a campaign holds steps; a post with more is refused.
    max_num = Campaign.MAX_STEPS
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
        if db_field.name == "condition_step":
            kwargs["form_class"] = StepChoiceField
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request):
        # What each step's sentence and condition name, read with the steps.
        return super().get_queryset(request).select_related("campaign", "template", "condition_step")

    def get_formset(self, request, obj=None, **kwargs):
        """Offer as a condition's step only this campaign's own steps (none before it is saved),
        read once for the page; refuse a post of more steps than a campaign holds."""
        # Room to delete every step and add as many anew in one post; Django's own bound is 1,000
        # forms more than max_num, each one cleaned.
        kwargs.setdefault("absolute_max", 2 * Campaign.MAX_STEPS)
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("condition_step")
        if field is not None:
            steps = CampaignStep.objects.filter(campaign=obj) if obj else CampaignStep.objects.none()
            field.queryset = steps.select_related("campaign")  # Its label names the campaign.
        return formset

    @admin.display(description=_("In words"))
    def summary(self, obj):
        if not obj.pk:
            return gettext("Saved steps are described here.")
        # The page reads a read-only field several times over, and the sentence costs a query: once a step.
        if (words := getattr(obj, "_summary_words", None)) is None:
            words = obj.summary()
            setattr(obj, "_summary_words", words)  # noqa: B010 - an attribute the model does not declare.
        return words

    def has_add_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj)) and super().has_delete_permission(request, obj)


@admin.register(CampaignStep)
class CampaignStepAdmin(EngineTableAdminMixin, ModelAdmin):
    form = CampaignStepPageForm
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

    def get_deleted_objects(self, objs, request):
        """Refuse to delete a step another step's condition looks at: the condition would widen to
        any earlier step without a word. The dependents are listed as what protects it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        dependents = CampaignStep.objects.filter(condition_step__in=objs).exclude(
            pk__in=[obj.pk for obj in objs]
        )
        return deleted, counts, perms_needed, [*protected, *(str(step) for step in dependents)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        """Offer as a condition's step only the other steps of this step's campaign (a new step's:
        those of the drafts it may join, the form checks it is one of its own)."""
        form = super().get_form(request, obj, change, **kwargs)
        field = form.base_fields.get("condition_step")
        if isinstance(field, forms.ModelChoiceField):
            if obj is not None:
                field.queryset = CampaignStep.objects.filter(campaign=obj.campaign).exclude(pk=obj.pk)
            else:
                field.queryset = CampaignStep.objects.filter(campaign__status=Campaign.Status.DRAFT)
        return form

    def has_change_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj.campaign)) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return (obj is None or campaign_is_draft(obj.campaign)) and super().has_delete_permission(
            request, obj
        )
