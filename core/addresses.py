"""The one rule for email addresses and sender mailboxes; every path that takes one goes through it.

An address has one canonical stored form, so two spellings of a mailbox are one contact and a
suppression matches whatever spelling arrives later (docs/api.md, "Addresses"):

- surrounding whitespace is trimmed;
- a control or format character (Unicode Cc and Cf: zero-width spaces and joiners, the soft
  hyphen, byte-order marks…) or whitespace inside refuses the address: they are invisible, and
  mail systems drop or map them, so they would make a second contact for the same mailbox;
- the local part (before the @) must be ASCII: SES does not support SMTPUTF8 (RFC 6531); it is
  a dot-atom, unquoted (`"x"@example.com` is stored as `x@example.com`, other quoted forms are
  refused), and the domain is a name, never an IP literal;
- a non-ASCII domain is mapped with IDNA 2008 and UTS #46 (the `idna` package) to the ASCII form
  SES requires: `example。com` becomes `example.com`, `bücher.de` becomes `xn--bcher-kva.de`;
- the result is lower-cased and must pass Django's validate_email and fit 254 characters.

A sender (`from`, `reply_to`) is exactly one mailbox, optionally with a display name; its address
follows the same rule, and its display name holds no control, format or line-separating character.
Headers are built from the parsed parts (mailbox_canonical), never from the text as given.
"""

import re
import unicodedata
from dataclasses import dataclass
from email import errors as email_errors
from email.headerregistry import Address, AddressHeader, HeaderRegistry
from typing import cast

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, gettext_lazy, ngettext

#: The longest address SMTP carries (RFC 5321's path limit less its angle brackets).
ADDRESS_MAX_LENGTH = 254

# The everyday shape of an address, a strict subset of what the full rule accepts
# (tests/core/test_addresses.py checks that): one compiled match instead of the character scan,
# Django's two lazy regexes and their exception, which dominated bulk imports and the messages
# endpoint. Only addresses outside it pay for the slow path. ASCII only (re.ASCII): with
# IGNORECASE alone, [a-z] also matches "ſ", "ı", "İ" and the Kelvin sign, which the full rule maps
# ("x@ſhop.example" is x@shop.example) or refuses (in a local part).
_PLAIN = (
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,63}"
)
_PLAIN_ADDRESS = re.compile(_PLAIN, re.IGNORECASE | re.ASCII)
# A local part as RFC 5322's dot-atom: what needs no quotes. A quoted one names the same mailbox as
# its unquoted spelling when it has one, and would otherwise slip past a suppression.
_DOT_ATOM = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*", re.IGNORECASE | re.ASCII
)

# The everyday shape of a sender: a plain address, bare or as `Some Name <address>` with a name of
# letters, digits, spaces, `_`, `'` and `-` only, which the header parser reads the same way.
_NAME = r"[a-z0-9][a-z0-9 _'-]*"
_PLAIN_MAILBOX = re.compile(rf"(?:({_NAME}?) *)?<({_PLAIN})>|({_PLAIN})", re.IGNORECASE | re.ASCII)
_PLAIN_NAME = re.compile(_NAME, re.IGNORECASE | re.ASCII)

# Characters no address or display name may hold: invisible (format), control, and those that
# end a line somewhere (U+2028, U+2029; U+0085 is a control character).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

_KINDS = {
    "Zs": gettext_lazy("a space"),
    "Zl": gettext_lazy("a line separator"),
    "Zp": gettext_lazy("a paragraph separator"),
}

_headers = HeaderRegistry()

_TOLERATED_DEFECTS = (email_errors.ObsoleteHeaderDefect, email_errors.NonASCIILocalPartDefect)


def _refused_character(value: str, *, allow_spaces: bool) -> str | None:
    """Return a description of the first character value may not hold, or None."""
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or (not allow_spaces and char.isspace()):
            kind = _KINDS.get(unicodedata.category(char), gettext_lazy("an invisible or control character"))
            return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip() + f", {kind}"
    return None


def email_canonical(value: str) -> str:
    """Return an address's one stored form, or raise ValidationError naming it and saying why."""
    address = value.strip()
    if len(address) <= ADDRESS_MAX_LENGTH and _PLAIN_ADDRESS.fullmatch(address):
        return address.lower()
    return _email_canonical_fully(value)


