"""One error format for the whole API: {"error": {"status", "code", "message", "fields"?, "scope"?}}."""

import logging

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from core.api.auth import HasApiKey
from core.api.scopes import ScopeMissing
from core.exceptions import CampanileError, ObjectNotFound
from core.text import text_encodable

logger = logging.getLogger(__name__)

# Headers DRF sets on an error response that clients need to act on it.
KEPT_HEADERS = ("Retry-After", "WWW-Authenticate", "Allow")


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the API relies on is unavailable; retry after the time given."
    default_code = "unavailable"
    # Seconds a client should wait before retrying; DRF sends it as Retry-After.
    wait = 5


def api_exception_handler(exc, context):
    """Render every API error, DRF's or ours, in the one format clients parse."""
    if isinstance(exc, RequestDataTooBig):
        exc = TooLarge(f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        # Django's bounds on a form's parts, met while DRF reads it: the client's input, told in
        # the API's format (Django's own answer is an HTML page).
        exc = exceptions.ValidationError(
            {"non_field_errors": [f"The request holds more form fields or files than the API reads: {exc}"]}
        )
    elif isinstance(exc, DjangoValidationError):
        fields = getattr(exc, "message_dict", None) or {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, DataError):
        # The database refused a value (a NUL character, a number out of range) that got past
        # validation: still the client's input, so a 400 that says so, never a 500.
        exc = exceptions.ValidationError(
            {"non_field_errors": [gettext("A value is out of range or holds a NUL character.")]}
        )
    elif isinstance(exc, ProtectedError | RestrictedError):
        # Deleting what others still use (a template a step or a message names): a conflict.
        users = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        names = sorted({str(type(obj)._meta.verbose_name_plural) for obj in users})
        said = gettext("It is still used by %(users)s: remove those first.")
        exc = Conflict(said % {"users": ", ".join(names)})
    elif isinstance(exc, IntegrityError):  # After ProtectedError, one of its kind.
        # A row another request stored meanwhile (a contact of the same address, created by a
        # message and an import at once) past the checks this one made: a conflict to retry.
        exc = Conflict("Another request stored a clashing row meanwhile (the same address, say): try again.")
    elif isinstance(exc, redis.RedisError | OperationalError | InterfaceError):
        # Redis (the rate limits) or the database is down: the client did nothing wrong and may
        # retry, so a 503 with Retry-After rather than a 500. Logged: operators must hear of it.
        logger.error("API request failed on an unavailable service: %r", exc)
        exc = Unavailable()
    elif isinstance(exc, ObjectNotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, Http404):
        # Django's "No Segment matches the given query." names the model in English: say it in
        # the reader's language, as DRF's own "Not found." is.
        exc = exceptions.NotFound()
    elif isinstance(exc, CampanileError):
        # A rule of the domain said no (an invalid status move, say): the resource's state conflicts.
        exc = Conflict(str(exc), code=getattr(exc, "api_code", None))
    response = exception_handler(exc, context)
    if response is None:
        return None  # An unexpected error: Django's 500 handling (and logging) applies.
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        error = {
            "code": "invalid",
            "message": gettext("The request is invalid; see fields."),
            "fields": fields,
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        error = {"code": getattr(detail, "code", "error"), "message": str(detail)}
    if isinstance(exc, ScopeMissing):
        error["scope"] = exc.scope  # For programs: the scope to ask for.
    headers = {name: response[name] for name in KEPT_HEADERS if name in response}
    body = {"error": {"status": response.status_code, **text_encodable(error)}}
    return Response(body, status=response.status_code, headers=headers)


class NoSuchEndpoint(APIView):
    """Answer any path under the API's prefix that names no endpoint with the API's JSON 404."""

    # A key first, as on every path under the prefix: without one, a wrong path answers as a right
    # one does (401), so no scan tells which endpoints exist. No scope: there is no operation.
    permission_classes = [HasApiKey]
    schema = None  # Not an endpoint: kept out of the OpenAPI schema.

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound(gettext("No API endpoint is at this path."))
