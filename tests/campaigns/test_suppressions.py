"""The suppression list: an opt-out kept with a bounce or complaint outlives that reason's removal."""

import pytest
from django.db import IntegrityError, connection, transaction

from campaigns.audience import contact_bulk_upsert
from campaigns.consent import ConsentActor, contact_address_leave, contact_unsubscribe, contacts_delete
from campaigns.exceptions import SuppressedSinceRemoval
from campaigns.models import ConsentChange, Contact, Suppression, SuppressionRemoval
from campaigns.selectors import campaign_audience
from campaigns.suppressions import (
    addresses_suppressed,
    suppression_add,
    suppression_remove,
    suppressions_add_bulk,
)
from tests.factories import CampaignFactory, ContactFactory, ContactListFactory, SuppressionFactory
from tracking.unsubscribe import address_unsubscribe

pytestmark = pytest.mark.django_db

STAFF = ConsentActor(by=ConsentChange.By.STAFF, name="ada", via=ConsentChange.Via.ADMIN)
ADDRESS = "x@example.com"


def _left_after_unsubscribing(email: str = ADDRESS) -> None:
    """Unsubscribe a contact of the address, then delete it: its opt-out stays as a suppression."""
    contact = ContactFactory(email=email)
    contact_unsubscribe(contact=contact)
    contacts_delete(contacts=Contact.objects.filter(pk=contact.pk), source=Suppression.Source.API)


def _campaign_reaches(email: str) -> bool:
    """Tell whether a campaign to a list the address was just subscribed to, in bulk, would mail it."""
    audience = ContactListFactory()
    result = contact_bulk_upsert(
        rows=[(0, {"email": email, "status": "subscribed"})], list_ids=(audience.pk,)
    )
    assert result.errors == []
    campaign = CampaignFactory()
    campaign.lists.add(audience)
    return campaign_audience(campaign=campaign).filter(email=email).exists()


def test_lifting_a_bounce_that_replaced_a_kept_opt_out_leaves_the_opt_out():
    _left_after_unsubscribing()
    # A transactional message to the address (which an opt-out does not stop) hard-bounces.
    suppression_add(email=ADDRESS, reason=Suppression.Reason.HARD_BOUNCE, source=Suppression.Source.SES)
    bounced = Suppression.objects.get(email=ADDRESS)
    assert bounced.reason == Suppression.Reason.HARD_BOUNCE
    assert addresses_suppressed(emails=[ADDRESS], marketing=False) == {ADDRESS: "hard_bounce"}

    done = suppression_remove(suppression=bounced, actor=STAFF, reason="Mailbox works again")

    kept = Suppression.objects.get(email=ADDRESS)
    assert (kept.pk, kept.reason) == (bounced.pk, Suppression.Reason.UNSUBSCRIBE)
    assert (bounced.opted_out, kept.opted_out, done.removed, done.kept) == (True, True, True, kept)
    assert "Hard bounce" in kept.detail
    assert kept.created_at > bounced.created_at
    removal = SuppressionRemoval.objects.get()
    assert (removal.suppression_reason, removal.reason) == ("hard_bounce", "Mailbox works again")
    # Transactional mail may go again; campaigns still skip the address, even subscribed in bulk.
    assert addresses_suppressed(emails=[ADDRESS], marketing=False) == {}
    assert addresses_suppressed(emails=[ADDRESS], marketing=True) == {ADDRESS: "unsubscribe"}
    assert not _campaign_reaches(ADDRESS)

    # Lifting the opt-out itself takes a removal of its own, with its own reason.
    again = suppression_remove(suppression=kept, actor=STAFF, reason="Opted in again by phone")
    assert (again.removed, again.kept) == (True, None)
    assert not Suppression.objects.filter(email=ADDRESS).exists()
    reasons = SuppressionRemoval.objects.order_by("pk").values_list("suppression_reason", flat=True)
    assert list(reasons) == ["hard_bounce", "unsubscribe"]


def _delete_an_unsubscribed_contact(email: str) -> None:
    _left_after_unsubscribing(email)


