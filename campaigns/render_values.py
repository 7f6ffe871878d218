"""A contact's attributes as a template sees them: a list or an object is written as JSON.

An integrator stores attributes as JSON, and a template that writes one (`{{ attributes.tags }}`,
`|join` over a list of lists) should show what was stored, not Python's spelling of it (`['a']`,
`{'k': True}`). Lists and objects keep everything else a template does with them: indexing, loops,
`|length`, `|first`, `{% if %}`. What a template makes of them is written as JSON too: a list or an
object a filter returns (`|slice`, `|add`, `|dictsort`, ...; render_filters), and what an object's
`.items`, `.keys`, `.values` and `.copy` return. Plain values (text, numbers, true, null) are left as
Django writes them.
"""

import json


def _as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class JsonList(list):
    """A list from a contact's attributes, written as its JSON text."""

    def __str__(self) -> str:
        return _as_json(self)

    # A template calls a method that needs no argument: list.copy would give a plain list back.
    def copy(self) -> "JsonList":
        """Return a shallow copy, written as JSON too."""
        return JsonList(self)


class JsonPair(tuple):
    """A key and its value from an object's items, written as a JSON array."""

    # A tuple, not a JsonList: json.dumps and pickle (the render child gets its context pickled)
    # read a dict subclass through its items() and refuse any item but a 2-tuple.
    def __str__(self) -> str:
        return _as_json(self)


class JsonObject(dict):
    """An object from a contact's attributes, written as its JSON text."""

    def __str__(self) -> str:
        return _as_json(self)

    # A template calls a method that needs no argument ({{ attributes.plan.items }}): dict's own
    # give views and a plain dict, which Python spells dict_items([...]) and {'k': ...}.
    def items(self) -> JsonList:  # type: ignore[override]
        """Return the key and value pairs, written as JSON and unpacked by {% for k, v in %}."""
        return JsonList(JsonPair(pair) for pair in super().items())

    def keys(self) -> JsonList:  # type: ignore[override]
        """Return the keys, written as JSON."""
        return JsonList(self)

    def values(self) -> JsonList:  # type: ignore[override]
        """Return the values, written as JSON."""
        return JsonList(super().values())

    def copy(self) -> "JsonObject":
        """Return a shallow copy, written as JSON too."""
        return JsonObject(self)


def attribute_values(value: object) -> object:
    """Return an attribute's value with every list, tuple and object in it written as JSON when shown."""
    # Plain lists, tuples and dicts only. A JsonList or JsonObject was built here, from what was: what
    # it holds is written as JSON already, and is not walked again, so that a filter's result costs
    # its own length, not that of all nested in it. A named tuple ({% regroup %}'s groups) keeps the
    # attributes a template reads (.grouper, .list).
    if type(value) is list or type(value) is tuple:
        return JsonList(attribute_values(item) for item in value)
    if type(value) is dict:
        return JsonObject({key: attribute_values(item) for key, item in value.items()})
    return value


def attributes_shown(attributes: object) -> object:
    """Return a contact's attributes, or a value a filter made of them, as a template sees them
    (attribute_values); nested too deep to walk, as they are: handing them to the renderer then fails
    that contact's email with the reason."""
    try:
        return attribute_values(attributes)
    except RecursionError:
        return attributes
