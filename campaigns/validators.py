"""Checks on what a contact's data and a campaign's or step's timing may hold, shared by the models,
API and admin."""

import math
import re
import zoneinfo
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from core.addresses import email_canonical
from core.text import holds_lone_surrogate, text_unshowable

#: An SES name (a configuration set, a tag's name or value): it goes out in a mail header.
SES_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_ses_name(value: str) -> None:
    """Reject an SES configuration set name that SES would refuse (empty means the default one)."""
    if value and not SES_NAME.fullmatch(value):
        raise ValidationError(gettext("Use 1-64 letters, digits, _ or -."))


def validate_shown_name(value: str) -> None:
    """Reject a name shown to contacts that holds a control, a line end, a bidi override or an
    invisible space: it could read as another name, or run into the text beside it."""
    refused = text_unshowable(value)
    if refused:
        raise ValidationError(
            gettext("Remove %(character)s: a name may not hold it.") % {"character": refused}
        )


#: The deepest a contact's attributes may nest (an object in an object …): templates reach a few
#: levels, and deeper data costs every render it is handed to.
ATTRIBUTES_MAX_DEPTH = 10


def validate_attributes(value: object) -> None:
    """Reject attributes that are not a JSON object, name one by nothing or only whitespace, or by a
    name holding a control, a bidi override or an invisible space, nest deeper than
    ATTRIBUTES_MAX_DEPTH, or hold what PostgreSQL's jsonb refuses: a NUL or a lone surrogate in a key
    or text, an infinite number.
    """
    if not isinstance(value, dict):
        raise ValidationError(gettext("Attributes must be a JSON object."))
    if any(not key.strip() for key in value if isinstance(key, str)):
        # Top level only: an export writes such a one as a column `attributes.`, which an import skips.
        said = gettext("An attribute's name: %(problem)s") % {"problem": gettext("none given.")}
        raise ValidationError(said)
    level: list[dict | list] = [value]
    depth = 1
    while level:  # Level by level, not recursively: the data itself may be deeper than Python's stack.
        for node in level:
            for text in node.keys() if isinstance(node, dict) else ():
                _storable(text)
                if isinstance(text, str) and (refused := text_unshowable(text)):
                    # A name staff read (a column, a segment's field): `plan\u200b` would read as `plan`.
                    said = gettext("Remove %(character)s: a name may not hold it.") % {"character": refused}
                    raise ValidationError(gettext("An attribute's name: %(problem)s") % {"problem": said})
        children = [item for node in level for item in (node.values() if isinstance(node, dict) else node)]
        for child in children:
            _storable(child)
        level = [item for item in children if isinstance(item, dict | list)]
        if level:
            depth += 1
        if depth > ATTRIBUTES_MAX_DEPTH:
            deep = gettext("Attributes may nest at most %(n)d levels deep.")
            raise ValidationError(deep % {"n": ATTRIBUTES_MAX_DEPTH})


def _storable(value: object) -> None:
    if isinstance(value, str) and ("\x00" in value or holds_lone_surrogate(value)):
        raise ValidationError(gettext("Attributes may not hold a NUL or a lone surrogate (\\ud800-\\udfff)."))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(gettext("Attributes may not hold an infinite number or NaN."))


#: The longest wait a step may ask for: longer overflows date arithmetic, and no drip needs it.
STEP_MAX_DELAY = timedelta(days=3650)


#: The zone names a contact may hold: the system's IANA zones but "localtime", which follows each worker
#: host's own zone, and "Factory", tzdata's placeholder for no zone at all.
TIMEZONES = frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def validate_timezone(value: str) -> None:
    """Reject names that are not IANA time zones."""
    if value and value not in TIMEZONES:
        named = gettext("%(value)s is not an IANA time zone name (e.g. Europe/Paris).")
        raise ValidationError(named % {"value": repr(value)})


def validate_weekdays(value: str) -> None:
    """Reject weekday sets that are not ISO weekday digits (1 = Monday … 7 = Sunday), each once."""
    if value and (not set(value) <= set("1234567") or len(set(value)) != len(value)):
        named = gettext("%(value)s is not a set of weekdays such as 12345 (1 = Monday, 7 = Sunday).")
        raise ValidationError(named % {"value": repr(value)})


_CRONTAB_FIELDS = ("minute", "hour", "day", "month", "weekday")
# django-celery-beat's CrontabSchedule columns, field by field.
_CRONTAB_LONGEST = (240, 96, 124, 64, 64)


def validate_crontab(value: str) -> None:
    """Reject schedules that are not five crontab fields."""
    if not value:
        return
    from celery.schedules import ParseException, crontab

    fields = value.split()
    try:
        if len(fields) != 5:
            raise ValueError(gettext("five fields are needed"))
        # Each field is stored in beat's own table, whose columns are this long.
        for name, field, longest in zip(_CRONTAB_FIELDS, fields, _CRONTAB_LONGEST, strict=True):
            if len(field) > longest:
                longer = gettext("its %(name)s field is longer than %(n)d characters")
                raise ValueError(longer % {"name": name, "n": longest})
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except (ValueError, TypeError, ParseException) as exc:
        named = gettext(
            "%(value)s is not a crontab schedule like 0 9 * * 1 (minute hour day month weekday): %(why)s"
        )
        raise ValidationError(named % {"value": repr(value), "why": exc}) from None


def email_clean(row) -> None:
    """Put a contact's or a suppression's address in its stored form, or say on its field why not."""
    if row.email:  # An empty one is the field's own check.
        try:
            row.email = email_canonical(row.email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None
