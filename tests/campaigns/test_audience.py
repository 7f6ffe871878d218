"""The audience: addresses, the bulk upsert, suppression and unsubscribing."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import audience
from campaigns.audience import address_validate, contact_bulk_upsert
from campaigns.consent import contact_unsubscribe
from campaigns.models import ConsentChange, Contact, ListMembership, Suppression
from campaigns.suppressions import suppression_add
from tests.factories import ContactFactory, ContactListFactory, StepExecutionFactory, sendable_campaign
from tracking.unsubscribe import step_execution_leave_lists

pytestmark = pytest.mark.django_db


def test_address_validate_rejects_line_breaks_and_accepts_display_names():
    address_validate(value="Acme News <news@acme.test>", field="from_email")
    with pytest.raises(ValidationError):
        address_validate(value="news@acme.test\r\nBcc: victim@example.com", field="from_email")
    with pytest.raises(ValidationError):
        address_validate(value="nobody", field="from_email")


def test_suppression_add_is_idempotent_and_keeps_first_reason():
    first, created = suppression_add(
        email="X@Example.com", reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES
    )
    again, created_again = suppression_add(
        email="x@example.com", reason=Suppression.Reason.MANUAL, source=Suppression.Source.ADMIN
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert again.reason == Suppression.Reason.COMPLAINT


@pytest.mark.parametrize("reason", ["complaint", "hard_bounce", "account_suppression"])
def test_a_bounce_or_complaint_replaces_a_kept_unsubscribe(reason):
    suppression_add(
        email="x@example.com", reason=Suppression.Reason.UNSUBSCRIBE, source=Suppression.Source.API
    )
    row, created = suppression_add(email="x@example.com", reason=reason, source=Suppression.Source.SES)
    assert not created
    assert Suppression.objects.get(email="x@example.com").reason == row.reason == reason
    # And an unsubscribe never weakens another reason.
    suppression_add(
        email="x@example.com", reason=Suppression.Reason.UNSUBSCRIBE, source=Suppression.Source.API
    )
    assert Suppression.objects.get(email="x@example.com").reason == reason


def test_contact_unsubscribe_stamps_once():
    contact = ContactFactory()
    contact_unsubscribe(contact=contact)
    stamped = contact.unsubscribed_at
    contact_unsubscribe(contact=contact)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at == stamped


def test_bulk_upsert_twice_in_one_transaction(transactional_db):
    from django.db import transaction as db_transaction

    with db_transaction.atomic():
        first = contact_bulk_upsert(rows=[(0, {"email": "a@example.com", "first_name": "A"})])
        second = contact_bulk_upsert(rows=[(0, {"email": "a@example.com", "last_name": "B"})])
    assert (first.created, second.updated) == (1, 1)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name) == ("A", "B")


def test_bulk_upsert_writes_only_rows_that_change_something():
    contact_bulk_upsert(
        rows=[
            (0, {"email": "same@example.com", "first_name": "Same", "attributes": {"plan": "pro"}}),
            (1, {"email": "moved@example.com", "first_name": "Before"}),
        ]
    )
    stamps = dict(Contact.objects.values_list("email", "updated_at"))

    result = contact_bulk_upsert(
        rows=[
            (0, {"email": "same@example.com", "first_name": "Same", "attributes": {"plan": "pro"}}),
            (1, {"email": "moved@example.com", "first_name": "After"}),
            (2, {"email": "fresh@example.com"}),
        ]
    )

    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    after = dict(Contact.objects.values_list("email", "updated_at"))
    assert after["same@example.com"] == stamps["same@example.com"]
    assert after["moved@example.com"] > stamps["moved@example.com"]
    assert Contact.objects.get(email="moved@example.com").first_name == "After"


def test_bulk_upsert_keeps_the_time_an_unsubscribed_contact_left():
    left = timezone.now() - timedelta(days=30)
    ContactFactory(email="gone@example.com", status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=left)

    result = contact_bulk_upsert(
        rows=[(0, {"email": "gone@example.com", "first_name": "Renamed", "status": "unsubscribed"})]
    )

    assert result.updated == 1
    contact = Contact.objects.get()
    assert (contact.first_name, contact.unsubscribed_at) == ("Renamed", left)
    # Subscribing them again takes the explicit flag and a reason (F13); it clears the time.
    contact_bulk_upsert(
        rows=[(0, {"email": "gone@example.com", "status": "subscribed"})],
        resubscribe=True,
        reason="Opted in again at checkout.",
    )
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (Contact.Status.SUBSCRIBED, None)


def _raced_once(monkeypatch, **fields) -> None:
    """Have another writer add a contact just after the upsert first looked for its addresses."""
    match = audience._contacts_matching

    def match_then_race(**kwargs):
        matching = match(**kwargs)
        if not Contact.objects.filter(email=fields["email"]).exists():
            ContactFactory(**fields)
        return matching

    monkeypatch.setattr(audience, "_contacts_matching", match_then_race)


def test_bulk_upsert_of_an_address_added_meanwhile_updates_it(postgres_only, monkeypatch):
    # Another import adds one of the "new" addresses after this one looked.
    _raced_once(monkeypatch, email="raced@example.com", first_name="Theirs")
    result = contact_bulk_upsert(
        rows=[(0, {"email": "raced@example.com", "first_name": "Ours"}), (1, {"email": "calm@example.com"})]
    )

    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    assert Contact.objects.get(email="raced@example.com").first_name == "Ours"
    assert Contact.objects.filter(email="calm@example.com").exists()


def test_an_unsubscribe_in_a_row_whose_address_was_added_meanwhile_is_applied_and_audited(
    postgres_only, monkeypatch
):
    _raced_once(monkeypatch, email="raced@example.com", first_name="Theirs")

    result = contact_bulk_upsert(
        rows=[
            (0, {"email": "raced@example.com", "status": Contact.Status.UNSUBSCRIBED, "first_name": "Mine"})
        ]
    )

    contact = Contact.objects.get(email="raced@example.com")
    assert (result.updated, result.errors) == (1, [])
    assert (contact.first_name, contact.status) == ("Mine", Contact.Status.UNSUBSCRIBED)
    assert contact.unsubscribed_at is not None
    change = ConsentChange.objects.get(contact=contact)
    assert (change.from_status, change.to_status) == (Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED)


def test_a_subscribe_in_a_row_whose_address_unsubscribed_meanwhile_is_kept_out_and_reported(
    postgres_only, monkeypatch
):
    _raced_once(monkeypatch, email="raced@example.com", status=Contact.Status.UNSUBSCRIBED)

    result = contact_bulk_upsert(
        rows=[(3, {"email": "raced@example.com", "status": Contact.Status.SUBSCRIBED, "first_name": "Mine"})]
    )

    contact = Contact.objects.get(email="raced@example.com")
    assert result.kept_unsubscribed == [{"row": 3, "email": "raced@example.com"}]
    assert (contact.first_name, contact.status) == ("Mine", Contact.Status.UNSUBSCRIBED)


@pytest.mark.django_db(transaction=True)
def test_an_unsubscribe_landing_while_its_contact_is_deleted_is_kept_never_an_error(postgres_only):
    import threading

    from django.db import connection, transaction

    from campaigns.consent import contact_unsubscribe, contacts_delete

    contact = ContactFactory(email="race@example.com")
    unsubscribed = threading.Event()

    def unsubscribe():
        try:
            with transaction.atomic():
                contact_unsubscribe(contact=contact)
                unsubscribed.set()
                threading.Event().wait(1)  # Holds the row while the delete asks for it.
        finally:
            connection.close()

    worker = threading.Thread(target=unsubscribe)
    worker.start()
    assert unsubscribed.wait(10)
    assert contacts_delete(contacts=Contact.objects.filter(pk=contact.pk), source="api") == 1
    worker.join()
    assert Suppression.objects.get(email="race@example.com").reason == Suppression.Reason.UNSUBSCRIBE


@pytest.mark.django_db(transaction=True)
def test_a_bulk_upsert_locks_contacts_in_email_order_whatever_the_rows_order(postgres_only):
    # Two upserts of the same contacts in opposite orders deadlocked: each held a row the other
    # wanted. Locked in email order, one waiting at "m" holds "a" alone, never "z".
    import threading
    import time

    from django.db import connection, transaction

    for email in ("a@example.com", "m@example.com", "z@example.com"):
        ContactFactory(email=email)
    holding, release = threading.Event(), threading.Event()

    def hold_m():
        try:
            with transaction.atomic():
                Contact.objects.select_for_update().get(email="m@example.com")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def upsert():
        try:
            rows = [
                (n, {"email": e, "first_name": "New"})
                for n, e in enumerate(["z@example.com", "a@example.com", "m@example.com"])
            ]
            with transaction.atomic():
                contact_bulk_upsert(rows=rows)
        finally:
            connection.close()

    holder, writer = threading.Thread(target=hold_m), threading.Thread(target=upsert)
    holder.start()
    assert holding.wait(10)
    writer.start()
    try:
        with connection.cursor() as cursor:
            for _ in range(100):  # Until the upsert waits for "m".
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the upsert never waited for the held row")
            with transaction.atomic():
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
                cursor.execute(
                    "SELECT id FROM campaigns_contact WHERE email = 'z@example.com' FOR UPDATE NOWAIT"
                )
                assert cursor.fetchone()  # "z" is free: the upsert locks it only after "m".
    finally:
        release.set()
        holder.join(10)
        writer.join(10)
    assert set(Contact.objects.values_list("first_name", flat=True)) == {"New"}


def test_a_bulk_keeps_each_contact_off_only_the_lists_they_left_and_adds_everyone_else():
    campaign = sendable_campaign(contacts=1)
    news, offers = campaign.lists.get(), ContactListFactory()
    leaver = news.contacts.get()
    row = StepExecutionFactory(step=campaign.steps.get(), contact=leaver, email=leaver.email)
    step_execution_leave_lists(execution=row)  # Their own click on the email's unsubscribe page.
    ContactFactory(email="member@example.com")
    emails = [f"row{n:03}@example.com" for n in range(60)]
    emails[30:30] = [leaver.email, "member@example.com"]

    result = contact_bulk_upsert(
        rows=[(number, {"email": email}) for number, email in enumerate(emails)],
        list_ids=(news.pk, offers.pk),
    )

    assert result.kept_off_lists == [{"row": 30, "email": leaver.email, "lists": [news.pk]}]
    assert (result.created, result.errors, result.kept_unsubscribed) == (60, [], [])
    assert set(news.contacts.values_list("email", flat=True)) == set(emails) - {leaver.email}
    assert set(offers.contacts.values_list("email", flat=True)) == set(emails)  # They left news alone.
    assert ListMembership.objects.count() == 2 * len(emails) - 1


def test_a_bulk_reports_a_subscribe_of_one_yet_to_confirm_apart_from_one_who_unsubscribed():
    ContactFactory(email="waiting@example.com", status=Contact.Status.PENDING)
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    subscribe = Contact.Status.SUBSCRIBED

    result = contact_bulk_upsert(
        rows=[
            (0, {"email": "left@example.com", "status": subscribe}),
            (1, {"email": "waiting@example.com", "status": subscribe, "first_name": "Wanda"}),
        ]
    )

    assert result.kept_pending == [{"row": 1, "email": "waiting@example.com"}]
    assert result.kept_unsubscribed == [{"row": 0, "email": "left@example.com"}]
    waiting = Contact.objects.get(email="waiting@example.com")
    assert (waiting.status, waiting.first_name) == (Contact.Status.PENDING, "Wanda")


def test_a_bulk_upsert_names_whose_an_external_id_is_only_to_a_caller_who_may_read_contacts():
    ContactFactory(email="owner@example.com", first_name="Olga", external_id="crm-17")
    row = [(0, {"email": "newcomer@example.com", "external_id": "crm-17"})]

    unsaid = contact_bulk_upsert(rows=row)
    said = contact_bulk_upsert(rows=row, may_read_contacts=True)

    assert unsaid.errors == [
        {"row": 0, "email": "newcomer@example.com", "errors": {"external_id": ["Taken by another contact."]}}
    ]
    assert said.errors[0]["errors"] == {"external_id": ["Belongs to another contact (owner@example.com)."]}
    assert not Contact.objects.filter(email="newcomer@example.com").exists()
