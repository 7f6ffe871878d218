"""CSS's tokens and declarations, as CSS Syntax 3 reads them and Chromium does: its blanks are CSS's
five, its case ASCII's, and an escape is part of the word it is in."""

import re
import string
from collections.abc import Iterator
from typing import NamedTuple


class CssToken(NamedTuple):
    """A token of CSS Syntax 3: its kind (a bracket, `;`, `:` or `,` is its own character), a
    name's or a delim's text (escapes decoded) or a number's (ASCII), and a dimension's unit (lower
    case; "%" for a percentage)."""

    kind: str
    text: str = ""
    unit: str = ""


#: The token that closes the block each opens: a function's arguments end at `)`.
_CLOSER = {"(": ")", "[": "]", "{": "}", "function": ")"}


def css_declarations(style: str) -> Iterator[tuple[str, list[CssToken], bool]]:
    """Yield a declaration list's declarations (its name in lower case, its value's tokens trimmed
    and whether it is `!important`), split as CSS splits them: a `;` in a string, a URL, a bracket
    or a function splits nothing, an at-rule ends at its block, and what starts with no name is
    no declaration."""
    chunk: list[CssToken] = []
    closers: list[str] = []
    for token in css_tokens(style):
        if token.kind == ";" and not closers:
            yield from _declaration(chunk, balanced=True)
            chunk = []
            continue
        if token.kind == "ws" and not chunk:
            continue
        chunk.append(token)
        if closers and token.kind == closers[-1]:
            closers.pop()
            if not closers and token.kind == "}" and chunk[0].kind == "at-keyword":
                chunk = []  # An at-rule ends with its block: what follows is a declaration again.
        elif token.kind in _CLOSER:
            closers.append(_CLOSER[token.kind])
    yield from _declaration(chunk, balanced=not closers)


def _declaration(chunk: list[CssToken], *, balanced: bool) -> Iterator[tuple[str, list[CssToken], bool]]:
    """Yield the declaration a chunk of tokens makes, if it makes one: a name, a colon, a value.
    An `!important` inside a block the style leaves open at its end marks nothing."""
    colon = 1
    while colon < len(chunk) and chunk[colon].kind == "ws":
        colon += 1
    if not chunk or chunk[0].kind != "ident" or colon >= len(chunk) or chunk[colon].kind != ":":
        return
    value = css_trimmed(chunk[colon + 1 :])
    important = False
    if balanced and value and value[-1].kind == "ident" and css_lower(value[-1].text) == "important":
        bang = len(value) - 2
        while bang >= 0 and value[bang].kind == "ws":
            bang -= 1
        if bang >= 0 and value[bang] == ("delim", "!", ""):
            important, value = True, css_trimmed(value[:bang])
    yield css_lower(chunk[0].text), value, important


def css_trimmed(tokens: list[CssToken]) -> list[CssToken]:
    """Return tokens without the blanks at their ends."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].kind == "ws":
        start += 1
    while end > start and tokens[end - 1].kind == "ws":
        end -= 1
    return tokens[start:end]


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def css_lower(text: str) -> str:
    """Lower an ASCII case: CSS's names are ASCII case-insensitive (a Kelvin sign is no k)."""
    return text.translate(_ASCII_LOWER)


#: CSS's input, preprocessed: CR and FF are line feeds, a NUL is U+FFFD (CR LF is replaced first).
_PREPROCESSED = str.maketrans({"\r": "\n", "\f": "\n", "\0": "\ufffd"})
#: CSS's blanks, once preprocessed (CR and FF are line feeds by then): never Unicode's others.
CSS_BLANKS = " \t\n"
_BLANK_RUN = re.compile(r"[ \t\n]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: A run of a name's code points: ASCII letters, digits, `_`, `-` and any code point past ASCII.
_NAME_RUN = re.compile(r"[A-Za-z0-9_\-\x80-\U0010ffff]+")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]{1,6}")
#: What a string holds up to its next quote, escape or line break.
_STRING_RUN = {'"': re.compile(r'[^"\\\n]+'), "'": re.compile(r"[^'\\\n]+")}
#: What an unquoted URL may not hold (CSS Syntax 3's non-printable code points, quotes, `(`).
_NOT_IN_URL = frozenset("\"'(\x7f" + "".join(map(chr, [*range(0, 9), 11, *range(14, 32)])))


