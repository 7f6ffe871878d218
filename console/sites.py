"""The admin site: django-unfold's, with a second factor between a staff member's password and the admin."""

import functools
import logging

from django.apps import apps
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import EmptyPage
from django.db import DataError, IntegrityError, models, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.text import smart_split
from django.utils.translation import gettext
from unfold.sites import UnfoldAdminSite

from campaigns.admin_access import relation_named, user_sees_relation
from console import login
from core.exceptions import ObjectNotFound

logger = logging.getLogger(__name__)

#: The longest search an admin page runs. Django's search ANDs, per word, an OR of case-blind LIKEs
#: over the search fields, which no index serves: each word is one more pass over the table (a
#: search of 1,500 words held the database for minutes).
SEARCH_MAX_WORDS = 10
SEARCH_MAX_CHARS = 200


def search_too_long(term: str) -> bool:
    """Tell whether a search is longer than an admin page runs, in characters or in words."""
    # Words as Django's search splits them (a quoted phrase is one); the length is checked first,
    # so a long term is never split.
    return len(term) > SEARCH_MAX_CHARS or len(list(smart_split(term))) > SEARCH_MAX_WORDS


def search_limit_said() -> str:
    """Return the message that tells the search's limit."""
    return gettext("Search with at most %(words)s words and %(chars)s characters.") % {
        "words": SEARCH_MAX_WORDS,
        "chars": SEARCH_MAX_CHARS,
    }


#: Fields no list is filtered by from the address, whatever its page shows: secrets (a second
#: factor's key or token, a password's or an API key's hash). Filtering by a prefix (`__startswith`,
#: `__gt`) would tell them a character at a time, however the page hides them.
SECRET_FIELDS = {
    "otp_totp.totpdevice": frozenset({"key"}),
    "otp_static.staticdevice": frozenset({"token_set"}),
    "auth.user": frozenset({"password"}),
    "core.apikey": frozenset({"hashed_key"}),
}


def lookup_hidden_fields(model_admin) -> frozenset[str]:
    """Return the fields of a model admin's list that no lookup in the address may name: the secrets
    above and what its pages leave out (`exclude`), as a filter on them would read them out."""
    opts = model_admin.model._meta
    return SECRET_FIELDS.get(opts.label_lower, frozenset()) | frozenset(model_admin.exclude or ())


def _lookup_refused(request: HttpRequest, model_admin) -> str | None:
    """Return why a list's query string holds a lookup no address can give, or None if it holds none.

    These fail past every check, as an IndexError, a TypeError or a ProgrammingError: types that
    elsewhere are bugs, so they are refused here, by name, rather than caught. A lookup on a field
    the page hides (lookup_hidden_fields) is refused too: it would be an oracle of what is hidden.
    """
    model = model_admin.model
    hidden = lookup_hidden_fields(model_admin)
    for key in request.GET:
        parts = key.split("__")
        if parts[0] in hidden:
            return gettext("a field this page keeps hidden cannot be looked up")
        if not _relations_seen(request, model, parts):
            # `?contacts=7` on the lists says which lists contact 7 is on: membership rows.
            return gettext("a filter through rows you may not see cannot be given in the address")
        if parts[-1] == "range":
            # Django's admin splits only `__in` values at commas: a range's value reaches the lookup
            # as one string, read a character per bound (`?id__range=1`: too few bounds, an
            # IndexError; `=1,5`: more parameters than placeholders). No address's range works.
            return gettext("a range cannot be given in the address")
        if parts[-1] in ("regex", "iregex"):
            # A pattern's cost is the pattern's to choose (`(.*){1,255}` nested takes minutes a row
            # and no index helps), where the search is bounded: the list's filters and search do.
            return gettext("a regular expression cannot be given in the address")
        try:
            field = model._meta.get_field(parts[0])
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.BinaryField):
            # An address holds text, never bytes: psycopg refuses to bind text to bytea (a TypeError).
            return gettext("a file's contents cannot be looked up from the address")
    return None


def _relations_seen(request: HttpRequest, model: type[models.Model], parts: list[str]) -> bool:
    """Tell whether the staff member may see the rows of every relation a lookup goes through."""
    for part in parts:
        field = relation_named(model, part)
        if field is None:
            return True  # A plain field, or a transform of one: the rest is no relation.
        if not user_sees_relation(request.user, field):
            return False
        model = field.related_model
    return True


def _list_bounded(view):
    """Wrap a list page: a search longer than the limit, or a lookup no address can give, runs no query."""
    model_admin = view.__self__

    @functools.wraps(view)
    def bounded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if any(search_too_long(term) for term in request.GET.getlist(SEARCH_VAR)):
            messages.error(request, search_limit_said())
            # The filters stay; the page number went with the search's results.
            kept = request.GET.copy()
            for name in (SEARCH_VAR, PAGE_VAR):
                kept.pop(name, None)
            return HttpResponseRedirect(f"{request.path}?{kept.urlencode()}" if kept else request.path)
        if why := _lookup_refused(request, model_admin):
            logger.warning("Admin page %s refused its query string: %s", request.path, why)
            said = gettext("That filter or selection could not be applied: %(why)s")
            messages.error(request, said % {"why": why})
            return HttpResponseRedirect(request.path)
        return view(request, *args, **kwargs)

    return bounded


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
        """Search as unfold does; a page number its results do not have is a 404, never a 500, and a
        search longer than the limit is a 400."""
        page = request.GET.get("page", "1")
        if not (page.isascii() and page.isdigit() and len(page) <= 6 and int(page) >= 1):
            raise Http404("No such page of results.")
        # It matches app and model names only while unfold's COMMAND "search_models" is off, as
        # here; on, it would run every list's search word by word: the same bound holds either way.
        if search_too_long(request.GET.get("s", "")):
            return HttpResponse(search_limit_said(), status=400, content_type="text/plain; charset=utf-8")
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
        fails in the database or in Python, past the check Django makes. A list's search longer
        than the limit, or a lookup no address can give, is refused before any query runs.
        """
        if getattr(view, "__name__", None) == "changelist_view" and isinstance(
            getattr(view, "__self__", None), ModelAdmin
        ):
            view = _list_bounded(view)  # Inside Django's wrapper: only who may see the list is told.
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
        other name no admin offers (Django reads it as a field and fails with a 500). A search
        longer than the limit is a 400, as a list's is refused."""
        if search_too_long(request.GET.get("term", "")):
            return JsonResponse({"error": search_limit_said()}, status=400)
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
