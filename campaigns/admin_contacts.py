"""The contact pages: the form (consent changes audited), the list with its actions (add to a list,
remove from one, unsubscribe, export) and the way to the import; console.admin registers them."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.constants import LOOKUP_SEP
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action

from campaigns.admin_access import (
    entries_naming_no_list,
    relation_named,
    sees_contacts,
    sees_memberships,
    user_may_change_memberships,
    user_may_import,
    user_sees_relation,
)
from campaigns.admin_filters import LoadTestFilter, MarketerRelatedFilter
from campaigns.admin_history import history_page_seen
from campaigns.consent import (
    ConsentActor,
    contact_address_leave,
    contact_save_keeping_consent,
    contact_status_change,
    contacts_delete,
    contacts_unsubscribe,
    reason_given,
)
from campaigns.erasure import address_erasure, address_erasure_refuse, erased_refusal
from campaigns.exceptions import AddressErased
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.memberships import contacts_kept_off, kept_off_message, list_add_contacts, list_remove_contacts
from campaigns.models import (
    ConsentChange,
    Contact,
    ContactBreak,
    ContactList,
    ListMembership,
    Suppression,
)
from campaigns.selectors import contact_export_rows
from campaigns.validators import validate_attributes
from core.admin import RecordInline
from core.exports import csv_response
from core.forms import AddressField, JSONShownField
from core.text import grouped

#: The rows a membership formset may be sent beyond the lists there are (one deleted meanwhile).
MEMBERSHIP_FORMS_MARGIN = 20


class MembershipInline(TabularInline):
    model = ListMembership
    extra = 0
    raw_id_fields = ["contact"]
    readonly_fields = ["created_at"]

    def get_formset(self, request, obj=None, **kwargs):
        """Offer a row per list at most, and refuse a page sending many more (a forged form count)
        before building them: Django builds up to 2,000 forms, taking seconds, before it refuses."""
        lists = ContactList.objects.count()
        kwargs.setdefault("max_num", lists)
        kwargs.setdefault("absolute_max", lists + MEMBERSHIP_FORMS_MARGIN)
        return super().get_formset(request, obj, **kwargs)


class ConsentChangeInline(RecordInline):
    """A contact's consent history, newest first; written by campaigns.consent, never edited."""

    model = ConsentChange
    verbose_name_plural = _("Consent history")
    fields = ["at", "from_status", "to_status", "by", "actor", "via", "reason"]


class BreakInline(RecordInline):
    """The breaks from email a contact took in their preferences, latest first."""

    model = ContactBreak
    verbose_name_plural = _("Breaks from email")
    fields = ["started_at", "ends_at"]
    ordering = ["-started_at"]


class ContactForm(forms.ModelForm):
    """The contact form: a change of status needs a reason, and a re-subscribe an explicit tick."""

    consent_reason = forms.CharField(
        label=_("Reason for a status change"),
        required=False,
        max_length=500,
        help_text=_("Required when you change the status; kept in the contact's consent history."),
    )
    resubscribe = forms.BooleanField(
        label=_("Subscribe again"),
        required=False,
        help_text=_(
            "Tick to subscribe a contact who unsubscribed, or has yet to confirm a signup: only with "
            "their consent."
        ),
    )

    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "external_id", "attributes", "timezone", "status"]
        field_classes = {"attributes": JSONShownField, "email": AddressField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            # Only a signup form makes a contact pending, a transactional email transactional-only:
            # staff choose between the two given statuses, and the one the contact holds.
            offered = {*Contact.STATUSES_GIVEN, self.instance.status}
            status = cast(forms.ChoiceField, self.fields["status"])
            status.choices = [(value, label) for value, label in Contact.Status.choices if value in offered]

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email != self.instance.email:
            # The admin saves a form in the transaction it checks it in: the lock holds till then.
            try:
                address_erasure_refuse(email=email)
            except AddressErased as exc:
                raise forms.ValidationError(str(exc)) from exc
        return email

    def clean_attributes(self):
        """Read an empty box as no attributes; anything else is checked as the API checks it."""
        attributes = self.cleaned_data.get("attributes")
        if attributes in (None, ""):
            return {}
        validate_attributes(attributes)
        return attributes

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None or "status" not in self.changed_data:
            return cleaned
        if not reason_given(cleaned.get("consent_reason", "")):
            self.add_error("consent_reason", gettext("Say why the status changes."))
        was = self.initial.get("status")
        subscribing = (
            was in Contact.SUBSCRIBING_NEEDS_REASON and cleaned.get("status") == Contact.Status.SUBSCRIBED
        )
        erased = cleaned.get("status") == Contact.Status.SUBSCRIBED and address_erasure(
            email=self.instance.email
        )
        if erased:
            self.add_error("status", erased_refusal())
        elif subscribing and not cleaned["resubscribe"]:
            if was == Contact.Status.PENDING:
                said = gettext(
                    "This contact has yet to confirm a signup: tick this to subscribe them anyway."
                )
            else:
                said = gettext("This contact unsubscribed: tick this to subscribe them again.")
            self.add_error("resubscribe", said)
        return cleaned


def staff_actor(request) -> ConsentActor:
    """Return the actor of a consent change a staff member makes in the admin."""
    return ConsentActor(
        by=ConsentChange.By.STAFF,
        name=request.user.get_username(),
        via=ConsentChange.Via.ADMIN,
        user=request.user,
    )


class ListChoiceForm(forms.Form):
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.filter(is_load_test=False), label=_("List"), empty_label=None
    )


