"""The segment pages: a rule builder over the definition (campaigns/static/campaigns/segments.js),
with who the segment holds counted live beside it, and deletion refused while a campaign mails it."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminTextareaWidget

from campaigns.admin_access import ContactDataAdminMixin, sees_contacts, sees_memberships, user_sees_model
from campaigns.models import Campaign, Contact, ContactList, Segment, Suppression
from campaigns.segments import (
    ATTRIBUTE_PREFIX,
    UNFINISHED,
    segment_definition_check,
    segment_in_use,
    segment_references,
    segment_summary,
)
from campaigns.services import segment_references_lock, segment_save

#: Contacts whose attribute names the editor offers (the newest): enough to know a file's columns.
ATTRIBUTE_KEYS_FROM = 1000
#: The builder's frame around the definition's text box.
FRAME_TEMPLATE = "admin/campaigns/segment/definition_widget.html"
#: Campaigns an engagement rule offers by name (the newest that started).
CAMPAIGNS_OFFERED = 200


class DefinitionWidget(forms.Textarea):
    """The definition as JSON in a text box: the rule builder draws itself over it and writes it
    back; without scripts, the JSON is edited by hand."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"rows": 8, "class": "cp-json", "data-segment-definition": "", **(attrs or {})}
        )

    def format_value(self, value):
        # The form field hands over its JSON text ("null" for a new segment), or what was typed.
        if isinstance(value, str) and value.strip() not in ("", "null"):
            return value
        return json.dumps(value or {"match": "all", "rules": []}, ensure_ascii=False, indent=1)

    def render(self, name, value, attrs=None, renderer=None):
        """Render the text box as Django does, inside the builder's frame (a project template,
        which the forms renderer does not look for)."""
        box = super().render(name, value, attrs, renderer)
        context = {
            "box": box,
            "box_id": (attrs or {}).get("id", ""),
            "choices_json": segment_editor_choices(),
        }
        return render_to_string(FRAME_TEMPLATE, context)


