"""One imported or bulk-upserted contact row: its checks, shared by the API and the admin's import."""

from typing import cast

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext, gettext_lazy

from campaigns.models import Contact
from campaigns.validators import TIMEZONES, validate_attributes, validate_shown_name
from core.addresses import email_canonical
from core.api.strict import FRACTION_AS_TEXT
from core.text import holds_lone_surrogate, text_as_json, text_encodable

ROW_TEXT_FIELDS = ("first_name", "last_name", "external_id", "timezone")
#: Those the contact's emails show its reader: held to the model's check of shown names.
_ROW_NAME_FIELDS = frozenset({"first_name", "last_name"})
# Lengths from the model's CharFields; None if one were ever made unlimited.
_ROW_MAX_LENGTH = {
    name: cast(models.Field, Contact._meta.get_field(name)).max_length for name in ("email", *ROW_TEXT_FIELDS)
}
_STATUSES = frozenset(Contact.Status.values)  # `pending` only as stored: contact_bulk_upsert.
#: What a contact answers but never sets itself.
LISTS_SET_ELSEWHERE = gettext_lazy(
    "A contact's lists are not set here: add it with POST /api/v1/lists/{id}/members/add, or name the "
    "lists beside the rows of a bulk upsert or an import."
)
_ROW_KEYS = frozenset({"email", *ROW_TEXT_FIELDS, "attributes", "status"})
# What a contact read through the API answers and a row leaves as stored: a contact read may be sent back.
_ROW_KEYS_ANSWERED = frozenset({"id", "unsubscribed_at", "paused_until", "created_at", "updated_at"})


class RowInvalid(Exception):
    """A row failed its checks; errors maps each field (or non_field_errors) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _row_text(value, max_length: int | None) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(gettext("Not a valid string."))
    if isinstance(value, float):  # JSON's 1e5 or 1e400: "100000.0" or "inf" is not what was sent.
        raise ValueError(str(FRACTION_AS_TEXT))
    value = str(value).strip()  # As the API's other writes and a file's cells are: " Ada " is Ada.
    if "\x00" in value:
        raise ValueError(gettext("Null characters are not allowed."))
    if holds_lone_surrogate(value):  # Not storable.
        raise ValueError(gettext("Surrogate characters are not allowed."))
    if max_length is not None and len(value) > max_length:
        raise ValueError(gettext("Ensure this field has no more than %(n)d characters.") % {"n": max_length})
    return value


def contact_row_validate(raw) -> dict:
    """Check one bulk or imported row and return its fields, the email normalized.

    Plain checks rather than a serializer per row: 10,000 rows through DRF fields cost more than
    writing them (see docs/benchmarks). Lengths come from the model. Raises RowInvalid with
    per-field messages; a key no field takes fails the row, bar those a contact read answers.
    """
    if not isinstance(raw, dict):
        raise RowInvalid({"non_field_errors": [gettext("Expected an object.")]})
    row: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    try:
        row["email"] = email_canonical(_row_text(raw["email"], _ROW_MAX_LENGTH["email"]))
    except KeyError:
        errors["email"] = [gettext("This field is required.")]
    except ValueError as exc:
        errors["email"] = [str(exc)]
    except ValidationError as exc:
        errors["email"] = exc.messages
    for name in ROW_TEXT_FIELDS:
        if name in raw:
            try:
                text = _row_text(raw[name], _ROW_MAX_LENGTH[name])
                if name in _ROW_NAME_FIELDS:
                    validate_shown_name(text)
                row[name] = text
            except ValueError as exc:
                errors[name] = [str(exc)]
            except ValidationError as exc:
                errors[name] = exc.messages
    if row.get("timezone") and row["timezone"] not in TIMEZONES:
        said = gettext("%(zone)r is not an IANA time zone name (e.g. Europe/Paris).")
        errors["timezone"] = [said % {"zone": row["timezone"]}]
    if "attributes" in raw:
        try:
            validate_attributes(raw["attributes"])
            row["attributes"] = raw["attributes"]
        except ValidationError as exc:
            errors["attributes"] = exc.messages
    if "status" in raw:
        if isinstance(raw["status"], str) and raw["status"] in _STATUSES:
            row["status"] = raw["status"]
        else:
            errors["status"] = [
                gettext("Must be one of: %(values)s.") % {"values": ", ".join(sorted(Contact.STATUSES_GIVEN))}
            ]
    errors.update(_row_keys_refused(raw))
    if errors:
        raise RowInvalid(errors)
    return row


def _row_keys_refused(raw: dict) -> dict[str, list[str]]:
    """Return an error for each key a row holds that no contact field takes: ignored, it would
    answer the row as saved when a misspelt field (`first_nme`) was not."""
    refused = {}
    for key in raw.keys() - _ROW_KEYS - _ROW_KEYS_ANSWERED:
        if key in ("resubscribe", "reason"):
            refused[key] = [gettext("Given once for the whole request, beside the rows, not in a row.")]
        elif key == "lists":
            refused[key] = [str(LISTS_SET_ELSEWHERE)]
        else:
            said = gettext("Not a field of a contact; a row's fields are: %(fields)s.")
            refused[str(key)[:100]] = [said % {"fields": ", ".join(sorted(_ROW_KEYS))}]
    return refused


def _as_sent(value: object) -> str:
    """Return a row's value as sent: a string as is, else its JSON text; cut to an address's length."""
    return (value if isinstance(value, str) else text_as_json(value))[:254]


def contact_rows_validate(raw_rows) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Check (number, raw) rows one by one; return (number, fields) of the good ones and the errors
    of the rest, each {"row": number, "email": as given, "errors": {field: [messages]}}."""
    rows, errors = [], []
    for number, raw in raw_rows:
        try:
            rows.append((number, contact_row_validate(raw)))
        except RowInvalid as exc:
            email = raw.get("email", "") if isinstance(raw, dict) else ""
            # Bad input is repeated back spelled out: a lone surrogate has no UTF-8 to answer in.
            said = {"row": number, "email": _as_sent(email), "errors": exc.errors}
            errors.append(text_encodable(said))
    return rows, errors
