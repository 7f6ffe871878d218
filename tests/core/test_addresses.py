"""The one address rule and the sender rule (core/addresses.py)."""

import contextlib
from email.utils import getaddresses

import pytest
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import addresses
from core.addresses import Mailbox, email_canonical, email_normalize, email_validate, mailbox_parse

# The probe's invisible characters, and their kin: each made a second spelling of a mailbox.
INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200d", "\u200c", "\u2028", "\x00", "\x85"]


@given(st.from_regex(addresses._PLAIN_ADDRESS, fullmatch=True).filter(lambda email: len(email) <= 254))
@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much])
def test_the_quick_address_shape_only_accepts_what_the_full_rule_accepts_alike(email):
    validate_email(email)  # Raises if the quick path would let through something Django refuses.
    assert addresses._email_canonical_fully(email) == email_canonical(email) == email.lower()


@pytest.mark.parametrize(
    "email",
    ["a..b@example.com", ".a@example.com", "a@-example.com", "a@example", "a@example.c", "a b@example.com"],
)
def test_email_validate_refuses_bad_addresses(email):
    with pytest.raises(ValidationError):
        email_validate(email)


@pytest.mark.parametrize(
    "email", ["o'brien@example.com", "a!b#c{d}@example.com", "user@localhost", "user@bücher.example"]
)
def test_email_validate_falls_back_to_django_for_rarer_valid_shapes(email):
    validate_email(email)
    email_validate(email)


@pytest.mark.parametrize("char", INVISIBLE)
@pytest.mark.parametrize("where", ["end", "local", "domain", "start"])
def test_an_address_with_an_invisible_or_control_character_is_refused_naming_it(char, where):
    email = {
        "end": f"x@example.com{char}",
        "local": f"x{char}y@example.com",
        "domain": f"x@exam{char}ple.com",
        "start": f"{char}x@example.com",
    }[where]
    if char.isspace() and where in ("start", "end"):
        # Whitespace to Python (U+2028, U+0085): trimmed around an address like a space.
        assert email_canonical(email) == "x@example.com"
        return

    with pytest.raises(ValidationError) as refused:
        email_canonical(email)

    assert f"U+{ord(char):04X}" in refused.value.messages[0]
    assert repr(email) in refused.value.messages[0]


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [('"x"@example.com', "x@example.com"), ('"X.Y"@EXAMPLE\u3002com', "x.y@example.com")],
)
def test_a_quoted_local_part_is_stored_as_its_unquoted_spelling(spelling, stored):
    assert email_canonical(spelling) == stored


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ('"x,y"@example.com', "unquoted"),
        ('"a@b"@example.com', "unquoted"),
        ('"x\\"@example.com', "unquoted"),
        ("user@[127.0.0.1]", "not an IP address"),
        ("user@[IPv6:2001:db8::1]", "not an IP address"),
    ],
)
def test_quoted_local_parts_without_a_plain_spelling_and_ip_literals_are_refused(email, says):
    with pytest.raises(ValidationError) as refused:
        email_canonical(email)
    assert says in refused.value.messages[0]


def test_whitespace_inside_an_address_is_refused_and_around_it_trimmed():
    assert email_canonical("  Ada@Example.com\t") == "ada@example.com"
    with pytest.raises(ValidationError, match="a space"):
        email_canonical("ada lovelace@example.com")


def test_a_non_ascii_local_part_is_refused_saying_why():
    with pytest.raises(ValidationError, match="before the @ must be ASCII"):
        email_canonical("jöhn@example.com")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("x@example\u3002com", "x@example.com"),  # An ideographic full stop is a dot in a domain.
        ("x@EXAMPLE\uff0ecom", "x@example.com"),  # So is a fullwidth one.
        ("Info@Bücher.DE", "info@xn--bcher-kva.de"),
        ("info@xn--bcher-kva.de", "info@xn--bcher-kva.de"),
        ("info@straße.de", "info@xn--strae-oqa.de"),  # IDNA 2008: ß is its own letter, not "ss".
    ],
)
def test_a_domain_has_one_ascii_form_whatever_its_spelling(spelling, canonical):
    assert email_canonical(spelling) == canonical
    assert email_normalize(spelling) == canonical


def test_a_domain_idna_refuses_is_refused_saying_why():
    with pytest.raises(ValidationError, match="its domain is not valid"):
        email_canonical("x@bü_cher.de")


def test_normalize_never_raises_and_an_address_it_cannot_map_matches_only_itself():
    assert email_normalize(" X@Example.com\u200b ") == "x@example.com\u200b"
    assert email_normalize("") == ""


