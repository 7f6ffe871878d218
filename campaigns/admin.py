"""Admin for memberships and suppressions; state changes go through services. The contact pages are
in admin_contacts, the lists' in admin_lists, imports in admin_imports, the campaign's pages in
admin_campaigns, the shared filters in admin_filters."""

import io
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action

from campaigns import admin_imports  # noqa: F401 - registers the imports' pages.
from campaigns.admin_access import ContactDataAdminMixin
from campaigns.admin_campaigns import CampaignAdminBase  # noqa: F401 - registers the audit's page; console composes it.
from campaigns.admin_contacts import ContactAdminBase, ContactForm, ReasonForm, staff_actor  # noqa: F401 - console composes them.
from campaigns.admin_filters import MarketerRelatedFilter, MembershipLoadTestFilter
from campaigns.admin_lists import ContactListAdmin  # noqa: F401 - registers the lists' pages.
from campaigns.admin_segments import SegmentAdmin  # noqa: F401 - registers the segments' pages.
from campaigns.admin_signups import SignupFormAdminBase  # noqa: F401 - registers signups; console composes forms.
from campaigns.erasure import address_erasure_refuse
from campaigns.exceptions import AddressErased, ImportFileUnreadable, SuppressedSinceRemoval
from campaigns.import_files import IMPORT_MAX_BYTES, table_read
from campaigns.import_workbooks import upload_prepare
from campaigns.models import (
    ListMembership,
    Suppression,
    SuppressionRemoval,
)
from campaigns.suppressions import suppression_add, suppression_remove, suppressions_add_bulk
from core.addresses import email_canonical
from core.admin import EngineTableAdminMixin
from core.forms import AddressField
from core.text import grouped, words_shown


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

    def validate_unique(self):
        # A kept unsubscribe stops campaigns only: a bounce or complaint added for its address
        # replaces it, and an unsubscribe added for a bounced one marks it opted out too
        # (suppression_add), as through the API and in bulk, rather than being refused.
        if self.instance.pk is None and self._joins_a_stored_one():
            return
        super().validate_unique()

    def _joins_a_stored_one(self) -> bool:
        reason, email = self.cleaned_data.get("reason"), self.cleaned_data.get("email")
        if not email:
            return False
        if reason == Suppression.Reason.UNSUBSCRIBE:
            return Suppression.objects.filter(email=email).exists()
        return Suppression.objects.filter(email=email, reason=Suppression.Reason.UNSUBSCRIBE).exists()

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email != self.instance.email:
            try:  # Under the erasures' lock, held till the admin's transaction saves the form.
                address_erasure_refuse(email=email)
            except AddressErased as exc:
                raise forms.ValidationError(str(exc)) from exc
        return email


#: What a bulk suppression may say of its addresses: what SES's own events set is theirs alone.
BULK_REASONS = [
    (value, label)
    for value, label in Suppression.Reason.choices
    if value not in (Suppression.Reason.SOFT_BOUNCE, Suppression.Reason.ACCOUNT_SUPPRESSION)
]
#: Addresses one bulk suppression takes.
BULK_SUPPRESS_MAX = 100_000


