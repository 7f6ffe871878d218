"""A page's History as the person asking may see it: what it says of related rows (a contact's
memberships, signups, consent history) only to who may see those rows."""

import json

from django.contrib.admin.models import LogEntry
from django.utils.text import camel_case_to_spaces, get_text_list
from django.utils.translation import gettext, override

from campaigns.admin_access import relation_rows_model, user_sees_model

#: The keys of a change message's parts (Django's construct_change_message writes them).
_KINDS = ("added", "changed", "deleted")


def _names_stored(model) -> set[str]:
    """Return the names a change message may store for a model's rows: its verbose name, untranslated
    as Django stores it, and the one derived from its class, which entries written before the
    model was given a verbose name hold."""
    with override(None):
        return {str(model._meta.verbose_name), camel_case_to_spaces(model._meta.object_name)}


def history_names_hidden(user, model) -> dict[str, str]:
    """Return, for each name under which a change message may speak of rows related to the model
    that this staff member may not see, the plural a note says instead."""
    hidden: dict[str, str] = {}
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None:
            continue
        rows = relation_rows_model(field)
        if rows is not model and not user_sees_model(user, rows):
            hidden |= dict.fromkeys(_names_stored(rows), str(rows._meta.verbose_name_plural))
    return hidden


def change_message_seen(change_message: str, hidden: dict[str, str]) -> str:
    """Return a change message without its parts about rows hidden (by name), a note saying which
    kind of rows changed in their stead; a message with no such part is returned as it is."""
    if not change_message.startswith("["):
        return change_message
    try:
        parts = json.loads(change_message)
    except json.JSONDecodeError:
        return change_message
    kept, left_out = [], []
    for part in parts:
        named: object = next((part[kind] for kind in _KINDS if isinstance(part, dict) and part.get(kind)), {})
        name = named.get("name") if isinstance(named, dict) else None
        if isinstance(name, str) and name in hidden:
            left_out.append(hidden[name])
        else:
            kept.append(part)
    if not left_out:
        return change_message
    shown = LogEntry(change_message=json.dumps(kept)).get_change_message()
    what = get_text_list(list(dict.fromkeys(left_out)), gettext("and"))
    note = gettext("Changed %(what)s (hidden).") % {"what": what}
    # Plain text, never JSON again: LogEntry.get_change_message gives it as it is.
    return f"{shown} {note}".strip()


def history_page_seen(response, user, model):
    """Rewrite the entries of a History page (Django's history_view) for what this staff member may
    see of the rows related to the model; the entries are never saved."""
    context = getattr(response, "context_data", None) or {}
    page = context.get("action_list")
    if page is None:
        return response  # A redirect: the object is gone.
    hidden = history_names_hidden(user, model)
    entries = list(page.object_list)
    if hidden:
        for entry in entries:
            entry.change_message = change_message_seen(entry.change_message, hidden)
    page.object_list = entries
    return response