class ReasonForm(forms.Form):
    """Why a consent change is made, asked on an action's page: a reason that draws something."""

    #: Said when the reason is missing or blank-looking; a subclass says it of its own change.
    missing = _("Say why they are unsubscribed.")

    reason = forms.CharField(
        label=_("Why"),
        max_length=500,
        help_text=_("Kept in each contact's consent history."),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if not reason_given(reason):
            raise forms.ValidationError(str(self.missing))
        return reason


class ContactAdminBase(ModelAdmin):
    """The contact pages of the audience; console.admin registers them with what other apps add."""

    form = ContactForm

    list_display = ["email", "first_name", "last_name", "external_id", "status", "timezone", "created_at"]
    list_filter = ["status", ("lists", MarketerRelatedFilter), LoadTestFilter]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    search_help_text = _("Part of an address, a name or an external id.")
    readonly_fields = [
        "created_at",
        "updated_at",
        "unsubscribed_at",
        "paused_until",
        "former_addresses",
        "lists_left",
    ]
    date_hierarchy = "created_at"
    # Counting a million rows on every page load is what makes admins slow; skip the full count.
    show_full_result_count = False
    list_per_page = 50
    inlines = [MembershipInline, ConsentChangeInline, BreakInline]
    actions = ["add_to_list", "remove_from_list", "unsubscribe", "export_csv"]
    actions_list = ["import_contacts"]

    def has_import_permission(self, request) -> bool:
        return user_may_import(request.user)

    def _sees_through(self, request, lookup: str) -> bool:
        """Tell whether the person asking may see the rows a lookup's first step leads to (a lookup
        on the contact's own fields leads to none)."""
        field = relation_named(self.model, lookup.split(LOOKUP_SEP, 1)[0])
        return field is None or (request is not None and user_sees_relation(request.user, field))

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return [
            item
            for item in filters
            if isinstance(item, type)
            or self._sees_through(request, item[0] if isinstance(item, tuple) else item)
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if sees_memberships(request) else [name for name in fields if name != "lists_left"]

    def lookup_allowed(self, lookup, value, request=None):
        """Refuse a filter typed in the address through a relation to rows one may not see (the
        contact's lists, signups, consent history), as Django refuses a lookup no filter offers (a
        400), rather than applying it."""
        if not self._sees_through(request, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def history_view(self, request, object_id, extra_context=None):
        """Show the contact's history without what it says of rows one may not see (the lists of
        memberships added in its page, say)."""
        response = super().history_view(request, object_id, extra_context)
        return history_page_seen(response, request.user, self.model)

    @admin.display(description=_("former addresses"))
    def former_addresses(self, obj: Contact) -> str:
        """The addresses it held before, oldest first: still its own (its export and erasure)."""
        return ", ".join(obj.former_emails) or "—"

    @admin.display(description=_("lists they left themselves"))
    def lists_left(self, obj: Contact) -> str:
        """The lists the contact left in their email preferences, and when: only they rejoin them."""
        if obj.pk is None:
            return "—"  # The add form: a new contact has left nothing.
        departures = obj.list_departures.select_related("contact_list").order_by("-left_at")
        return (
            ", ".join(
                f"{departure.contact_list} ({formats.date_format(timezone.localtime(departure.left_at))})"
                for departure in departures
            )
            or "—"
        )

    @action(
        description=_("Import contacts"), url_path="import-file", icon="upload_file", permissions=["import"]
    )
    def import_contacts(self, request):
        return redirect(reverse("admin:campaigns_contactimport_add"))

    def _action_page(self, request, queryset, action_name: str, form: forms.Form, title, note=""):
        """Ask what an action needs (a list, a reason) on a page of its own, the selection kept."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "action_name": action_name,
            "selected": queryset.values_list("pk", flat=True),
            "count": queryset.count(),
            "select_across": request.POST.get("select_across", "0"),
            "note": note,
        }
        return TemplateResponse(request, "admin/campaigns/contact/action_form.html", context)

    def _list_action(self, request, queryset, action_name: str, title):
        form = ListChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            return form.cleaned_data["contact_list"]
        return self._action_page(request, queryset, action_name, form, title)

    def has_memberships_add_permission(self, request) -> bool:
        return user_may_change_memberships(request.user, "add")

    def has_memberships_delete_permission(self, request) -> bool:
        return user_may_change_memberships(request.user, "delete")

    @admin.action(description=_("Add to a list…"), permissions=["memberships_add"])
    def add_to_list(self, request, queryset):
        chosen = self._list_action(request, queryset, "add_to_list", gettext("Add contacts to a list"))
        if not isinstance(chosen, ContactList):
            return chosen
        contact_ids = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            contacts_load_test_clear(contact_ids=contact_ids)
            added = list_add_contacts(list_ids=[chosen.pk], contact_ids=contact_ids)
        _emails, kept_off = contacts_kept_off(contact_list=chosen, contact_ids=contact_ids)
        self.message_user(
            request,
            ngettext("%(n)s contact added to %(list)s.", "%(n)s contacts added to %(list)s.", added)
            % {"n": grouped(added), "list": chosen.name},
        )
        if kept_off:
            self.message_user(request, kept_off_message(len(kept_off)), messages.WARNING)
        return None

    @admin.action(description=_("Remove from a list…"), permissions=["memberships_delete"])
    def remove_from_list(self, request, queryset):
        chosen = self._list_action(
            request, queryset, "remove_from_list", gettext("Remove contacts from a list")
        )
        if not isinstance(chosen, ContactList):
            return chosen
        removed = list_remove_contacts(
            contact_list=chosen, contact_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request,
            ngettext("%(n)s contact removed from %(list)s.", "%(n)s contacts removed from %(list)s.", removed)
            % {"n": grouped(removed), "list": chosen.name},
        )
        return None

    @admin.action(description=_("Unsubscribe…"), permissions=["change"])
    def unsubscribe(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            note = gettext("They get no more campaigns; transactional mail still reaches them.")
            return self._action_page(
                request, queryset, "unsubscribe", form, gettext("Unsubscribe contacts"), note
            )
        changed = contacts_unsubscribe(
            contacts=queryset, actor=staff_actor(request), reason=form.cleaned_data["reason"]
        )
        self.message_user(
            request,
            ngettext("%(n)s contact unsubscribed.", "%(n)s contacts unsubscribed.", changed)
            % {"n": grouped(changed)},
        )
        return None

    @admin.action(description=_("Export as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        if not sees_contacts(request):
            raise PermissionDenied
        rows = contact_export_rows(contacts=queryset, with_lists=sees_memberships(request))
        return csv_response(rows, "contacts.csv")

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if change and "status" in form.changed_data:
            # The status goes through the consent service, which audits it; the rest saves as usual.
            status, obj.status = obj.status, form.initial["status"]
            contact_status_change(
                contact=obj,
                status=status,
                actor=staff_actor(request),
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
            contacts_load_test_clear(contact_ids=[obj.pk])  # Staff keep what they saved.
        else:
            super().save_model(request, obj, form, change)

    def get_deleted_objects(self, objs, request):
        """List what goes with the contacts, asking only for the right to delete contacts: their
        memberships, consent history and sent emails go with them by design (contacts_delete), not
        by the permissions of those tables, which no role holds."""
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        if not sees_memberships(request):
            deleted = entries_naming_no_list(deleted)  # Their number stays in the summary.
        return deleted, counts, set(), protected

    def has_delete_permission(self, request, obj=None):
        """Delete only what one may see: the confirmation lists a contact's lists, consent and mail."""
        return super().has_delete_permission(request, obj) and sees_contacts(request)

    def has_add_permission(self, request):
        """Add only as one who may see contacts: the form says whether an address is on file."""
        return super().has_add_permission(request) and sees_contacts(request)

    def delete_model(self, request, obj):
        contacts_delete(contacts=Contact.objects.filter(pk=obj.pk), source=Suppression.Source.ADMIN)

    def delete_queryset(self, request, queryset):
        contacts_delete(contacts=queryset, source=Suppression.Source.ADMIN)
