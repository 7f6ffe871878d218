"""A signup form's public side on its admin page: the page's address and the snippet to embed."""

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import SignupForm
from tracking.signup_views import signup_form_html


class SignupFormPublicMixin:
    """Over campaigns.admin_signups.SignupFormAdminBase; console.admin composes and registers them."""

    public_readonly_fields = ["page_link", "snippet"]
    public_fieldset = (_("On your site"), {"fields": public_readonly_fields})

    @admin.display(description=_("page"))
    def page_link(self, form: SignupForm) -> str:
        if form.pk is None:
            return gettext("Save the form to get its page.")
        url = settings.PUBLIC_BASE_URL + reverse("signup-form", args=[form.slug])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description=_("HTML to embed"))
    def snippet(self, form: SignupForm) -> str:
        if form.pk is None:
            return gettext("Save the form to get its HTML.")
        html = signup_form_html(signup_form=form, snippet=True)
        # Escaped: shown as text to copy, whatever the form's wording holds.
        text = escape("\n".join(line for line in html.splitlines() if line.strip()))
        note = gettext(
            "Paste this into any page of your site: it needs no JavaScript, and posts to Campanile."
        )
        return format_html(
            '<textarea readonly rows="14" class="cp-snippet" aria-label="{}" '
            'style="width: 100%; font-family: monospace; font-size: 0.8rem">{}</textarea><p>{}</p>',
            gettext("HTML to embed"),
            text,
            note,
        )
