"""Checks on text that some encoding or store cannot hold, shared by every app."""

import json
import unicodedata

from django.utils.formats import number_format
from django.utils.translation import ngettext


def holds_lone_surrogate(value: str) -> bool:
    """Tell whether text holds a lone surrogate (U+D800–U+DFFF): no character of any encoding, so
    no UTF-8 (a message, a signature's string, a database's text) can hold it."""
    return not value.isascii() and any("\ud800" <= char <= "\udfff" for char in value)


# Bidi embeddings, overrides and isolates reorder the text after them (a name could read as
# another); zero-width spaces and joiners-that-join-nothing make two names look the same. The
# marks a right-to-left name needs (U+200E, U+200F, U+061C) and the joiners of scripts and emoji
# (U+200C, U+200D) stay allowed.
_NAME_REFUSED = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff")


def text_unshowable(value: str) -> str | None:
    """Return the first character a one-line name shown to people may not hold, described, or None."""
    for char in value:
        if char in _NAME_REFUSED or unicodedata.category(char) in {"Cc", "Zl", "Zp", "Cs"}:
            return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()
    return None


def text_draws(text: str) -> bool:
    """Tell whether text holds a character that draws something: a letter, digit, punctuation mark
    or symbol (Unicode categories L, N, P, S) that is not default-ignorable (Hangul fillers,
    variation selectors…) nor the blank braille pattern nor U+FFFC. Spaces, zero-width and format
    characters (U+200B, U+00AD, U+200E, U+2060, U+FFF9–U+FFFB) draw nothing."""
    return any(unicodedata.category(char)[0] in "LNPS" and not _blank(ord(char)) for char in text)


# Unicode's Default_Ignorable_Code_Point ranges that hold letters or symbols (DerivedCoreProperties),
# U+2800, the braille pattern with no dots, U+1D159, the musical null notehead, a symbol made to take
# space without ink, and U+FFFC, the object replacement character, which Chromium draws 0 px wide (of
# every letter, digit, punctuation mark and symbol, the one it draws so or without ink, measured in
# its default fonts): characters that draw nothing.
_BLANK_RANGES = (
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xFFFC, 0xFFFC),
    (0x1BCA0, 0x1BCA3),
    (0x1D159, 0x1D159),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _blank(code: int) -> bool:
    return any(low <= code <= high for low, high in _BLANK_RANGES)


def text_encodable(value):
    """Return the value with every lone surrogate spelled out as a backslash escape, through dicts
    and lists: what repeats bad input back (an error, a refused row) must still be UTF-8."""
    if isinstance(value, dict):
        return {text_encodable(key): text_encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [text_encodable(item) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def text_as_json(value: object) -> str:
    """Return a value as its JSON text (null, true, {"a": 1}, "x"), as a message repeats what was sent:
    a Python repr (None, True, 'x') is neither what was sent nor JSON."""
    return text_encodable(json.dumps(value, ensure_ascii=False, default=str))


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
