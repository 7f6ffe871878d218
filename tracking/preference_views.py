"""The preference centre, behind every campaign email's unsubscribe link: leave everything, leave
the lists this email came from, choose the lists to stay on and the name to be called by, or take
a break. RFC 8058's one-click POST leaves everything, as before. No login, no cookies: the signed
link is the proof."""

import logging
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import preferences
from campaigns.consent import ConsentActor, contact_resubscribe
from campaigns.erasure import address_erasure
from campaigns.mailable import contact_mail_paused
from campaigns.models import ConsentChange, Contact, ContactList
from campaigns.validators import validate_shown_name
from core.addresses import mailbox_parse
from core.exceptions import ObjectNotFound
from core.forms import form_fields_repeated, form_post_unread
from core.http import database_unavailable
from delivery.models import StepExecution
from tracking import unsubscribe as unsubscribing

logger = logging.getLogger(__name__)

#: The page's choices besides leaving everything: a contact's own, gone with the contact.
_CONTACT_CHOICES = frozenset({"resubscribe", "lists", "preferences", "pause", "resume"})


@csrf_exempt  # RFC 8058: mail providers POST without cookies or a form token; the signed URL is the proof.
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The unsubscribe link and preference page: GET shows choices and changes nothing (scanners
    prefetch links); POST acts. RFC 8058's one-click POST leaves everything. With the database
    unavailable it answers 503, which a mail provider's one-click sender retries."""
    try:
        try:
            return _unsubscribe(request, token)
        except ObjectNotFound:
            # Its contact was deleted or erased while this request acted: read the link again,
            # which now speaks for the address alone (kept unsubscribed, or erased).
            return _unsubscribe(request, token)
    except DatabaseError:
        logger.exception("An unsubscribe could not be read or recorded: the database is unavailable.")
        return database_unavailable()


class PreferencesForm(forms.Form):
    """The choices of the preference page: the shown lists to stay on, and the name."""

    first_name = forms.CharField(
        label=gettext_lazy("First name"), max_length=150, required=False, validators=[validate_shown_name]
    )
    last_name = forms.CharField(
        label=gettext_lazy("Last name"), max_length=150, required=False, validators=[validate_shown_name]
    )

    def __init__(self, *args, shown: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"] = forms.ModelMultipleChoiceField(
            queryset=ContactList.objects.filter(pk__in=[item.pk for item in shown]), required=False
        )
        # The lists the page showed: one the contact joined since (in another tab) was never a
        # choice, so not ticking it is no choice to leave it.
        posted = self.data.getlist("shown") if hasattr(self.data, "getlist") else []
        self.shown_ids = {
            int(value) for value in posted if value.isascii() and value.isdigit() and len(value) < 19
        }


def _plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _brand(execution: StepExecution | None) -> dict[str, str]:
    """Return who the page speaks for: BRAND_NAME, else the sender's name on the email, and the
    logo of BRAND_LOGO_URL."""
    name = settings.BRAND_NAME
    if not name and execution is not None:
        try:
            sender = mailbox_parse(execution.campaign_step.campaign.from_email)
            name = sender.display_name or sender.address.rpartition("@")[2]
        except ValidationError:
            name = ""
    return {"name": name, "logo": settings.BRAND_LOGO_URL}


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    if logo := context["brand"]["logo"]:
        # The logo is the only thing the page loads from elsewhere.
        parts = urlsplit(logo)
        response._csp_update = {"img-src": [f"{parts.scheme}://{parts.netloc}"]}  # type: ignore[attr-defined]
    return response


def _unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    found = unsubscribing.step_execution_by_unsubscribe_token(token=token)
    if found is None:
        raise Http404("This unsubscribe link is not valid.")
    execution, email = found
    brand = _brand(execution)
    if execution is None or execution.contact is None or execution.contact.email != email:
        # Its contact was deleted or erased, or has another address now: the link speaks for the
        # address it was sent to (whoever holds it now), never for the contact's new one.
        subscribed = unsubscribing.address_subscribed(email=email)
        # An erased address is named to no one: whoever opens an old copy of the email.
        shown = "" if address_erasure(email=email) is not None else email
        address = {"email": shown, "subscribed": subscribed, "brand": brand, "address_only": True}
        if request.method == "GET":
            return _page(request, "tracking/unsubscribe.html", address)
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        action = request.POST.get("action", "all")
        if not one_click and action in _CONTACT_CHOICES:
            # A choice made on the page as it was before its contact went: only leaving is left.
            return _page(request, "tracking/unsubscribe.html", address | {"gone": True}, status=409)
        if not one_click and action != "all":
            return _plain(_("Unknown action."), 400)
        unsubscribing.address_unsubscribe(email=email, source="one-click" if one_click else "page")
        return _page(request, "tracking/unsubscribed.html", address | {"done": "all"})
    contact = execution.contact
    with translation.override(preferences.contact_language(contact=contact) or translation.get_language()):
        response = _preferences(request, execution, contact, brand)
        response["Content-Language"] = translation.get_language()  # The page's, not the browser's.
        return response