def _change_an_unsubscribed_contacts_address(email: str) -> None:
    contact = ContactFactory(email=email, status=Contact.Status.UNSUBSCRIBED)
    with transaction.atomic():
        contact_address_leave(contact=contact, new_email="moved@example.com", source=Suppression.Source.API)
        Contact.objects.filter(pk=contact.pk).update(email="moved@example.com")


def _one_click_from_a_deleted_contacts_mail(email: str) -> None:
    address_unsubscribe(email=email, source="one-click")


def _add_one(email: str) -> None:
    suppression_add(email=email, reason=Suppression.Reason.UNSUBSCRIBE, source=Suppression.Source.ADMIN)


def _add_in_bulk(email: str) -> None:
    suppressions_add_bulk(
        emails=[email], reason=Suppression.Reason.UNSUBSCRIBE, source=Suppression.Source.IMPORT
    )


@pytest.mark.parametrize(
    "opt_out",
    [
        _delete_an_unsubscribed_contact,
        _change_an_unsubscribed_contacts_address,
        _one_click_from_a_deleted_contacts_mail,
        _add_one,
        _add_in_bulk,
    ],
    ids=["contact deleted", "address changed", "one-click", "added", "added in bulk"],
)
@pytest.mark.parametrize("reason", ["hard_bounce", "complaint", "manual"])
def test_an_opt_out_given_where_another_reason_came_first_outlives_that_reasons_removal(opt_out, reason):
    first = SuppressionFactory(email=ADDRESS, reason=reason)

    opt_out(ADDRESS)

    held = Suppression.objects.get(email=ADDRESS)
    assert (held.pk, held.reason) == (first.pk, reason)  # The first reason stays…
    suppression_remove(suppression=held, actor=STAFF, reason="Mailbox works again")
    assert (
        Suppression.objects.get(email=ADDRESS).reason == Suppression.Reason.UNSUBSCRIBE
    )  # …the opt-out too.
    assert not _campaign_reaches(ADDRESS)
    assert held.opted_out


def test_a_suppression_its_owner_never_opted_out_of_goes_whole_with_its_removal():
    bounced = SuppressionFactory(email=ADDRESS, reason=Suppression.Reason.HARD_BOUNCE)
    suppression_add(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES)

    done = suppression_remove(suppression=bounced, actor=STAFF, reason="Mailbox works again")

    assert (done.removed, done.kept) == (True, None)
    assert not Suppression.objects.exists()
    assert _campaign_reaches(ADDRESS)


def test_a_bulk_bounce_replacing_kept_opt_outs_keeps_them():
    _left_after_unsubscribing()

    suppressions_add_bulk(emails=[ADDRESS, "new@example.com"], reason="complaint", source="import")

    held = dict(Suppression.objects.values_list("email", "opted_out"))
    assert held == {ADDRESS: True, "new@example.com": False}
    assert Suppression.objects.get(email=ADDRESS).reason == Suppression.Reason.COMPLAINT


