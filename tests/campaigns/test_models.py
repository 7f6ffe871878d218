import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import models
from campaigns.models import Contact, ListMembership, Suppression
from tests.factories import ContactFactory, ContactListFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


def test_contact_email_is_stored_trimmed_and_lowercased():
    contact = ContactFactory(email="  Ada.Lovelace@Example.COM ")
    contact.refresh_from_db()
    assert contact.email == "ada.lovelace@example.com"


def test_contact_email_unique_regardless_of_case():
    ContactFactory(email="ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(email="ADA@Example.com")
    assert Contact.objects.count() == 1


def test_database_rejects_uppercase_email_written_around_save():
    # bulk_create skips save(); the check constraint still keeps the address canonical.
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.bulk_create([Contact(email="Grace@Example.com")])
    assert not Contact.objects.exists()


def test_external_id_unique_when_set_and_optional():
    ContactFactory(external_id="")
    ContactFactory(external_id="")
    ContactFactory(external_id="crm-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(external_id="crm-1")
    assert Contact.objects.count() == 3


def test_contact_timezone_must_be_iana_name():
    contact = ContactFactory.build(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="IANA"):
        contact.full_clean()
    ContactFactory.build(timezone="Europe/Paris").full_clean()


def test_contact_is_on_a_list_once():
    contact, contact_list = ContactFactory(), ContactListFactory()
    ListMembership.objects.create(contact=contact, contact_list=contact_list)
    with pytest.raises(IntegrityError), transaction.atomic():
        ListMembership.objects.create(contact=contact, contact_list=contact_list)
    assert list(contact_list.contacts.all()) == [contact]


def test_suppression_email_unique_regardless_of_case():
    SuppressionFactory(email="Bounce@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        SuppressionFactory(email="bounce@example.com")
    assert Suppression.objects.get().email == "bounce@example.com"


def test_bad_default_rate_limit_fails_the_system_check(settings):
    from core.checks import api_default_rate_limit_check

    settings.API_DEFAULT_RATE_LIMIT = "lots"
    (error,) = api_default_rate_limit_check(None)
    assert error.id == "campanile.E001"
    settings.API_DEFAULT_RATE_LIMIT = "20/second"
    assert api_default_rate_limit_check(None) == []


@given(st.from_regex(models._PLAIN_ADDRESS, fullmatch=True).filter(lambda email: len(email) <= 254))
@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much])
def test_the_quick_address_shape_only_accepts_what_django_accepts(email):
    validate_email(email)  # Raises if the quick path would let through something Django refuses.


@pytest.mark.parametrize(
    "email",
    ["a..b@example.com", ".a@example.com", "a@-example.com", "a@example", "a@example.c", "a b@example.com"],
)
def test_email_validate_refuses_bad_addresses(email):
    with pytest.raises(ValidationError):
        models.email_validate(email)


@pytest.mark.parametrize(
    "email", ["o'brien@example.com", "user@[127.0.0.1]", "user@localhost", "user@bücher.example"]
)
def test_email_validate_falls_back_to_django_for_rarer_valid_shapes(email):
    validate_email(email)
    models.email_validate(email)
