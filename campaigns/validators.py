"""Checks on what a contact's data and a step's timing may hold, shared by the model, API and admin."""

import math
import re
from datetime import timedelta

from django.core.exceptions import ValidationError

#: An SES name (a configuration set, a tag's name or value): it goes out in a mail header.
SES_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_ses_name(value: str) -> None:
    """Reject an SES configuration set name that SES would refuse (empty means the default one)."""
    if value and not SES_NAME.fullmatch(value):
        raise ValidationError("Use 1-64 letters, digits, _ or -.")


#: The deepest a contact's attributes may nest (an object in an object …): templates reach a few
#: levels, and deeper data costs every render it is handed to.
ATTRIBUTES_MAX_DEPTH = 10


def validate_attributes(value: object) -> None:
    """Reject attributes that are not a JSON object, nest deeper than ATTRIBUTES_MAX_DEPTH, or hold
    what PostgreSQL's jsonb refuses: a NUL or a lone surrogate in a key or text, an infinite number.
    """
    if not isinstance(value, dict):
        raise ValidationError("Attributes must be a JSON object.")
    level: list[dict | list] = [value]
    depth = 1
    while level:  # Level by level, not recursively: the data itself may be deeper than Python's stack.
        for node in level:
            for text in node.keys() if isinstance(node, dict) else ():
                _storable(text)
        children = [item for node in level for item in (node.values() if isinstance(node, dict) else node)]
        for child in children:
            _storable(child)
        level = [item for item in children if isinstance(item, dict | list)]
        if level:
            depth += 1
        if depth > ATTRIBUTES_MAX_DEPTH:
            raise ValidationError(f"Attributes may nest at most {ATTRIBUTES_MAX_DEPTH} levels deep.")


def _storable(value: object) -> None:
    if isinstance(value, str) and ("\x00" in value or _SURROGATE.search(value)):
        raise ValidationError("Attributes may not hold a NUL or a lone surrogate (\\ud800-\\udfff).")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("Attributes may not hold an infinite number or NaN.")


_SURROGATE = re.compile("[\ud800-\udfff]")


#: The longest wait a step may ask for: longer overflows date arithmetic, and no drip needs it.
STEP_MAX_DELAY = timedelta(days=3650)