def test_every_unsubscribe_suppression_is_an_opt_out_whoever_writes_it():
    assert SuppressionFactory(reason=Suppression.Reason.UNSUBSCRIBE).opted_out
    row = SuppressionFactory(reason=Suppression.Reason.HARD_BOUNCE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.filter(pk=row.pk).update(reason=Suppression.Reason.UNSUBSCRIBE)


def test_opt_outs_kept_before_the_flag_are_marked_on_upgrade():
    from django.db.migrations.executor import MigrationExecutor

    before = [("campaigns", "0036_suppression_removals")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("campaigns", "Suppression")
    old.objects.create(email="kept@example.com", reason="unsubscribe", source="api")
    old.objects.create(email="bounced@example.com", reason="hard_bounce", source="ses")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    held = dict(Suppression.objects.values_list("email", "opted_out"))
    assert held == {"kept@example.com": True, "bounced@example.com": False}


def test_the_removal_that_kept_an_opt_out_sent_again_keeps_it_and_records_nothing_more():
    complaint = SuppressionFactory(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, opted_out=True)

    first = suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")
    again = suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")

    kept = Suppression.objects.get()
    assert (kept.reason, kept.created_at) == (Suppression.Reason.UNSUBSCRIBE, first.kept.created_at)
    assert SuppressionRemoval.objects.count() == 1
    assert (again.removed, again.kept, again.repeated) == (True, first.kept, True)
    assert not _campaign_reaches(ADDRESS)


def test_the_removal_sent_again_after_a_bounce_on_the_opt_out_it_kept_lifts_nothing_and_says_why():
    complaint = SuppressionFactory(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, opted_out=True)
    first = suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")
    # A transactional message to the address, which the kept opt-out lets go, hard-bounces.
    suppression_add(email=ADDRESS, reason=Suppression.Reason.HARD_BOUNCE, source=Suppression.Source.SES)

    with pytest.raises(SuppressedSinceRemoval) as refused:
        suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")

    bounced = Suppression.objects.get()
    assert (bounced.reason, bounced.opted_out) == (Suppression.Reason.HARD_BOUNCE, True)
    assert SuppressionRemoval.objects.count() == 1
    said = str(refused.value)
    assert "Hard bounce" in said
    assert f"{first.kept.created_at:%Y-%m-%d %H:%M} UTC" in said
    assert "new reason" in said
    assert addresses_suppressed(emails=[ADDRESS], marketing=False) == {ADDRESS: "hard_bounce"}

    # A removal of its own, giving a new reason, lifts the bounce and keeps the opt-out again.
    lifted = suppression_remove(suppression=complaint, actor=STAFF, reason="The mailbox works again")

    assert (lifted.removed, lifted.kept.reason, lifted.repeated) == (
        True,
        Suppression.Reason.UNSUBSCRIBE,
        False,
    )
    assert list(SuppressionRemoval.objects.order_by("pk").values_list("suppression_reason", "reason")) == [
        ("complaint", "Complained by mistake"),
        ("hard_bounce", "The mailbox works again"),
    ]


def test_a_removal_retried_after_the_address_was_suppressed_anew_lifts_nothing_whatever_came_between():
    # A plain bounce (no opt-out) removed, then a new bounce: the retry finds a new row.
    bounced = SuppressionFactory(email=ADDRESS, reason=Suppression.Reason.HARD_BOUNCE)
    suppression_remove(suppression=bounced, actor=STAFF, reason="Typo fixed")
    again, _created = suppression_add(
        email=ADDRESS, reason=Suppression.Reason.HARD_BOUNCE, source=Suppression.Source.SES
    )
    with pytest.raises(SuppressedSinceRemoval):
        suppression_remove(suppression=again, actor=STAFF, reason="Typo fixed")
    assert Suppression.objects.filter(pk=again.pk).exists()

    # A complaint lifted (reason R), a later bounce lifted (R2): a late retry of R keeps R2's opt-out.
    other = "other@example.com"
    complaint = SuppressionFactory(email=other, reason=Suppression.Reason.COMPLAINT, opted_out=True)
    suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")
    suppression_add(email=other, reason=Suppression.Reason.HARD_BOUNCE, source=Suppression.Source.SES)
    kept = suppression_remove(suppression=complaint, actor=STAFF, reason="The mailbox works again").kept
    with pytest.raises(SuppressedSinceRemoval):
        suppression_remove(suppression=complaint, actor=STAFF, reason="Complained by mistake")
    assert Suppression.objects.get(email=other).reason == Suppression.Reason.UNSUBSCRIBE
    assert SuppressionRemoval.objects.filter(email=other).count() == 2
    # Its own retry still answers as it did, and a removal with a reason of its own lifts the opt-out.
    assert suppression_remove(suppression=kept, actor=STAFF, reason="The mailbox works again").repeated
    assert suppression_remove(suppression=kept, actor=STAFF, reason="Asked to be mailed again by phone")
    assert not Suppression.objects.filter(email=other).exists()
