"""The public pages of signup forms: the form, its thank-you page, and the confirmation link.

No page needs JavaScript, and the form also takes posts from its snippet on other sites (hence no
CSRF token: nothing a visitor is logged in to is at stake). Every page is in the form's language.
"""

import logging
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import Signup, SignupForm
from campaigns.signups import SignupFields, signup_apply
from campaigns.validators import validate_shown_name
from core.forms import AddressField, form_fields_repeated, form_post_unread
from core.http import client_address, database_unavailable
from tracking import signups

logger = logging.getLogger(__name__)

#: The honeypot's name: a field people never see (it is hidden) and form-filling robots fill in.
HONEYPOT = "website"


class SignupPublicForm(forms.Form):
    """What a form asks of a visitor: the address, the names it asks for, lists, the consent."""

    email = AddressField(label=_("Email address"), max_length=254)

    def __init__(self, *args, signup_form: SignupForm, **kwargs):
        # Ids of its own: the snippet lands in pages whose ids we do not know.
        kwargs.setdefault("auto_id", "campanile_%s")
        super().__init__(*args, **kwargs)
        Ask = SignupForm.Ask
        for name, ask, label in (
            ("first_name", signup_form.ask_first_name, _("First name")),
            ("last_name", signup_form.ask_last_name, _("Last name")),
        ):
            if ask != Ask.NO:
                self.fields[name] = forms.CharField(
                    label=label,
                    max_length=150,
                    required=ask == Ask.REQUIRED,
                    validators=[validate_shown_name],
                )
        if signup_form.visitor_chooses_lists:
            self.fields["lists"] = forms.ModelMultipleChoiceField(
                queryset=signup_form.lists.order_by("name"),
                widget=forms.CheckboxSelectMultiple,
                label=_("Lists"),
                error_messages={"required": _("Choose at least one list.")},
            )
        self.fields["consent"] = forms.BooleanField(
            label=signup_form.consent_text,
            error_messages={"required": _("Tick this box to sign up.")},
        )
        self.fields[HONEYPOT] = forms.CharField(required=False, max_length=1000)

    def signup_fields(self) -> SignupFields:
        data = self.cleaned_data
        return SignupFields(
            email=data["email"],
            first_name=data.get("first_name", "").strip(),
            last_name=data.get("last_name", "").strip(),
            list_ids=tuple(contact_list.pk for contact_list in data.get("lists", ())),
        )


def signup_form_html(*, signup_form: SignupForm, bound: SignupPublicForm | None = None, snippet: bool) -> str:
    """Return the HTML of a form's fields and button, posting to its page: for the page, or as the
    snippet to paste into another site (absolute address, no styles of ours)."""
    with translation.override(signup_form.language):
        form = bound or SignupPublicForm(signup_form=signup_form)
        action = settings.PUBLIC_BASE_URL + reverse("signup-form", args=[signup_form.slug])
        context = {
            "form": form,
            "signup_form": signup_form,
            "action": action,
            "snippet": snippet,
            "honeypot": form[HONEYPOT],
            "visible": [field for field in form if field.name not in (HONEYPOT, "consent")],
            "consent": form["consent"],
            "captcha_html": mark_safe(settings.SIGNUP_CAPTCHA_HTML) if signup_form.captcha else "",  # noqa: S308 - the operator's setting
        }
        return render_to_string("tracking/signup_fields.html", context)


def _see_other(url: str) -> HttpResponse:
    """Redirect after a post to a page the browser gets (303), as a post must not be sent again."""
    return HttpResponseRedirect(url, status=303)


def _unavailable() -> HttpResponse:
    logger.exception("A signup page could not be served: the database is unavailable.")
    return database_unavailable()


def _page(
    request, signup_form: SignupForm, bound=None, *, problem: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "signup_form": signup_form,
        "fields_html": mark_safe(signup_form_html(signup_form=signup_form, bound=bound, snippet=False)),  # noqa: S308 - rendered with autoescape
        "problem": problem,
    }
    response = render(request, "tracking/signup.html", context, status=status)
    update: dict[str, list[str]] = {}
    if signup_form.captcha and settings.SIGNUP_CAPTCHA_ORIGINS:
        # The captcha's script and frame come from its provider.
        origins = list(settings.SIGNUP_CAPTCHA_ORIGINS)
        update = {"script-src": origins, "frame-src": origins, "connect-src": origins}
    return _csp_with(response, update | _form_leads_to(signup_form.thank_you_url))


def _form_leads_to(url: str) -> dict[str, list[str]]:
    """Return the CSP a page needs whose form's answer leads to url: `form-action` covers where
    the answer redirects too, so the marketer's own thank-you page must be named."""
    if not url:
        return {}
    parts = urlsplit(url)
    return {"form-action": [f"{parts.scheme}://{parts.netloc}"]}