def _email_canonical_fully(value: str) -> str:
    address = value.strip()
    refused = _refused_character(address, allow_spaces=False)
    if refused:
        raise _not_an_address(value, gettext("it contains %(character)s") % {"character": refused})
    local, at, domain = address.rpartition("@")
    if not (at and local and domain):
        raise _not_an_address(value)
    if not local.isascii():
        raise _not_an_address(
            value,
            gettext(
                "the part before the @ must be ASCII (Amazon SES cannot send to or from other addresses)"
            ),
        )
    if len(local) > 2 and local[0] == local[-1] == '"' and _DOT_ATOM.fullmatch(local[1:-1]):
        local = local[1:-1]  # "x"@example.com is x@example.com: one mailbox, one stored spelling.
    if not _DOT_ATOM.fullmatch(local):
        raise _not_an_address(
            value,
            gettext(
                "the part before the @ may hold letters, digits, dots and "
                "! # $ %% & ' * + / = ? ^ _ ` { | } ~ - only, unquoted"
            )
            % {},  # A format string, as its translation is: "%%" is one "%".
        )
    if domain.startswith("["):
        raise _not_an_address(value, gettext("write a domain name, not an IP address"))
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            why = gettext("its domain is not valid (%(why)s)") % {"why": exc}
            raise _not_an_address(value, why) from None
    address = f"{local}@{domain}".lower()
    if len(address) > ADDRESS_MAX_LENGTH:
        raise _not_an_address(value, gettext("over %(n)d characters") % {"n": ADDRESS_MAX_LENGTH})
    try:
        validate_email(address)
    except ValidationError:
        raise _not_an_address(value) from None
    return address


def _not_an_address(value: str, reason: str = "") -> ValidationError:
    """Return the error naming value as no valid address, and why when there is more to say."""
    if not reason:
        return ValidationError(gettext("%(value)s is not a valid address.") % {"value": repr(value)})
    words = {"value": repr(value), "reason": reason}
    return ValidationError(gettext("%(value)s is not a valid address: %(reason)s.") % words)


def _not_a_mailbox(value: str, reason: str = "", *, recipient: bool = False) -> ValidationError:
    """Return the error naming value as no valid sender (or recipient), and why (by default: what
    to give)."""
    reason = reason or gettext("give %(example)s") % {"example": _SENDER_EXAMPLE}
    words = {"value": repr(value), "reason": reason}
    if recipient:
        return ValidationError(gettext("%(value)s is not a valid recipient: %(reason)s.") % words)
    return ValidationError(gettext("%(value)s is not a valid sender: %(reason)s.") % words)


def email_validate(value: str) -> None:
    """Raise ValidationError unless value is a valid address (a validator for fields)."""
    email_canonical(value)


def email_normalize(value: str) -> str:
    """Return the stored form of an address to look it up by; a refused one is trimmed and lower-cased.

    For lookups and saves of values already checked: an address the rule refuses matches nothing.
    """
    try:
        return email_canonical(value or "")
    except ValidationError:
        return (value or "").strip().lower()


@dataclass(frozen=True)
class Mailbox:
    """One sender: its address in canonical form and its display name (maybe empty)."""

    address: str
    display_name: str = ""

    def __str__(self) -> str:
        if not self.display_name:
            return self.address
        if _PLAIN_NAME.fullmatch(self.display_name):  # Nothing to quote: the common case, quickly.
            return f"{self.display_name} <{self.address}>"
        # Address quotes a name with specials (commas, @, quotes), so it stays one mailbox.
        return str(Address(display_name=self.display_name, addr_spec=self.address))


_SENDER_EXAMPLE = gettext_lazy("one address, optionally with a name, e.g. Acme News <news@acme.com>")


def mailbox_parse(value: str, *, recipient: bool = False) -> Mailbox:
    """Return the one mailbox value names, or raise ValidationError naming it and saying why."""
    text = value.strip()
    plain = _PLAIN_MAILBOX.fullmatch(text)
    if plain and len(plain[2] or plain[3]) <= ADDRESS_MAX_LENGTH:
        name, address = plain[1] or "", plain[2] or plain[3]
        return Mailbox(address=address.lower(), display_name=" ".join(name.split()))
    return _mailbox_parse_fully(value, recipient=recipient)


