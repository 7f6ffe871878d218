"""Form fields shared by the admin's pages, and the checks public pages make of a form's post."""

import json

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.utils.translation import gettext

from core.addresses import email_canonical
from core.http import charset_is_utf8


class AddressField(forms.CharField):
    """An address, checked by the address rule alone (core.addresses): it names what it refuses
    (an invisible character in the part before the @ included), where Django's email field would
    only say the address is not valid."""

    def clean(self, value):
        value = super().clean(value)
        return email_canonical(value) if value else value


class JSONShownField(forms.JSONField):
    """Django's JSON field, which can also show back a value holding a lone surrogate, or nested
    past what Python's JSON reader takes.

    A form sent again with its errors shows what was typed; `"\\ud800"` decodes to a character no
    page can be encoded with, so such a value is shown escaped, as it was typed. JSON nested a
    thousand deep raises RecursionError where Django expects a decoding error: it is an error of
    the field, shown back as typed.
    """

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(gettext("This JSON nests too deeply to be read."), code="invalid") from None
        except ValueError:  # A number past what Python reads (over 4,300 digits): no JSONDecodeError.
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)

    def prepare_value(self, value):
        text = super().prepare_value(value)
        try:
            text.encode()
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, cls=self.encoder)
        return text


class AutocompleteSelectKept(AutocompleteSelect):
    """Django's autocomplete box, which shows a sent value that is no key of its model as no choice.

    Redrawing a form with its errors, Django looks the sent value up as a key: "abc" or a NUL
    where a number belongs fails in the database, a 500 where the form should say the choice is
    not valid (as it does).
    """

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        key = remote.model._meta.get_field(remote.field_name)
        return super().optgroups(name, [item for item in value if _is_key(key, item)], attr)


def _is_key(field, value) -> bool:
    if value in ("", None):
        return True
    try:
        field.run_validators(field.to_python(value))
    except (ValidationError, ValueError, TypeError):
        return False
    return "\x00" not in str(value)


def form_post_unread(request) -> bool:
    """Tell whether a form's post came in another charset than UTF-8, or holds bytes that are no
    UTF-8: read in another charset, it could say what no one typed (UTF-7), and Django reads such
    bytes as U+FFFD, which would be kept as no one typed either."""
    if not charset_is_utf8(request.encoding):
        return True  # Django refuses to read such a form's fields (BadRequest): not read at all.
    return any("\ufffd" in value for _name, posted in request.POST.lists() for value in posted)


def form_fields_repeated(form: forms.Form, data, *, many: tuple[str, ...] = ()) -> list[str]:
    """Return the labels of a form's fields its post holds more than once, those that take many
    values (`many`) aside: read last-wins, `email=a@x&email=b@y` would keep what the page never
    showed as the choice."""
    return [
        str(field.label or name)
        for name, field in form.fields.items()
        if name not in many and len(data.getlist(name)) > 1
    ]