def _csp_with(response: HttpResponse, update: dict[str, list[str]]) -> HttpResponse:
    if update:
        response._csp_update = update  # type: ignore[attr-defined]
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def signup_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The form's page: GET shows it, POST signs up (from the page or the snippet elsewhere)."""
    try:
        signup_form = get_object_or_404(SignupForm, slug=slug)
        with translation.override(signup_form.language):
            return _in_language(_signup_page(request, signup_form))
    except DatabaseError:
        return _unavailable()


def _signup_page(request: HttpRequest, signup_form: SignupForm) -> HttpResponse:
    if not signup_form.takes_signups:
        message = gettext("This form is closed: it takes no more signups.")
        return render(
            request, "tracking/signup_done.html", {"signup_form": signup_form, "message": message}, status=410
        )
    if request.method in ("GET", "HEAD"):
        return _page(request, signup_form)
    if not signups.signup_ip_allowed(client_ip=client_address(request)):
        problem = gettext("Too many signups came from your network in the last hour. Please try again later.")
        refused = _page(request, signup_form, problem=problem, status=429)
        refused["Retry-After"] = str(signups.signup_ip_retry_after())
        return refused
    if form_post_unread(request):
        problem = gettext("Your browser sent the form in a character set this page does not read.")
        return _page(request, signup_form, problem=problem, status=415)
    bound = SignupPublicForm(request.POST, signup_form=signup_form)
    if repeated := form_fields_repeated(bound, request.POST, many=("lists",)):
        said = gettext(
            "The form was sent with “%(fields)s” more than once. Please fill it in and send it again."
        )
        return _page(
            request, signup_form, bound, problem=said % {"fields": "”, “".join(repeated)}, status=400
        )
    if not bound.is_valid():
        return _page(request, signup_form, bound, status=400)
    if signup_form.captcha and not signups.signup_captcha_passed(request=request):
        return _page(request, signup_form, bound, problem=gettext("Please solve the captcha."), status=400)
    if not bound.cleaned_data[HONEYPOT]:  # Filled in: a robot, answered as a person is.
        signups.signup_submit(
            form=signup_form, fields=bound.signup_fields(), client_ip=client_address(request)
        )
    return _see_other(signup_form.thank_you_url or reverse("signup-thanks", args=[signup_form.slug]))


def signup_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    """The page after a signup: the form's thank-you message, or what to do next."""
    signup_form = get_object_or_404(SignupForm, slug=slug)
    with translation.override(signup_form.language):
        if signup_form.thank_you_text:
            message = signup_form.thank_you_text
        elif signup_form.opt_in == SignupForm.OptIn.DOUBLE:
            message = gettext(
                "Thank you! Please check your inbox: we sent you a link to confirm your signup."
            )
        else:
            message = gettext("Thank you for signing up.")
        return _in_language(
            render(request, "tracking/signup_done.html", {"signup_form": signup_form, "message": message})
        )


def _in_language(response: HttpResponse) -> HttpResponse:
    """Say in the header the language the page is in: the form's, not the browser's."""
    response["Content-Language"] = translation.get_language()
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation link: GET asks (mail scanners follow links and must not confirm), POST confirms."""
    try:
        return _signup_confirm(request, token)
    except DatabaseError:
        return _unavailable()


def _signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    signup = signups.signup_by_token(token=token)
    if signup is None:
        message = gettext("This confirmation link is not valid or has expired. Please sign up again.")
        return render(request, "tracking/signup_done.html", {"message": message}, status=404)
    with translation.override(signup.language or None):
        return _in_language(_signup_confirmed(request, token, signup))


def _signup_confirmed(request: HttpRequest, token: str, signup: Signup) -> HttpResponse:
    signup_form = signup.form
    if request.method in ("GET", "HEAD"):
        if signup.status == Signup.Status.PENDING:
            context = {"signup": signup, "signup_form": signup_form}
            page = render(request, "tracking/signup_confirm.html", context)
            return _csp_with(page, _form_leads_to(signup_form.confirmed_url if signup_form else ""))
    else:
        signup_apply(signup=signup, confirmed=True)  # The link was read once, above.
    if not signups.signup_address_subscribed(signup=signup):
        # Confirmed once, then unsubscribed or deleted: the old link subscribes no one again.
        message = gettext("This address is not subscribed now. To subscribe, please sign up again.")
        return render(request, "tracking/signup_done.html", {"signup_form": signup_form, "message": message})
    if signup_form is not None and signup_form.confirmed_url:
        return _see_other(signup_form.confirmed_url)
    text = signup_form.confirmed_text if signup_form is not None else ""
    message = text or gettext("You are subscribed. Thank you for confirming!")
    return render(request, "tracking/signup_done.html", {"signup_form": signup_form, "message": message})
