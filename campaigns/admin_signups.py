"""The signup form pages (their public side, the page and the snippet, is tracking's), and the
signups each form took: the consent's evidence, read only."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from campaigns.admin_access import ContactDataAdminMixin
from campaigns.models import ContactList, Signup, SignupForm, Template
from core.text import grouped

#: The confirmation email a migration makes to start from (campaigns/migrations/0024).
CONFIRMATION_TEMPLATE = "signup-confirmation"


#: The signups that made someone join: confirmed, or taken as they came (single opt-in).
JOINED = (Signup.Status.CONFIRMED, Signup.Status.ACCEPTED)


class SignupFormAdminForm(forms.ModelForm):
    """The form's settings; lists kept from contacts cannot be offered for visitors to choose."""

    def clean(self):
        cleaned = super().clean() or self.cleaned_data
        hidden = [item.name for item in cleaned.get("lists") or [] if not item.shown_to_contacts]
        if cleaned.get("visitor_chooses_lists") and hidden:
            said = gettext("Kept from contacts, so not offered to visitors: %(names)s.")
            self.add_error("lists", said % {"names": ", ".join(hidden)})
        return cleaned


class SignupFormAdminBase(ModelAdmin):
    """A signup form: what it asks, which lists it fills, how it confirms, where it sends people."""

    form = SignupFormAdminForm

    list_display = ["name", "slug", "opt_in", "is_active", "signups_shown"]
    list_filter = ["opt_in", "is_active"]
    search_fields = ["name", "slug", "title"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active", "language"]}),
        (
            _("What visitors see"),
            {"fields": ["title", "intro", "ask_first_name", "ask_last_name", "consent_text", "button_text"]},
        ),
        (_("Lists"), {"fields": ["lists", "visitor_chooses_lists"]}),
        (_("Confirmation"), {"fields": ["opt_in", "from_email", "confirmation_template", "captcha"]}),
        (
            _("After signing up"),
            {"fields": ["thank_you_text", "thank_you_url", "confirmed_text", "confirmed_url"]},
        ),
    ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "lists":
            # Ticks, as on a campaign's audience: a marketer has a handful of lists, not thousands.
            kwargs["widget"] = UnfoldAdminCheckboxSelectMultipleWidget
            kwargs["queryset"] = ContactList.objects.filter(is_load_test=False)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        """Start a new form with the confirmation email the migrations made, if it is still there."""
        initial = super().get_changeform_initial_data(request)
        starter = Template.objects.filter(name=CONFIRMATION_TEMPLATE).first()
        if starter is not None:
            initial.setdefault("confirmation_template", starter.pk)
        return initial

    def get_queryset(self, request):
        signups = "signups__status"
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending=Count("signups", filter=Q(**{signups: Signup.Status.PENDING})),
                joined=Count("signups", filter=Q(**{f"{signups}__in": JOINED})),
            )
        )

    @admin.display(description=_("signups"))
    def signups_shown(self, form: SignupForm) -> str:
        """Count its signups, linking to them (their page is for staff who may see contacts)."""
        words = gettext("%(joined)s joined, %(pending)s awaiting confirmation") % {
            "joined": grouped(form.joined),  # type: ignore[attr-defined]
            "pending": grouped(form.pending),  # type: ignore[attr-defined]
        }
        url = reverse("admin:campaigns_signup_changelist") + f"?form__id__exact={form.pk}"
        return format_html('<a href="{}">{}</a>', url, words)


@admin.register(Signup)
class SignupAdmin(ContactDataAdminMixin, ModelAdmin):
    """Who signed up through which form, when, from where, and when they confirmed; never edited."""

    list_display = ["email", "form_name", "status", "created_at", "confirmed_at", "ip"]
    list_filter = ["status", "form"]
    search_fields = ["email"]
    date_hierarchy = "created_at"
    fields = [
        "email",
        "first_name",
        "last_name",
        "form_name",
        "lists",
        "consent_text",
        "language",
        "ip",
        "status",
        "created_at",
        "confirmed_at",
        "contact_link",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("contact"))
    def contact_link(self, signup: Signup) -> str:
        if signup.contact_id is None:
            return "—"
        url = reverse("admin:campaigns_contact_change", args=[signup.contact_id])
        return format_html('<a href="{}">{}</a>', url, signup.email)
