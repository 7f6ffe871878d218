"""The template editor: the form, and beside it a live preview as a chosen contact (desktop or
mobile width), the variables a template may write with their values, and the unsubscribe check.

console.admin composes it with delivery's test send (TemplateTestSendMixin) and registers it.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from unfold.admin import ModelAdmin

from campaigns.admin_access import sees_contacts
from campaigns.admin_campaigns import with_preview_csp
from campaigns.models import Contact, Template
from campaigns.rendering import template_compile, template_render, template_validate
from campaigns.selectors import template_has_unsubscribe_link, template_preview_contact
from campaigns.template_variables import template_variables
from core.exceptions import CampanileError

#: The form's fields a preview or a test renders (as typed, saved or not).
EDITED_FIELDS = ("subject", "html_body", "text_body")


class TemplateAdminBase(ModelAdmin):
    """A template's page: its form with the live preview beside it."""

    list_display = ["name", "subject", "updated_at"]
    search_fields = ["name", "subject"]
    readonly_fields = ["created_at", "updated_at"]
    change_form_template = "admin/campaigns/template/change_form.html"
    # A sent template keeps its form (HTML or text only): a different one starts as a copy.
    save_as = True

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="campaigns_template_preview"),
            *super().get_urls(),
        ]

    # The page hosts the preview's sandboxed frame: the email's inline styles and remote images.
    @with_preview_csp
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "sees_contacts": sees_contacts(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def response_add(self, request, obj, post_url_continue=None):
        return self._to_new_campaign(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._to_new_campaign(request, obj) or super().response_change(request, obj)

    def _to_new_campaign(self, request: HttpRequest, obj: Template) -> HttpResponseRedirect | None:
        """After "Save and start a campaign": a new campaign whose first step sends this template."""
        if "_campaign" not in request.POST or not request.user.has_perm("campaigns.add_campaign"):
            return None
        self.message_user(
            request,
            gettext("The template “%(name)s” was saved; now the campaign that sends it.") % {"name": obj},
            messages.SUCCESS,
        )
        return redirect(reverse("admin:campaigns_campaign_add") + f"?template={obj.pk}")

    def edited_template(self, request: HttpRequest) -> tuple[Template, Contact, bool]:
        """Return the template as the form holds it now, whom to render it for, and whether that is
        the sample contact (always, for those who may not see contacts)."""
        template = Template(
            name=request.POST.get("name", "").strip() or "preview",
            **{field: request.POST.get(field, "") for field in EDITED_FIELDS},
        )
        contact, sample = template_preview_contact(
            wanted=request.POST.get("preview_as", ""),
            may_see_contacts=sees_contacts(request),
        )
        return template, contact, sample

    def preview_view(self, request):
        """Render the template as the form holds it for the chosen contact (htmx, as one types)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        template, contact, sample = self.edited_template(request)
        rendered, problem = None, ""
        try:
            template_validate(template=template)
            rendered = template_render(
                compiled=template_compile(template=template),
                contact=contact,
                extra={"unsubscribe_url": "#unsubscribe"},
            )
        except ValidationError as exc:
            problem = " ".join(exc.messages)
        except CampanileError as exc:
            problem = str(exc)
        return TemplateResponse(
            request,
            "admin/campaigns/template/_preview.html",
            {
                "rendered": rendered,
                "problem": problem,
                "contact": contact,
                "sample": sample,
                "asked": request.POST.get("preview_as", "").strip(),
                "sees_contacts": sees_contacts(request),
                "variables": template_variables(contact=contact),
                "unsubscribe_link": template_has_unsubscribe_link(template=template),
            },
        )
