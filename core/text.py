"""Checks on text that some encoding or store cannot hold, shared by every app."""

from django.utils.formats import number_format
from django.utils.translation import ngettext


def holds_lone_surrogate(value: str) -> bool:
    """Tell whether text holds a lone surrogate (U+D800–U+DFFF): no character of any encoding, so
    no UTF-8 (a message, a signature's string, a database's text) can hold it."""
    return not value.isascii() and any("\ud800" <= char <= "\udfff" for char in value)


def text_encodable(value):
    """Return the value with every lone surrogate spelled out as a backslash escape, through dicts
    and lists: what repeats bad input back (an error, a refused row) must still be UTF-8."""
    if isinstance(value, dict):
        return {key: text_encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [text_encodable(item) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def grouped(number: int) -> str:
    """Write a count grouped as the reader's language groups digits (10,000 in English, 10.000 in German)."""
    return number_format(number, force_grouping=True)


#: Words (addresses, refused entries) a message names before it says how many more.
SHOWN_IN_A_MESSAGE = 20


def words_shown(words: list[str]) -> str:
    """Return the first words, comma-separated, and how many more there are."""
    shown = ", ".join(words[:SHOWN_IN_A_MESSAGE])
    if len(words) > SHOWN_IN_A_MESSAGE:
        more = len(words) - SHOWN_IN_A_MESSAGE
        shown += " " + ngettext("and %(n)s more", "and %(n)s more", more) % {"n": grouped(more)}
    return shown
