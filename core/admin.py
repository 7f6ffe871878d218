"""Admin of what core owns: API keys; and the rule for the engine's own tables' pages."""

from django import forms
from django.contrib import admin, messages
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey
from unfold.admin import ModelAdmin, TabularInline

from core.models import ApiKey, api_key_default_scopes


class RecordInline(TabularInline):
    """A record another page shows as it was written (a history, a contact's breaks): its rows
    are read, never added, changed or deleted there; set `fields`, and they are read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class EngineTableAdminMixin:
    """A table the engine keeps and people edit through another page (a campaign's steps, a list's
    members): its own pages are a superuser's only, so the admin shows a marketer no engine
    internals, while the other page's inline still uses the model's permissions."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


# The library registers its own concrete key model; Campanile's keys are core.ApiKey.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class ApiKeyForm(forms.ModelForm):
    """The key's form: its scopes as ticks, each with what it allows; a new key starts with send, read."""

    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, format_lazy("{} — {}", scope.value, scope.label)) for scope in ApiKey.Scope],
        widget=forms.CheckboxSelectMultiple,
        initial=api_key_default_scopes,
        required=False,
        help_text=_(
            "Tick only what the integration uses: a key without a scope gets 403 for what it "
            "covers. A key without any can do nothing."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expiry_date", "rate_limit", "is_load_test", "revoked"]
        # The library's own help texts, in the project's catalog: it ships no German.
        help_texts = {
            "name": _("A name for the key, to know it by; need not be unique. At most 50 characters."),
            "expiry_date": _("After this time the key no longer works."),
            "revoked": _("A revoked key no longer works. This cannot be undone."),
        }


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin, ModelAdmin):
    """Keys are shown once, on creation, and stored only as a hash."""

    form = ApiKeyForm
    # The library leaves these unannotated, so mypy takes its tuples' exact lengths for their types.
    # A key's state in words: the library's yes/no columns are red crosses that alarm for "no".
    list_display = [  # type: ignore[assignment]
        "prefix",
        "name",
        "created",
        "expiry_date",
        "state",
        "scopes_shown",
        "rate_limit",
        "load_test",
    ]
    list_filter = [*APIKeyModelAdmin.list_filter, "is_load_test"]  # type: ignore[assignment]

    @admin.display(description=_("State"))
    def state(self, obj):
        if obj.revoked:
            return _("Revoked")
        return _("Expired") if obj.has_expired else _("Active")

    @admin.display(description=_("Load test"), ordering="is_load_test")
    def load_test(self, obj):
        return _("yes") if obj.is_load_test else "—"

    @admin.display(description=_("Scopes"))
    def scopes_shown(self, obj):
        return ", ".join(sorted(obj.scopes)) or "—"

    def save_model(self, request, obj, form=None, change=False) -> None:
        """Save a key; a new one is shown once, in the reader's language (the library's message
        is built before it is translated, so no catalog can hold it)."""
        if change:
            obj.save()
            return
        key = ApiKey.objects.assign_key(obj)
        obj.save()
        said = gettext(
            "The API key for “%(name)s” is: %(key)s. Store it somewhere safe: it is never shown again."
        )
        messages.warning(request, said % {"name": obj.name, "key": key})

    def changelist_view(self, request, extra_context=None):
        # Keys made before scopes existed were given every scope so that nothing broke: say so.
        every = sorted(ApiKey.Scope.values)
        broad = [key.name for key in ApiKey.objects.filter(revoked=False) if sorted(key.scopes) == every]
        # Only to those the page opens for: a message queued for a refused request would show on
        # their next page, naming keys they may not see.
        if broad and request.method == "GET" and self.has_view_or_change_permission(request):
            messages.info(
                request,
                ngettext(
                    "%(count)s active key holds every scope (%(names)s): "
                    "untick what its integration does not use.",
                    "%(count)s active keys hold every scope (%(names)s): "
                    "untick what their integrations do not use.",
                    len(broad),
                )
                % {"count": len(broad), "names": ", ".join(broad[:5]) + (", …" if len(broad) > 5 else "")},
            )
        return super().changelist_view(request, extra_context)
