"""Admin for the audience and templates; state changes go through services. The campaign's pages
are in admin_campaigns, the shared filters in admin_filters."""

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from campaigns.admin_access import ContactDataAdminMixin, sees_contacts
from campaigns.admin_campaigns import CampaignAdminBase  # noqa: F401 - registers the audit's page; console composes it.
from campaigns.admin_filters import LoadTestFilter, MarketerRelatedFilter, MembershipLoadTestFilter
from campaigns.consent import (
    ConsentActor,
    contact_address_leave,
    contact_save_keeping_consent,
    contact_status_change,
    contacts_delete,
    reason_given,
)
from campaigns.models import (
    ConsentChange,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
)
from campaigns.validators import validate_attributes
from core.admin import EngineTableAdminMixin
from core.forms import AddressField, JSONShownField


class MembershipInline(TabularInline):
    model = ListMembership
    extra = 0
    raw_id_fields = ["contact"]
    readonly_fields = ["created_at"]


class ConsentChangeInline(TabularInline):
    """A contact's consent history, newest first; written by campaigns.consent, never edited."""

    model = ConsentChange
    verbose_name_plural = _("Consent history")
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
        label=_("Reason for a status change"),
        required=False,
        max_length=500,
        help_text=_("Required when you change the status; kept in the contact's consent history."),
    )
    resubscribe = forms.BooleanField(
        label=_("Subscribe again"),
        required=False,
        help_text=_("Tick to subscribe a contact who unsubscribed again: only with their consent."),
    )

    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "external_id", "attributes", "timezone", "status"]
        field_classes = {"attributes": JSONShownField, "email": AddressField}

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
        was_unsubscribed = self.initial.get("status") == Contact.Status.UNSUBSCRIBED
        if (
            was_unsubscribed
            and cleaned.get("status") == Contact.Status.SUBSCRIBED
            and not cleaned["resubscribe"]
        ):
            self.add_error(
                "resubscribe", gettext("This contact unsubscribed: tick this to subscribe them again.")
            )
        return cleaned


class ContactAdminBase(ModelAdmin):
    """The contact pages of the audience; console.admin registers them with what other apps add."""

    form = ContactForm

    list_display = ["email", "first_name", "last_name", "external_id", "status", "timezone", "created_at"]
    list_filter = ["status", ("lists", MarketerRelatedFilter), LoadTestFilter]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    search_help_text = _("Part of an address, a name or an external id.")
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

    def get_deleted_objects(self, objs, request):
        """List what goes with the contacts, asking only for the right to delete contacts: their
        memberships, consent history and sent emails go with them by design (contacts_delete), not
        by the permissions of those tables, which no role holds."""
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
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


@admin.register(ContactList)
class ContactListAdmin(ModelAdmin):
    list_display = ["name", "member_count", "created_at"]

    def get_deleted_objects(self, objs, request):
        """Ask only for the right to delete lists (and to see contacts, whom their memberships
        name): the memberships go with them by design."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set() if sees_contacts(request) else perms_needed, protected

    list_filter = [LoadTestFilter]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description=_("Members"), ordering="_member_count")
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


class SuppressionForm(forms.ModelForm):
    """A suppression's form: its address checked by the address rule, which names what it refuses."""

    class Meta:
        model = Suppression
        fields = ["email", "reason", "source", "detail"]
        field_classes = {"email": AddressField}


@admin.register(Suppression)
class SuppressionAdmin(ContactDataAdminMixin, ModelAdmin):
    form = SuppressionForm
    list_display = ["email", "reason", "source", "created_at"]
    list_filter = ["reason", "source"]
    search_fields = ["email"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False
