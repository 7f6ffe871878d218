"""A contact's personal data in the admin: everything held as one JSON download, and erasure."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.admin_contacts import staff_actor
from campaigns.models import Contact
from console.erasure import contact_erase
from console.personal_data import contact_personal_data
from core.exceptions import ObjectNotFound
from core.text import grouped

#: Contacts one erasure action takes at most: each is its own transaction of several statements.
ERASE_MAX = 1000


class ErasureForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Erase them: this cannot be undone"),
        help_text=_(
            "Their profiles, lists, consents and signups are deleted. The emails they were sent stay "
            "in every count, without their address; events lose the address, IP and browser. Only a "
            "hash of each address is kept, so no import adds it again; they may sign up again "
            "through a form."
        ),
    )


class ContactPersonalDataMixin:
    """The contact page's "Everything held" download and "Erase" link, and the erase action."""

    personal_data_readonly_fields = ["personal_data"]
    personal_data_actions = ["erase_personal_data"]

    def get_urls(self):
        site = self.admin_site  # type: ignore[attr-defined]
        own = [
            path(
                "<path:object_id>/personal-data/",
                site.admin_view(self.personal_data_view),
                name="campaigns_contact_personal_data",
            ),
            path("<path:object_id>/erase/", site.admin_view(self.erase_view), name="campaigns_contact_erase"),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if obj is not None and not self.has_delete_permission(request, obj):  # type: ignore[attr-defined]
            # No "Erase it…" for whom the erase page would refuse: the download alone.
            fields = ["personal_data_download" if name == "personal_data" else name for name in fields]
        return fields

    @admin.display(description=_("Everything held"))
    def personal_data(self, contact: Contact) -> str:
        if contact.pk is None:
            return "—"
        erase = reverse("admin:campaigns_contact_erase", args=[contact.pk])
        return format_html(
            '{} · <a href="{}">{}</a>', self.personal_data_download(contact), erase, gettext("Erase it…")
        )

    @admin.display(description=_("Everything held"))
    def personal_data_download(self, contact: Contact) -> str:
        if contact.pk is None:
            return "—"
        download = reverse("admin:campaigns_contact_personal_data", args=[contact.pk])
        return format_html(
            '<a href="{}">{}</a>', download, gettext("Download it as JSON (a subject access request)")
        )

    def personal_data_view(self, request, object_id):
        """Answer everything held about the contact as a JSON download, to staff who may see it."""
        contact = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if contact is None or not self.has_view_permission(request, contact):  # type: ignore[attr-defined]
            raise PermissionDenied
        data = contact_personal_data(contact=contact)
        # As the admin's other pages: each part only for those who may see it there, and an event's
        # detail (the reader's network and browser, SES's report) only for who may see events.
        for section, permission in (
            ("lists", "campaigns.view_listmembership"),
            ("lists_left", "campaigns.view_listmembership"),
            ("breaks", "campaigns.view_contactbreak"),
            ("consents", "campaigns.view_contactconsent"),
            ("consent_history", "campaigns.view_consentchange"),
            ("signups", "campaigns.view_signup"),
            ("suppressions", "campaigns.view_suppression"),
            ("suppressions_removed", "campaigns.view_suppressionremoval"),
            ("emails", "delivery.view_stepexecution"),
        ):
            if not request.user.has_perm(permission):
                data.pop(section)
        if not request.user.has_perm("tracking.view_trackingevent"):
            for sent in data.get("emails", []):
                for event in sent["events"]:
                    event.pop("detail")
        response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 1})
        response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.json"'
        return response

    def erase_view(self, request, object_id):
        """Ask, then erase one contact: the contact page's way to the erase action."""
        contact = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if contact is None or not self.has_delete_permission(request, contact):  # type: ignore[attr-defined]
            raise PermissionDenied
        answer = self.erase_personal_data(request, Contact.objects.filter(pk=contact.pk))
        return answer or HttpResponseRedirect(reverse("admin:campaigns_contact_changelist"))

    @admin.action(description=_("Erase personal data…"), permissions=["delete"])
    def erase_personal_data(self, request, queryset):
        form = ErasureForm(request.POST if "apply" in request.POST else None)
        count = queryset.count()
        if count > ERASE_MAX:
            said = gettext("Erase at most %(n)s contacts at a time.") % {"n": grouped(ERASE_MAX)}
            self.message_user(request, said, level="error")  # type: ignore[attr-defined]
            return None
        if not form.is_valid():
            only = queryset.first() if count == 1 else None
            note = gettext("This erases %(email)s.") % {"email": only.email} if only else ""
            title = gettext("Erase contacts’ personal data")
            return self._action_page(  # type: ignore[attr-defined]
                request, queryset, "erase_personal_data", form, title, note
            )
        by = staff_actor(request).name
        count = 0
        for contact in queryset.order_by("pk"):
            try:
                contact_erase(contact=contact, by=f"staff {by}")
            except ObjectNotFound:
                continue  # Erased or deleted by someone else meanwhile.
            count += 1
        self.message_user(  # type: ignore[attr-defined]
            request,
            ngettext("%(n)s contact erased.", "%(n)s contacts erased.", count) % {"n": grouped(count)},
        )
        return None
