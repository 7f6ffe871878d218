"""What the template editor lists as a template's variables, each with its value for one contact."""

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from campaigns.models import Contact
from campaigns.rendering import template_context

# An attribute key `{{ attributes.<key> }}` reads as itself: one part of a Django variable. Django's
# FilterExpression takes a variable as word characters and dots (`\w` with Unicode, as here), its
# Variable splits it at the dots and refuses a part that starts with an underscore. A key with a dot
# would read another attribute's member ("a.b" as `a`'s `b`); a space or a hyphen fails to parse.
# Digits alone ("2024") are writable: Django tries a key of a dict before a list index.
_WRITABLE_KEY = re.compile(r"(?!_)\w+")


@dataclass(frozen=True)
class TemplateVariables:
    """The variables a template may write and the attributes it cannot, with a contact's values."""

    #: (what to write between the braces, its value): fields, writable attributes, unsubscribe_url.
    writable: list[tuple[str, str]]
    #: (attribute key, its value) for each key no template can write, to be renamed.
    unwritable: list[tuple[str, str]]


def attribute_key_writable(key: str) -> bool:
    """Return whether a template reads the attribute `key` as `{{ attributes.<key> }}`."""
    return _WRITABLE_KEY.fullmatch(key) is not None


def template_variables(*, contact: Contact) -> TemplateVariables:
    """Return what a template may write, each with its value for `contact`, and apart the attributes
    whose keys a template cannot write."""
    context = template_context(contact=contact)
    attributes = sorted(context["attributes"].items())
    return TemplateVariables(
        writable=[
            *((f"contact.{field}", str(value)) for field, value in context["contact"].items()),
            *((f"attributes.{key}", str(value)) for key, value in attributes if attribute_key_writable(key)),
            ("unsubscribe_url", _("the email's own one-click unsubscribe link")),
        ],
        unwritable=[(key, str(value)) for key, value in attributes if not attribute_key_writable(key)],
    )
