"""What a write answers a key that may not read: what it sent, never the rest of the record.

A key with a write scope but not `read` (an integration that only pushes contacts, say) must not
read through its writes what it may not GET: a `PATCH {}` would answer the whole contact. Its
writes that answer the record they wrote answer only the record's `id` and the fields its request
gave, as stored; a key with `read` gets the whole record, as a GET would.
"""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rest_framework import serializers, viewsets
from rest_framework.permissions import SAFE_METHODS

from core.models import ApiKey

#: The rule, as the schema states it on each operation it applies to.
WRITER_ANSWER_NOTE = (
    "A key without the `read` scope is answered only the object's `id` and the fields its request "
    "gave, as stored; a key with `read` gets the whole object."
)


def key_may_read(request) -> bool:
    """Return whether a request's caller may read what it writes: a key with `read`, or no key at all."""
    auth = request.auth
    return not isinstance(auth, ApiKey) or ApiKey.Scope.READ in auth.scopes


def answer_fields_sent(*, answer: Mapping[str, Any], given: Iterable[str]) -> dict[str, Any]:
    """Return an answer cut to the object's id and the given fields, in the answer's order."""
    kept = {"id", *given}
    return {name: value for name, value in answer.items() if name in kept}


if TYPE_CHECKING:  # The mixin's methods use the view set's; at run time it is a plain class.
    _ViewSet = viewsets.GenericViewSet
else:
    _ViewSet = object


class WriterAnswerMixin(_ViewSet):
    """Answer a key without `read` only the id and the fields it wrote, in the writes of a record."""

    #: The actions whose answer is the record they wrote, each with what it wrote: None for the
    #: fields its request gives (a create, an update), else the fields the action sets itself (a
    #: campaign's move sets its status, whatever else its body names).
    record_writes: Mapping[str, tuple[str, ...] | None] = {
        "create": None,
        "update": None,
        "partial_update": None,
    }
    #: Fields never answered to such a key, though its request gave them: their stored value may
    #: be another's (a suppression's reason, when the address was suppressed already).
    writer_answer_withheld: tuple[str, ...] = ()

    @classmethod
    def writer_answer_applies(cls, action: str | None, method: str) -> bool:
        """Return whether an operation's answer is cut for a key without `read`."""
        return action in cls.record_writes and method.upper() not in SAFE_METHODS

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            self.writer_answer_applies(self.action, request.method)
            and not key_may_read(request)
            and 200 <= response.status_code < 300
            and isinstance(response.data, Mapping)
        ):
            response.data = answer_fields_sent(answer=response.data, given=self._fields_written(request))
        return response

    def _fields_written(self, request) -> set[str]:
        """Return the fields the action wrote: those it sets itself, or those the request gave
        that the record takes."""
        own = self.record_writes[self.action]
        if own is not None:
            return set(own)
        sent = set(request.data) if isinstance(request.data, Mapping) else set()
        # A read-only field the request names is not written from it: its stored value was not sent.
        serializer = self.get_serializer()
        fields = serializer.fields if isinstance(serializer, serializers.Serializer) else {}
        writable = {name for name, field in fields.items() if not field.read_only}
        return (sent & writable) - set(self.writer_answer_withheld)