class BulkSuppressionForm(forms.Form):
    """Addresses to suppress, pasted or in a file (one per line, or a column named email), with why."""

    addresses = forms.CharField(
        label=_("Addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text=_("One per line, or separated by commas."),
    )
    file = forms.FileField(
        label=_("Or a CSV file"),
        required=False,
        help_text=_("Its column named “email”, or its first column."),
    )
    reason = forms.ChoiceField(label=_("Reason"), choices=BULK_REASONS, initial=Suppression.Reason.MANUAL)
    detail = forms.CharField(label=_("Note"), required=False, max_length=500)

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        words = [word for word in re.split(r"[\s,;]+", cleaned.get("addresses", "")) if word]
        if cleaned.get("file"):
            try:
                words += bulk_file_addresses(cleaned["file"])
            except ImportFileUnreadable as exc:
                self.add_error("file", str(exc))
        if not words and not self.errors:
            raise forms.ValidationError(gettext("Paste addresses or choose a file."))
        if len(words) > BULK_SUPPRESS_MAX:
            raise forms.ValidationError(
                gettext("More than %(n)s addresses: split them.") % {"n": grouped(BULK_SUPPRESS_MAX)}
            )
        cleaned["words"] = words
        return cleaned


class SuppressionRemovalForm(ReasonForm):
    missing = _("Say why these addresses may be mailed again.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = _(
            "Kept with who removed them and when, under Suppressions removed."
        )


@admin.register(Suppression)
class SuppressionAdmin(ContactDataAdminMixin, ModelAdmin):
    form = SuppressionForm
    list_display = ["email", "reason", "opted_out", "source", "created_at"]
    list_filter = ["reason", "opted_out", "source"]
    search_fields = ["email"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions_list = ["add_in_bulk", "removals"]
    actions = ["remove_suppressions"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        row, _created = suppression_add(
            email=obj.email,
            reason=obj.reason,
            source=obj.source or Suppression.Source.ADMIN,
            detail=obj.detail,
        )
        if row is not None:
            obj.pk, obj.created_at = row.pk, row.created_at  # The row written, new or replaced.
        return None

    def get_readonly_fields(self, request, obj=None):
        # A stored one keeps its address and reason: changing either would lift it for that address
        # (or, to `unsubscribe`, for transactional mail) unrecorded; removing it asks why instead.
        # Whether its owner opted out too is shown, set only by what they did (suppression_add).
        return ["created_at"] if obj is None else ["email", "reason", "opted_out", "source", "created_at"]

    def has_removals_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.view_suppressionremoval")

    @action(description=_("Removed"), url_path="removed", icon="history", permissions=["removals"])
    def removals(self, request):
        """Lead to the record of suppressions taken off the list, who did it and why."""
        return redirect(reverse("admin:campaigns_suppressionremoval_changelist"))

    def has_bulk_permission(self, request) -> bool:
        return self.has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Removing one mails the address again: it takes a reason, kept on record (the action).
        return False

    def has_remove_permission(self, request) -> bool:
        return super().has_delete_permission(request)

    @admin.action(description=_("Remove from the suppression list…"), permissions=["remove"])
    def remove_suppressions(self, request, queryset):
        form = SuppressionRemovalForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            count = queryset.count()
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Remove from the suppression list"),
                "opts": self.model._meta,
                "form": form,
                "selected": queryset.values_list("pk", flat=True),
                "count": count,
                # The first addresses by name, as a person checks what they chose; the count says the rest.
                "addresses": ", ".join(queryset.order_by("email").values_list("email", flat=True)[:20])
                + (" …" if count > 20 else ""),
                "select_across": request.POST.get("select_across", "0"),
                # Those lifted only to their owner's opt-out, which stays (suppression_remove).
                "opted_out": queryset.filter(opted_out=True)
                .exclude(reason=Suppression.Reason.UNSUBSCRIBE)
                .count(),
            }
            return TemplateResponse(request, "admin/campaigns/suppression/remove.html", context)
        actor, reason = staff_actor(request), form.cleaned_data["reason"]
        done, refused = [], []
        for row in queryset:
            try:
                done.append(suppression_remove(suppression=row, actor=actor, reason=reason))
            except SuppressedSinceRemoval as exc:
                # Posted again after a bounce or complaint came since: that one is said, the rest go on.
                refused.append(f"{row.email}: {exc}")
        # A removal posted twice (a double click, back and resubmit) is told what the first was.
        kept = sum(1 for one in done if one.kept is not None)
        removed = sum(1 for one in done if one) - kept
        said = ngettext(
            "%(n)s address removed from the list.", "%(n)s addresses removed from the list.", removed
        )
        if removed or not (kept or refused):  # "0 removed" above what did happen reads as a failure.
            self.message_user(request, said % {"n": grouped(removed)}, messages.SUCCESS)
        for refusal in refused:
            self.message_user(request, refusal, messages.ERROR)
        if kept:
            said = ngettext(
                "%(n)s address had opted out too: its bounce or complaint is lifted, but it stays on the "
                "list as unsubscribed, so campaigns still skip it (transactional mail may go). To mail "
                "it campaigns again, remove that too with a reason of its own: the same reason again "
                "changes nothing.",
                "%(n)s addresses had opted out too: their bounces or complaints are lifted, but they stay "
                "on the list as unsubscribed, so campaigns still skip them (transactional mail may go). "
                "To mail them campaigns again, remove those too with a reason of their own: the same "
                "reason again changes nothing.",
                kept,
            )
            self.message_user(request, said % {"n": grouped(kept)}, messages.WARNING)
        return None

    @action(description=_("Add many"), url_path="bulk", icon="playlist_add", permissions=["bulk"])
    def add_in_bulk(self, request):
        """Suppress many addresses at once: pasted, or a file's column, with one reason and note."""
        form = BulkSuppressionForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            addresses, refused = [], []
            for word in form.cleaned_data["words"]:
                try:
                    addresses.append(email_canonical(word))
                except ValidationError:
                    refused.append(word[:100])
            added, already, erased = suppressions_add_bulk(
                emails=addresses,
                reason=form.cleaned_data["reason"],
                source=Suppression.Source.IMPORT,
                detail=form.cleaned_data["detail"],
            )
            done = [
                ngettext("%(n)s address suppressed.", "%(n)s addresses suppressed.", added)
                % {"n": grouped(added)}
            ]
            if already:
                done.append(
                    ngettext("%(n)s was already.", "%(n)s were already.", already) % {"n": grouped(already)}
                )
            if erased:
                done.append(
                    ngettext(
                        "%(n)s was erased: its erasure keeps the suppression, not the address.",
                        "%(n)s were erased: their erasures keep the suppression, not the address.",
                        erased,
                    )
                    % {"n": grouped(erased)}
                )
            self.message_user(request, " ".join(done), messages.SUCCESS)
            if refused:
                said = gettext("Not addresses, left out: %(words)s")
                self.message_user(request, said % {"words": words_shown(refused)}, messages.WARNING)
            return redirect(reverse("admin:campaigns_suppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Suppress many addresses"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/campaigns/suppression/bulk.html", context)


@admin.register(SuppressionRemoval)
class SuppressionRemovalAdmin(ContactDataAdminMixin, ModelAdmin):
    """The record of suppressions taken off the list: read, never written here."""

    list_display = ["email", "suppression_reason", "removed_at", "actor", "reason"]
    list_filter = ["suppression_reason", "by"]
    search_fields = ["email"]
    date_hierarchy = "removed_at"
    show_full_result_count = False

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def bulk_file_addresses(upload) -> list[str]:
    """Return the addresses of an uploaded CSV or XLSX file: its column named email, else its first."""
    data = upload.read(IMPORT_MAX_BYTES + 1)
    table_format, data = upload_prepare(data=data, file_name=upload.name)
    header, rows = table_read(stream=io.BytesIO(data), table_format=table_format)
    names = [name.lower() for name in header]
    column = names.index("email") if "email" in names else 0
    # The header itself is an address when the file has no header.
    first = [header[column]] if "@" in header[column] else []
    return first + [cells[column] for _number, cells in rows if column < len(cells) and cells[column].strip()]
