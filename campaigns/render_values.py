"""A contact's attributes as a template sees them: a list or an object is written as JSON.

An integrator stores attributes as JSON, and a template that writes one (`{{ attributes.tags }}`,
`|join` over a list of lists) should show what was stored, not Python's spelling of it (`['a']`,
`{'k': True}`). Lists and objects keep everything else a template does with them: indexing, loops,
`|length`, `|first`, `{% if %}`. Plain values (text, numbers, true, null) are left as Django writes them.
"""

import json


def _as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class JsonList(list):
    """A list from a contact's attributes, written as its JSON text."""

    def __str__(self) -> str:
        return _as_json(self)


class JsonObject(dict):
    """An object from a contact's attributes, written as its JSON text."""

    def __str__(self) -> str:
        return _as_json(self)


def attribute_values(value: object) -> object:
    """Return an attribute's value with every list and object in it written as JSON when shown."""
    if isinstance(value, list):
        return JsonList(attribute_values(item) for item in value)
    if isinstance(value, dict):
        return JsonObject({key: attribute_values(item) for key, item in value.items()})
    return value


def attributes_shown(attributes: dict) -> object:
    """Return a contact's attributes as a template sees them (attribute_values); nested too deep to
    walk, as they are: handing them to the renderer then fails that contact's email with the reason."""
    try:
        return attribute_values(attributes)
    except RecursionError:
        return attributes
