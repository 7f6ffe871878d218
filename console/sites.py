"""The admin site: django-unfold's, with a second factor between a staff member's password and the admin."""

import functools
import logging

from django.apps import apps
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import EmptyPage
from django.db import DataError, IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext
from unfold.sites import UnfoldAdminSite

from console import login
from core.exceptions import ObjectNotFound

logger = logging.getLogger(__name__)


def _saved_or_told(request: HttpRequest, view, *args, **kwargs) -> HttpResponse:
    """Save a page; one whose rows clash with rows stored since it was drawn goes back with a message.

    A form's uniqueness checks run before its save, and an inline's leave out the row it belongs
    to: a step of the same order, or a list the contact joined, stored meanwhile (another tab, the
    API, an import) reaches the database, which refuses it. Nothing of the page is saved.
    """
    try:
        with transaction.atomic():
            return view(request, *args, **kwargs)
    except ObjectNotFound as exc:  # Deleted by someone else since the page was drawn.
        messages.error(request, gettext("Nothing was saved: %(why)s") % {"why": exc})
        return HttpResponseRedirect(request.path)
    except IntegrityError as exc:
        logger.warning("Admin page %s clashed with rows stored meanwhile: %s", request.path, exc)
        said = gettext(
            "Nothing was saved: the page clashes with a change saved since it was opened (a step of "
            "the same order, a list already joined…). Here is what is stored now; make your change again."
        )
        messages.error(request, said)
        return HttpResponseRedirect(request.path)


class CampanileAdminSite(UnfoldAdminSite):
    """django-unfold's admin site; its pages need a passed second factor wherever one is needed."""

    site_header = "Campanile"
    site_title = "Campanile"
    index_title = "Home"

    def _get_colors(self, key: str, *args) -> dict:
        """Leave the theme's colours to console/theme.css: unfold would write them in an inline <style>."""
        return {}

    def has_permission(self, request: HttpRequest) -> bool:
        """Let in active staff who have passed the second factor, where theirs is needed."""
        return super().has_permission(request) and login.second_factor_passed(request)

    def search(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Search as unfold does; a page number its results do not have is a 404, never a 500."""
        page = request.GET.get("page", "1")
        if not (page.isascii() and page.isdigit() and len(page) <= 6 and int(page) >= 1):
            raise Http404("No such page of results.")
        try:
            return super().search(request, extra_context)
        except EmptyPage:
            raise Http404("No such page of results.") from None

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Ask for the password as Django does; a staff member it lets in goes on to the second factor."""
        response = super().login(request, extra_context)
        if login.second_factor_pending(request):
            return login.second_factor_redirect(
                request, request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
            )
        return response

    def admin_view(self, view, cacheable=False):
        """Wrap an admin page; a list whose query string or selection cannot be read goes back to it.

        Django's list pages take lookups on a model's fields from the URL (`?email=…`,
        `?email__regex=…`, `?created_at__year=…`): a NUL, a broken pattern or an impossible year
        fails in the database or in Python, past the check Django makes.
        """
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if "\x00" in request.path:  # No id or page holds a NUL (some ids are text: API keys).
                raise Http404
            # A list's query string, or the rows an action was asked for (`_selected_action`,
            # which must be ids): both come from the client, past Django's checks.
            refusable = (request.method == "GET" and request.GET) or (
                request.method == "POST" and "_selected_action" in request.POST
            )
            if request.method == "POST" and not refusable:
                return _saved_or_told(request, inner, *args, **kwargs)
            if not refusable:
                return inner(request, *args, **kwargs)
            try:
                # A savepoint: a query the database refused must not spoil the rest of the request.
                with transaction.atomic():
                    response = inner(request, *args, **kwargs)
                    if isinstance(response, TemplateResponse):
                        response.render()  # Rendered here, so a failing query is caught here.
                return response
            except (DataError, ValueError, OverflowError, ValidationError) as exc:
                logger.warning("Admin page %s refused its query string: %s", request.path, exc)
                said = gettext("That filter or selection could not be applied: %(why)s")
                messages.error(request, said % {"why": exc})
                return HttpResponseRedirect(request.path)

        return guarded

    def autocomplete_view(self, request):
        """Answer a field's suggestions; a reverse relation named as the field is a 403, as any
        other name no admin offers (Django reads it as a field and fails with a 500)."""
        try:
            model = apps.get_model(request.GET["app_label"], request.GET["model_name"])
            field = model._meta.get_field(request.GET["field_name"])
        except (KeyError, LookupError, FieldDoesNotExist):
            pass  # Django's own view refuses these.
        else:
            if field.auto_created and not field.concrete:
                raise PermissionDenied
        return super().autocomplete_view(request)

    def get_urls(self):
        """Add the second factor's steps to the admin's own URLs."""
        return [
            path("second-factor/", login.second_factor_verify_view(self), name="second_factor"),
            path("second-factor/enrol/", login.second_factor_enrol_view(self), name="second_factor_enrol"),
            path("second-factor/sign-out/", login.second_factor_sign_out_view, name="second_factor_sign_out"),
            *super().get_urls(),
        ]