class DefinitionField(forms.JSONField):
    """The definition's JSON: nested past what Python's parser takes, it is refused, not a 500."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(gettext("The JSON nests too deep.")) from None

    def bound_data(self, data, initial):
        # Shown again as typed when refused: Django parses it once more to redisplay it.
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return data


class SegmentForm(forms.ModelForm):
    definition = DefinitionField(label=_("Who is in it"), widget=DefinitionWidget)

    class Meta:
        model = Segment
        fields = ["name", "description", "definition"]
        widgets = {"description": UnfoldAdminTextareaWidget(attrs={"rows": 2})}

    def clean_definition(self):
        definition = self.cleaned_data["definition"]
        segment_definition_check(definition)
        # The admin's save is one transaction: what is held here stays held until the segment is
        # saved, and a list or campaign deleted before is named here, on the form.
        try:
            with transaction.atomic():
                segment_references_lock(definition)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["definition"]) from exc
        return definition


def segment_editor_choices() -> dict:
    """Return what the rule builder offers: lists, campaigns and attribute names, by id and name."""
    keys = (
        Contact.objects.order_by("-pk")[:ATTRIBUTE_KEYS_FROM].values_list("attributes", flat=True).iterator()
    )
    attribute_names = sorted(
        {key for attributes in keys if isinstance(attributes, dict) for key in attributes}
    )
    campaigns = Campaign.objects.filter(is_load_test=False).exclude(started_at__isnull=True)
    return {
        "lists": list(ContactList.objects.filter(is_load_test=False).order_by("name").values("id", "name")),
        "campaigns": list(campaigns.order_by("-started_at").values("id", "name")[:CAMPAIGNS_OFFERED]),
        "attributes": attribute_names[:200],
        "attribute_prefix": ATTRIBUTE_PREFIX,
        "statuses": [[value, str(label)] for value, label in Contact.Status.choices],
        "words": _editor_words(),
    }


def _editor_words() -> dict[str, str]:
    """Return the rule builder's words in the reader's language (the script holds none)."""
    return {
        "match_before": gettext("Contacts who match"),
        "match_after": gettext("of these conditions:"),
        "all": gettext("all"),
        "any": gettext("any"),
        "add_rule": gettext("Add a condition"),
        "add_group": gettext("Add a group"),
        "remove": gettext("Remove"),
        "attribute_name": gettext("attribute name"),
        # What a rule looks at.
        "email": gettext("Email"),
        "first_name": gettext("First name"),
        "last_name": gettext("Last name"),
        "external_id": gettext("External id"),
        "timezone": gettext("Time zone"),
        "status": gettext("Status"),
        "created_at": gettext("Added on"),
        "unsubscribed_at": gettext("Unsubscribed on"),
        "attribute": gettext("Attribute…"),
        "list": gettext("List"),
        "engagement": gettext("Campaign mail"),
        # Comparisons.
        "eq": gettext("is"),
        "neq": gettext("is not"),
        "contains": gettext("contains"),
        "not_contains": gettext("does not contain"),
        "starts_with": gettext("starts with"),
        "is_set": gettext("has a value"),
        "is_not_set": gettext("is empty"),
        "gt": gettext("is more than"),
        "gte": gettext("is at least"),
        "lt": gettext("is less than"),
        "lte": gettext("is at most"),
        "before": gettext("is before"),
        "after": gettext("is after"),
        "within_days": gettext("is within the last (days)"),
        "in": gettext("is on"),
        "not_in": gettext("is not on"),
        # Engagement.
        "opened": gettext("opened"),
        "clicked": gettext("clicked in"),
        "was_sent": gettext("was sent"),
        "bounced": gettext("bounced"),
        "never_opened": gettext("was sent and never opened"),
        "any_campaign": gettext("any campaign"),
        "campaigns": gettext("the campaign"),
        "campaign_ids": gettext("the campaigns numbered"),
        "last_campaigns": gettext("the last campaigns (how many)"),
        "days": gettext("mail of the last days (how many)"),
    }


def _without(entry, name: str):
    """Return a deleted-objects entry (text, or a nested list of them) without those naming `name`."""
    if isinstance(entry, list):
        return [
            _without(item, name)
            for item in entry
            if not (isinstance(item, str) and name.lower() in item.lower())
        ]
    return entry


@admin.register(Segment)
class SegmentAdmin(ContactDataAdminMixin, ModelAdmin):
    """Segments, for those who may see contacts: a rule on an address or an attribute, counted,
    says who is on file (a count is an answer, character by character)."""

    form = SegmentForm
    list_display = ["name", "description", "campaign_count", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    change_form_after_template = "admin/campaigns/segment/_summary.html"

    class Media:
        js = ["campaigns/segments.js"]

    def get_queryset(self, request):
        unfinished = Q(campaigns__status__in=UNFINISHED)
        return super().get_queryset(request).annotate(_campaigns=Count("campaigns", filter=unfinished))

    @admin.display(description=_("Campaigns not finished"), ordering="_campaigns")
    def campaign_count(self, obj):
        return obj._campaigns

    def save_model(self, request, obj, form, change):
        segment_save(segment=obj)  # Its lists and campaigns held as the form checked them (clean).

    def get_deleted_objects(self, objs, request):
        """Refuse, on the confirmation page, segments an unfinished campaign mails: its audience
        would change under it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The links to campaigns go with a segment by design; Django would list them by the
        # table's own English name ("Campaign-segment relationships"), which no marketer knows.
        through = Campaign.segments.through._meta
        counts.pop(through.verbose_name_plural, None)
        deleted = [_without(entry, str(through.verbose_name)) for entry in deleted]
        protected = list(protected) + [
            gettext("%(segment)s: mailed by %(campaigns)s; take it off them first")
            % {"segment": segment.name, "campaigns": ", ".join(users)}
            for segment in objs
            if (users := segment_in_use(segment=segment))
        ]
        return deleted, counts, perms_needed, protected

    def sees_campaign_mail(self, request) -> bool:
        """Tell whether the person asking may count contacts by the campaign mail they got (the send
        log and its events, which the apps that send and track hold): no one, until the admin that
        composes them says (console.admin)."""
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("count/", view(self.count_view), name="campaigns_segment_count"),
            *super().get_urls(),
        ]

    def count_view(self, request):
        """Answer the editor (htmx): how many contacts the definition being edited holds, how many
        a campaign would mail, and the first of them for those who may see contacts."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        context: dict = {"sees_contacts": sees_contacts(request)}
        try:
            definition = json.loads(request.POST.get("definition", ""))
            segment_definition_check(definition)
        except (ValueError, RecursionError, ValidationError) as exc:
            messages = (
                exc.messages if isinstance(exc, ValidationError) else [gettext("The JSON is not valid.")]
            )
            context["problems"] = messages
        else:
            if segment_references(definition)[0] and not sees_memberships(request):
                # A count by a list, narrowed to one address, says whether it is on the list.
                context["problems"] = [
                    gettext("Counting who is on a list takes the right to see list memberships.")
                ]
            elif _counts_campaign_mail(definition) and not self.sees_campaign_mail(request):
                # Narrowed to one address, it would say whether they were mailed, opened or bounced.
                context["problems"] = [
                    gettext("Counting by campaign mail takes the right to see the send log and its events.")
                ]
            else:
                context["summary"] = segment_summary(definition)
                # Who can be mailed tells, of one address, whether it is suppressed.
                context["sees_mailable"] = user_sees_model(request.user, Suppression)
        return TemplateResponse(request, "admin/campaigns/segment/_count.html", context)


def _counts_campaign_mail(node) -> bool:
    """Tell whether a (checked) definition holds an engagement rule, at any depth."""
    if not isinstance(node, dict):
        return False
    return "engagement" in node or any(_counts_campaign_mail(rule) for rule in node.get("rules") or [])