def _mailbox_parse_fully(value: str, *, recipient: bool = False) -> Mailbox:
    text = value.strip()
    refused = _refused_character(text, allow_spaces=True)
    if refused:
        raise _not_a_mailbox(
            value, gettext("it contains %(character)s") % {"character": refused}, recipient=recipient
        )
    try:
        header = _headers("From", text)
    # The standard library's parser raises more than HeaderParseError on malformed text: an
    # AttributeError (". <a@b.example>"), a TypeError ("().@"), an IndexError.
    # And a RecursionError on comments nested a few hundred deep: it reads them recursively.
    except (ValueError, IndexError, AttributeError, TypeError, RecursionError, email_errors.HeaderParseError):
        raise _not_a_mailbox(value, recipient=recipient) from None
    # Obsolete but readable syntax passes (a period in a name: "Acme Inc. <news@acme.com>"); a
    # non-ASCII local part is left to the address rule, which says why; anything else unread fails.
    if any(not isinstance(defect, _TOLERATED_DEFECTS) for defect in header.defects):
        raise _not_a_mailbox(value, recipient=recipient)
    groups = cast(AddressHeader, header).groups
    if any(group.display_name is not None for group in groups):
        one = (
            gettext("a group of addresses is not one recipient")
            if recipient
            else gettext("a group of addresses is not one sender")
        )
        raise _not_a_mailbox(value, one, recipient=recipient)
    addresses = [address for group in groups for address in group.addresses]
    if len(addresses) != 1:
        named = ngettext(
            "it names %(n)d address; give %(example)s",
            "it names %(n)d addresses; give %(example)s",
            len(addresses),
        )
        raise _not_a_mailbox(
            value, named % {"n": len(addresses), "example": _SENDER_EXAMPLE}, recipient=recipient
        )
    (parsed,) = addresses
    name = parsed.display_name
    # Encoded words (=?utf-8?…?=) are decoded by now: the name is checked as it will be shown.
    refused = _refused_character(name, allow_spaces=True)
    if refused:
        raise _not_a_mailbox(
            value, gettext("its name contains %(character)s") % {"character": refused}, recipient=recipient
        )
    try:
        address = email_canonical(parsed.addr_spec)
    except ValidationError as exc:
        words = {"value": repr(value), "problem": exc.messages[0]}
        said = (
            gettext("%(value)s is not a valid recipient: %(problem)s")
            if recipient
            else gettext("%(value)s is not a valid sender: %(problem)s")
        )
        raise ValidationError(said % words) from None
    mailbox = Mailbox(address=address, display_name=name)
    try:
        str(mailbox)
    except (ValueError, IndexError, RecursionError, email_errors.HeaderParseError):
        raise _not_a_mailbox(value, recipient=recipient) from None
    return mailbox


def mailbox_canonical(value: str) -> str:
    """Return a sender's stored form: its one mailbox, re-written from the parsed parts."""
    return str(mailbox_parse(value))


#: What, written just before an address, makes the mention part of a longer one (`jimbo@x.test`
#: holds `bo@x.test`): letters, digits and the signs addresses commonly hold. Quotes, `=`, `/` and
#: the like, legal in an address but rare, stand around mentions in text (`'bo@x'`, `?user=bo@x`).
_JOINS_BEFORE = r"\w.+\-"


def address_mentions(email: str, *, encoded: bool = False) -> "re.Pattern[str]":
    """Return a pattern of the address written whole in text, in any case, never as part of a
    longer address: `bo@x.test` is not in `jimbo@x.test`, nor `ann@x.co` in `ann@x.com`. With
    `encoded` (text URL-encoded, as a link's query), an escape before it (`%3D`, `%2C`) is a
    separator, not part of the address."""
    before = rf"(?:(?<![{_JOINS_BEFORE}])|(?<=%[0-9A-Fa-f]{{2}}))" if encoded else rf"(?<![{_JOINS_BEFORE}])"
    return re.compile(rf"{before}{re.escape(email)}(?![\w\-]|\.[\w])", re.IGNORECASE | re.UNICODE)


def address_written_out(
    text: str, email: str, mark: str, *, cap: int | None = None, encoded: bool = False
) -> str:
    """Return text with each whole mention of the address replaced by mark (address_mentions);
    when text reached its cap (a column's length), a mention cut short at its end too, if the cut
    kept its `@` (less would be any word's start). The result never passes the cap."""
    written = address_mentions(email, encoded=encoded).sub(mark, text)
    if cap is None:
        return written
    if len(text) >= cap:
        at = email.find("@")
        for cut in range(min(len(email) - 1, len(written)), at, -1):
            head = written[:-cut]
            if written[-cut:].lower() == email[:cut].lower() and not re.search(rf"[{_JOINS_BEFORE}]$", head):
                written = head + mark
                break
    if len(written) > cap and written.endswith(mark):  # The mark stays whole: the text before it gives.
        return written[: -len(mark)][: max(cap - len(mark), 0)] + mark
    return written[:cap]
