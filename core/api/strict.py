"""What a write may hold: keys its serializer knows, and text fields given text or a number that
writes as one.

DRF ignores a key it does not know, and answers a write holding one as saved: a client that
misspells `first_nme`, or sends `lists` to a contact (which answers them but never sets them), is
told its change was made when nothing was. A JSON number with a point or an exponent reads as a
float, which a text field would store in Python's spelling (`1e5` as "100000.0", `1e400` as "inf"):
two codes sent differently would be one.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.utils.translation import gettext, gettext_lazy
from rest_framework import serializers

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

#: Why a JSON number with a point or an exponent is no text: read as a float, it would be stored
#: in Python's spelling (`1e5` as "100000.0", `1e400` as "inf"), not as sent.
FRACTION_AS_TEXT = gettext_lazy(
    "A number written with a point or an exponent is not kept as written: send the text as a string."
)

#: How much of an unknown key an answer repeats: a key may be as long as the body.
_KEY_QUOTED_MAX = 100


def _key_quoted(key: str) -> str:
    return key if len(key) <= _KEY_QUOTED_MAX else key[:_KEY_QUOTED_MAX] + "…"


class KeysChecked(serializers.Serializer):
    """A serializer whose writes refuse, with a 400 naming them, keys it neither reads nor answers,
    keys it answers that are set elsewhere (`set_elsewhere`: key → where), and a number with a point
    or an exponent given to a text field (a whole number is its digits, as sent). Keys it answers
    and never sets (`id`, `created_at`) are ignored, so that an object read can be sent back."""

    #: Keys answered but set by another request, each with what sets it.
    set_elsewhere: dict[str, "StrOrPromise"] = {}

    def to_internal_value(self, data):
        refused = self._keys_refused(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not refused or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **refused}) from exc  # Every error at once.
        if refused:
            raise serializers.ValidationError(refused)
        return value

    def _keys_refused(self, data: Mapping) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        known = self.fields
        for key in data:
            if key in self.set_elsewhere:
                errors[key] = [str(self.set_elsewhere[key])]
            elif key not in known:
                said = gettext("Not a field here; the fields are: %(fields)s.")
                writable = ", ".join(name for name, field in known.items() if not field.read_only)
                errors[_key_quoted(str(key))] = [said % {"fields": writable}]
            elif _is_text(known[key]) and isinstance(data[key], float):
                errors[key] = [str(FRACTION_AS_TEXT)]
        return errors


def _is_text(field: serializers.Field) -> bool:
    return isinstance(field, serializers.CharField) and not field.read_only


def body_refuse(request, *, read: frozenset[str] = frozenset()) -> None:
    """Raise ValidationError (a 400 naming each key) for a body where the operation reads none (or
    only the keys `read`): ignored, `{"scheduled_at": …}` on a schedule would send at once."""
    data = request.data
    if isinstance(data, Mapping):
        refused = {
            _key_quoted(str(key)): [
                gettext("This operation reads no such field: set fields with PATCH first, or leave it out.")
            ]
            for key in data
            if key not in read
        }
        if refused:
            raise serializers.ValidationError(refused)
    elif data:
        raise serializers.ValidationError(gettext("This operation takes no body."))