def css_tokens(text: str) -> Iterator[CssToken]:
    """Yield CSS's tokens of a text (CSS Syntax 3's tokenizer; comments make none)."""
    css = text.replace("\r\n", "\n").translate(_PREPROCESSED)
    at, end = 0, len(css)
    while at < end:
        char = css[at]
        if css.startswith("/*", at):
            close = css.find("*/", at + 2)
            at = end if close < 0 else close + 2
        elif char in CSS_BLANKS:
            blanks = _BLANK_RUN.match(css, at)
            at = blanks.end() if blanks else at + 1
            yield CssToken("ws")
        elif char in "\"'":
            token, at = _string(css, at + 1, char)
            yield token
        elif number := _NUMBER.match(css, at):
            at = number.end()
            if _starts_name(css, at):
                unit, at = _name(css, at)
                yield CssToken("dimension", number.group(), css_lower(unit))
            elif css.startswith("%", at):
                at += 1
                yield CssToken("percentage", number.group(), "%")
            else:
                yield CssToken("number", number.group())
        elif css.startswith("-->", at) or css.startswith("<!--", at):
            at += 3 if char == "-" else 4
            yield CssToken("cdo-cdc")
        elif _starts_name(css, at):
            token, at = _ident_like(css, at)
            yield token
        elif char in "@#" and (_starts_name(css, at + 1) or (char == "#" and _NAME_RUN.match(css, at + 1))):
            name, at = _name(css, at + 1)
            yield CssToken("at-keyword" if char == "@" else "hash", name)
        elif char in "()[]{};:,":
            at += 1
            yield CssToken(char)
        else:
            at += 1
            yield CssToken("delim", char)


def _name_start(char: str) -> bool:
    """Tell whether a code point may start a name: an ASCII letter, `_`, or any past ASCII."""
    return char == "_" or "a" <= char <= "z" or "A" <= char <= "Z" or char >= "\x80"


def _escapes(css: str, at: int) -> bool:
    """Tell whether a valid escape starts here: a backslash before anything but a line break."""
    return css.startswith("\\", at) and css[at + 1 : at + 2] != "\n"


def _starts_name(css: str, at: int) -> bool:
    """Tell whether an identifier starts here (CSS Syntax 3's check of three code points)."""
    first = css[at : at + 1]
    if first == "-":
        second = css[at + 1 : at + 2]
        return second == "-" or (second != "" and _name_start(second)) or _escapes(css, at + 1)
    return (first != "" and _name_start(first)) or _escapes(css, at)


def _name(css: str, at: int) -> tuple[str, int]:
    """Return the name that starts here, escapes decoded, and where it ends."""
    parts = []
    while True:
        if run := _NAME_RUN.match(css, at):
            parts.append(run.group())
            at = run.end()
        elif _escapes(css, at):
            decoded, at = _escaped(css, at + 1)
            parts.append(decoded)
        else:
            return "".join(parts), at


def _escaped(css: str, at: int) -> tuple[str, int]:
    """Return the code point an escape (its backslash before `at`) stands for, and where it ends:
    `\\6e ` and `\\n` are both an n; a NUL, a surrogate, a code point past Unicode's or the text's
    end is U+FFFD."""
    if at >= len(css):
        return "\ufffd", at
    if digits := _HEX_DIGITS.match(css, at):
        at = digits.end()
        if css[at : at + 1] in ("\n", "\t", " ") and at < len(css):
            at += 1  # One blank ends the escape and is part of it.
        code = int(digits.group(), 16)
        return (chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"), at
    return css[at], at + 1


def _string(css: str, at: int, quote: str) -> tuple[CssToken, int]:
    """Return the string token that opened before `at`, and where it ends: a line break ends it as a
    bad string (what follows is read again), a backslash before one continues it."""
    while at < len(css):
        if run := _STRING_RUN[quote].match(css, at):
            at = run.end()
            continue
        char = css[at]
        if char == quote:
            return CssToken("string"), at + 1
        if char == "\n":
            return CssToken("bad-string"), at
        at = at + 2 if css[at + 1 : at + 2] == "\n" else _escaped(css, at + 1)[1]
    return CssToken("string"), at


def _ident_like(css: str, at: int) -> tuple[CssToken, int]:
    """Return the identifier, function or URL token that starts here, and where it ends."""
    name, at = _name(css, at)
    if not css.startswith("(", at):
        return CssToken("ident", name), at
    at += 1
    if css_lower(name) == "url":
        inside = at
        while inside < len(css) and css[inside] in CSS_BLANKS:
            inside += 1
        if css[inside : inside + 1] not in ('"', "'"):
            return _url(css, inside)
    return CssToken("function", name), at


def _url(css: str, at: int) -> tuple[CssToken, int]:
    """Return an unquoted URL's token, its `url(` and blanks before `at`, and where it ends: one
    holding a quote, a `(`, a blank inside or a control is bad, and reaches to the next `)`."""
    while at < len(css):
        char = css[at]
        if char == ")":
            return CssToken("url"), at + 1
        if char in CSS_BLANKS:
            while at < len(css) and css[at] in CSS_BLANKS:
                at += 1
            if at >= len(css) or css[at] == ")":
                return CssToken("url"), at + 1
        elif char not in _NOT_IN_URL and (char != "\\" or _escapes(css, at)):
            at = _escaped(css, at + 1)[1] if char == "\\" else at + 1
            continue
        while at < len(css) and css[at] != ")":  # A bad URL's remnants: an escaped `)` ends none.
            at = _escaped(css, at + 1)[1] if _escapes(css, at) else at + 1
        return CssToken("bad-url"), at + 1
    return CssToken("url"), at