def _preferences(request, execution: StepExecution, contact: Contact, brand: dict) -> HttpResponse:
    campaign_lists = list(execution.campaign_step.campaign.lists.all())
    shown_lists = list(preferences.contact_lists_shown(contact=contact))
    context: dict[str, object] = {
        "email": execution.email,
        "brand": brand,
        "subscribed": contact.status == contact.Status.SUBSCRIBED,
        "only_leave": bool(campaign_lists),
        "only_leave_names": [item.name for item in campaign_lists if item.shown_to_contacts],
        "shown_lists": shown_lists,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "paused_until": contact.paused_until if contact_mail_paused(contact=contact) else None,
        "pause_days": preferences.PAUSE_DAYS,
    }
    if request.method == "GET":
        return _page(request, "tracking/unsubscribe.html", context)
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    action = "all" if one_click else request.POST.get("action", "all")
    if action == "all":
        unsubscribing.step_execution_unsubscribe(
            execution=execution, source="one-click" if one_click else "page"
        )
        return _page(request, "tracking/unsubscribed.html", context | {"done": "all"})
    if action == "resubscribe":
        actor = ConsentActor(
            by=ConsentChange.By.CONTACT, name=execution.email, via=ConsentChange.Via.UNSUBSCRIBE_PAGE
        )
        asked = "Asked to be subscribed again on the unsubscribe page."
        done = "suppressed"
        if contact_resubscribe(contact=contact, actor=actor, reason=asked):
            preferences.contact_resume(contact=contact)  # Back for the mail: a break ends too.
            done = "resubscribed"
        return _page(request, "tracking/unsubscribed.html", context | {"done": done})
    if contact.status != contact.Status.SUBSCRIBED:
        # Lists, pauses and names are the choices of someone still subscribed.
        return _plain(_("You are unsubscribed: subscribe again first."), 409)
    if action == "lists":
        if not campaign_lists:  # A campaign of segments alone was sent to no list.
            return _plain(_("Unknown action."), 400)
        names = unsubscribing.step_execution_leave_lists(execution=execution)
        return _page(request, "tracking/unsubscribed.html", context | {"done": "lists", "left": names})
    if action == "preferences":
        # What the contact types is kept and shown in every later email: read only as they sent it.
        if form_post_unread(request):
            return _plain(_("Your browser sent the form in a character set this page does not read."), 415)
        chosen = PreferencesForm(request.POST, shown=shown_lists)
        if repeated := form_fields_repeated(chosen, request.POST, many=("lists",)):
            said = _(
                "The form was sent with “%(fields)s” more than once. Please fill it in and send it again."
            )
            problems = {"__all__": [said % {"fields": "”, “".join(repeated)}]}
            return _page(request, "tracking/unsubscribe.html", context | {"problems": problems}, status=400)
        if not chosen.is_valid():
            return _page(
                request, "tracking/unsubscribe.html", context | {"problems": chosen.errors}, status=400
            )
        saved = unsubscribing.step_execution_preferences_save(
            execution=execution,
            shown_list_ids=chosen.shown_ids,
            keep_list_ids={contact_list.pk for contact_list in chosen.cleaned_data["lists"]},
            first_name=chosen.cleaned_data["first_name"],
            last_name=chosen.cleaned_data["last_name"],
        )
        left = [item.name for item in saved]
        return _page(request, "tracking/unsubscribed.html", context | {"done": "saved", "left": left})
    if action == "pause":
        days = request.POST.get("days", "")
        if not (days.isascii() and days.isdigit() and int(days) in preferences.PAUSE_DAYS):
            return _plain(_("Unknown pause."), 400)
        until = preferences.contact_pause(contact=contact, days=int(days))
        return _page(
            request, "tracking/unsubscribed.html", context | {"done": "paused", "paused_until": until}
        )
    if action == "resume":
        preferences.contact_resume(contact=contact)
        return _page(request, "tracking/unsubscribed.html", context | {"done": "resumed"})
    return _plain(_("Unknown action."), 400)