@given(st.from_regex(addresses._PLAIN_MAILBOX, fullmatch=True).filter(lambda value: len(value) <= 254))
@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much])
def test_the_quick_sender_shape_reads_as_the_header_parser_reads_it(value):
    assert mailbox_parse(value) == addresses._mailbox_parse_fully(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("demo@campanile.test, attacker@evil.test", "it names 2 addresses"),
        ("e@evil.test,\u2028 <demo@campanile.test>", "U+2028 LINE SEPARATOR"),
        ("e@evil.test, <demo@campanile.test>", "it names 2 addresses"),
        ("Friends: a@campanile.test, b@campanile.test;", "a group"),
        ("", "it names 0 addresses"),
        ("nobody", "give one address"),
        ("Demo <demo@campanile.test> trailing", "give one address"),
        ("Demo\u200b <demo@campanile.test>", "U+200B"),
        ("Demo\u2029 <demo@campanile.test>", "U+2029"),
        ("Demo\x85 <demo@campanile.test>", "U+0085"),
        ("=?utf-8?q?Demo=E2=80=A8x?= <demo@campanile.test>", "its name contains U+2028"),
        ("Demo <demo@campanile.test\u200b>", "U+200B"),
        ("Demo <jöhn@campanile.test>", "must be ASCII"),
        ("demo@campanile.test\r\nBcc: victim@example.com", "U+000D"),
    ],
)
def test_a_sender_is_exactly_one_mailbox_with_a_clean_name(value, says):
    with pytest.raises(ValidationError) as refused:
        mailbox_parse(value)
    assert says in refused.value.messages[0]


@pytest.mark.parametrize(
    ("value", "mailbox"),
    [
        ("demo@campanile.test", Mailbox("demo@campanile.test")),
        ("Campanile Demo <Demo@Campanile.test>", Mailbox("demo@campanile.test", "Campanile Demo")),
        ("Acme Inc. <news@acme.com>", Mailbox("news@acme.com", "Acme Inc.")),
        ('"e@evil.test, x" <demo@campanile.test>', Mailbox("demo@campanile.test", "e@evil.test, x")),
        ("Bücher <info@bücher.de>", Mailbox("info@xn--bcher-kva.de", "Bücher")),
        ("<demo@campanile.test>", Mailbox("demo@campanile.test")),
    ],
)
def test_a_sender_reads_as_its_one_mailbox_in_stored_form(value, mailbox):
    assert mailbox_parse(value) == mailbox


@pytest.mark.parametrize(
    ("spelled", "address"),
    [
        ("x@\u017fhop.example", "x@shop.example"),
        ("x@\u212aite.example", "x@kite.example"),
        ("x@\u0130.example", "x@xn--i-9bb.example"),
    ],
)
def test_a_letter_that_folds_to_ascii_is_read_by_the_full_rule_never_the_quick_one(spelled, address):
    # "ſ" (long s), the Kelvin sign and "İ" match [a-z] under a Unicode IGNORECASE: stored as
    # written, "x@ſhop.example" would pass the suppression of x@shop.example, the mailbox it is.
    assert email_canonical(spelled) == address


@pytest.mark.parametrize(
    "value", ["\u017f@campanile.test", "\u0131x@campanile.test", "News <n\u0131@campanile.test>"]
)
def test_a_local_part_with_a_letter_that_folds_to_ascii_is_refused(value):
    with pytest.raises(ValidationError):
        email_canonical(value.split("<")[-1].rstrip(">"))
    with pytest.raises(ValidationError):
        mailbox_parse(value)


@pytest.mark.parametrize(
    "value", [". <news@shop.example>", ":; <news@shop.example>", ".:", ":;@", "é@[", "().@"]
)
def test_a_sender_the_header_parser_chokes_on_is_refused_with_a_message(value):
    # Python's header parser raises AttributeError or TypeError on some of these: a 500 on the
    # API and the admin, and a stopped batch for a sender stored before the rule.
    with pytest.raises(ValidationError, match="is not a valid sender"):
        mailbox_parse(value)


@given(st.text(st.characters(codec="ascii"), max_size=24))
@settings(max_examples=3000, derandomize=True)
def test_any_sender_text_is_a_mailbox_or_a_validation_error_never_a_crash(value):
    with contextlib.suppress(ValidationError):
        mailbox_parse(value)


_NAME_CHARACTERS = st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))


@given(name=st.text(_NAME_CHARACTERS, max_size=40).map(str.strip))
@settings(max_examples=300, derandomize=True)
def test_a_composed_sender_header_names_exactly_its_one_mailbox_whatever_the_name(name):
    mailbox = Mailbox("demo@campanile.test", name)

    # What Django writes into From, the way the delivery engine hands it the sender.
    header = EmailMessage("s", "b", str(mailbox), ["to@example.com"]).message()["From"]

    ((_, address),) = getaddresses([header])
    assert address == "demo@campanile.test"
    assert mailbox_parse(str(mailbox)).address == "demo@campanile.test"


@pytest.mark.parametrize("recipient", [False, True])
def test_a_sender_of_comments_nested_hundreds_deep_is_refused_never_a_crash(recipient):
    from django.core.exceptions import ValidationError

    from core.addresses import mailbox_parse

    with pytest.raises(ValidationError):
        mailbox_parse("(" * 300 + "x@example.com", recipient=recipient)
