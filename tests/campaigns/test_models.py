import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import Contact, ListMembership, Suppression
from tests.factories import CampaignFactory, ContactFactory, ContactListFactory, SuppressionFactory

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


@pytest.mark.parametrize("factory", [ContactFactory, SuppressionFactory])
def test_a_form_refuses_an_address_with_an_invisible_character_and_stores_one_spelling(factory):
    # The admin's forms call full_clean; the address rule answers on the email field.
    with pytest.raises(ValidationError) as refused:
        factory.build(email="x@example.com\u2060").full_clean()
    assert "U+2060" in refused.value.message_dict["email"][-1]

    row = factory.build(email="Info@Bücher.de")
    row.full_clean()
    assert row.email == "info@xn--bcher-kva.de"


@pytest.mark.parametrize("name", ["set\r\nBcc: evil@example.com", "a b", "x" * 65, "é"])
def test_a_campaigns_configuration_set_must_be_an_ses_name(name):
    with pytest.raises(ValidationError) as refused:
        CampaignFactory.build(configuration_set=name).full_clean(exclude=["lists", "steps"])
    assert "configuration_set" in refused.value.message_dict


def test_a_campaign_form_holds_its_sender_and_reply_to_to_one_clean_mailbox():
    campaign = CampaignFactory.build(
        from_email="demo@campanile.test, attacker@evil.test", reply_to="desk@campanile.test\u200b"
    )
    with pytest.raises(ValidationError) as refused:
        campaign.clean()
    assert "names 2 addresses" in refused.value.message_dict["from_email"][0]
    assert "U+200B" in refused.value.message_dict["reply_to"][0]

    campaign = CampaignFactory.build(from_email="Bücher <News@Bücher.de>", reply_to="Desk@Bücher.de")
    campaign.clean()
    assert (campaign.from_email, campaign.reply_to) == (
        "Bücher <news@xn--bcher-kva.de>",
        "desk@xn--bcher-kva.de",
    )


@pytest.mark.parametrize(
    "recurrence",
    ["*/-1 * * * *", "1,2,,3 * * * *", "0 9 * * " + "1," * 33 + "1"],
    ids=["negative step", "empty part", "longer than beat stores"],
)
def test_a_recurrence_celery_or_beat_cannot_take_is_a_validation_error(recurrence):
    from campaigns.models import validate_crontab

    with pytest.raises(ValidationError):
        validate_crontab(recurrence)


def test_the_break_a_contact_row_remembered_is_kept_as_its_first_break_on_upgrade():
    from datetime import UTC, datetime

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from campaigns.models import ContactBreak

    before = [("campaigns", "0030_contact_paused_at")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("campaigns", "Contact")
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    resting = old.objects.create(email="resting@example.com", paused_at=start, paused_until=end)
    unstarted = old.objects.create(email="older@example.com", paused_until=end)  # Before starts were kept.
    old.objects.create(email="reading@example.com")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    kept = ContactBreak.objects.order_by("contact_id").values_list("contact_id", "started_at", "ends_at")
    assert list(kept) == [(resting.pk, start, end), (unstarted.pk, unstarted.created_at, end)]
