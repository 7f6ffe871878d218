"""Erasures racing other writes: each waits for the other, never deadlocks, never brings the address back."""

import threading
import time
from functools import partial

import pytest
from django.db import connection, transaction

from campaigns import preferences
from campaigns.audience import contact_bulk_upsert
from campaigns.consent import ConsentActor, contact_resubscribe, contact_unsubscribe
from campaigns.models import ConsentChange, Contact, ErasedAddress, Signup, Suppression
from campaigns.signups import signup_apply, signup_take
from campaigns.suppressions import suppression_add
from console.erasure import contact_erase
from core.exceptions import ObjectNotFound
from delivery.models import Engagement, StepExecution
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SignupFormFactory,
    StepExecutionFactory,
    sendable_campaign,
)
from tracking import unsubscribe as unsubscribing

pytestmark = pytest.mark.django_db

ADDRESS = "ada.lovelace@example.com"


def _side_by_side(works, rounds: int = 1, gone_is_fine: bool = False) -> list[Exception]:
    """Run each round's works in threads started together; return what failed.

    With `gone_is_fine`, a work finding its contact erased first (ObjectNotFound) has not failed:
    the page behind it reads its link again and answers for the address.
    """
    failures: list[Exception] = []

    def run(start: threading.Barrier, work) -> None:
        try:
            start.wait()
            work()
        except ObjectNotFound as exc:
            if not gone_is_fine:
                failures.append(exc)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    for round_works in works:
        start = threading.Barrier(len(round_works))
        threads = [threading.Thread(target=run, args=(start, work)) for work in round_works]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    return failures


def _during_an_erasure(write) -> dict:
    """Run `write` while an erasure of ADDRESS's contact is under way, uncommitted; return its result."""
    contact = Contact.objects.get(email=ADDRESS)
    erased, release, done = threading.Event(), threading.Event(), {}

    def erase():
        with transaction.atomic():
            contact_erase(contact=contact, by="the first request")
            erased.set()
            release.wait(10)
        connection.close()

    def other():
        erased.wait(10)
        done["result"] = write()
        connection.close()

    threads = [threading.Thread(target=erase), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    done["waited"] = "result" not in done  # It waits for the erasure to end.
    release.set()
    for thread in threads:
        thread.join(10)
    return done


@pytest.mark.django_db(transaction=True)
def test_a_bulk_write_landing_during_an_erasure_never_brings_the_address_back(postgres_only):
    ContactFactory(email=ADDRESS)

    done = _during_an_erasure(
        lambda: contact_bulk_upsert(rows=[(0, {"email": ADDRESS, "status": Contact.Status.SUBSCRIBED})])
    )

    assert done["waited"]
    assert done["result"].created == 0
    assert "erased" in done["result"].errors[0]["errors"]["email"][0]
    assert not Contact.objects.filter(email=ADDRESS).exists()


@pytest.mark.django_db(transaction=True)
def test_a_suppression_landing_during_an_erasure_is_kept_with_it_not_as_the_address(postgres_only):
    ContactFactory(email=ADDRESS)

    done = _during_an_erasure(
        lambda: suppression_add(email=ADDRESS, reason=Suppression.Reason.COMPLAINT, source="ses")
    )

    assert done["waited"]
    assert done["result"] == (None, False)
    assert not Suppression.objects.exists()
    assert ErasedAddress.objects.get().suppression_reason == Suppression.Reason.COMPLAINT


@pytest.mark.django_db(transaction=True)
def test_signups_decided_or_confirmed_while_their_address_is_erased_wait_never_deadlock(postgres_only):
    form = SignupFormFactory()
    pairs = []
    for n in range(10):
        contact = ContactFactory(email=f"race{n}@example.com")
        confirming = Signup.objects.create(
            form=form, form_name=form.name, email=contact.email, consent_text="Yes", status="pending"
        )
        deciding = Signup.objects.create(
            form=form, form_name=form.name, email=contact.email, consent_text="Yes"
        )
        pairs.append((contact, confirming, deciding))
    works = [
        [
            partial(contact_erase, contact=contact, by="test"),
            partial(signup_apply, signup=confirming, confirmed=True),
            partial(signup_take, signup_id=deciding.pk, limit=5, can_mail=True),
        ]
        for contact, confirming, deciding in pairs
    ]

    failures = _side_by_side(works)

    assert failures == []
    assert ErasedAddress.objects.count() == 10
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_contact_created_or_readdressed_during_an_erasure_waits_then_is_refused(postgres_only, api_client):
    former = "ada.byron@example.com"  # An address the contact held before: erased with it.
    contact = ContactFactory(email=former)
    api_client.patch(f"/api/v1/contacts/{contact.pk}", {"email": ADDRESS}, format="json")
    other = ContactFactory(email="grace@example.com")

    created = _during_an_erasure(
        lambda: api_client.post("/api/v1/contacts", {"email": former}, format="json")
    )
    renamed = api_client.patch(f"/api/v1/contacts/{other.pk}", {"email": former}, format="json")

    assert created["waited"]
    assert created["result"].status_code == 400
    assert "erased" in created["result"].json()["error"]["fields"]["email"][0]
    assert renamed.status_code == 400
    assert not Contact.objects.filter(email__in=[ADDRESS, former]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_suppression_asked_for_through_the_api_during_an_erasure_is_a_400_never_a_500(
    postgres_only, api_client
):
    ContactFactory(email=ADDRESS)

    done = _during_an_erasure(
        lambda: api_client.post("/api/v1/suppressions", {"email": ADDRESS, "reason": "manual"}, format="json")
    )

    assert done["result"].status_code == 400
    assert not Suppression.objects.exists()


def _row_on_a_list(n: int) -> StepExecution:
    """Return a sent campaign row whose contact is on the campaign's list and on another shown list."""
    campaign = sendable_campaign(contacts=0)
    contact = ContactFactory(email=f"choosing{n}@example.com")
    ListMembershipFactory(contact_list=campaign.lists.get(), contact=contact)
    ListMembershipFactory(contact_list=ContactListFactory(), contact=contact)
    step = campaign.steps.get()
    row = StepExecutionFactory(step=step, contact=contact, email=contact.email, status="sent")
    # Delivered: an unsubscribe counts its outcome on this row, as on any email that arrived.
    Engagement.objects.create(step_execution=row, step=step, contact=contact, outcomes=["delivered"])
    return row


def _resubscribe(row: StepExecution) -> None:
    contact_unsubscribe(contact=row.contact)
    actor = ConsentActor(by=ConsentChange.By.CONTACT, name=row.email, via=ConsentChange.Via.UNSUBSCRIBE_PAGE)
    contact_resubscribe(contact=row.contact, actor=actor, reason="Asked again on the page.")


#: What a contact may choose on their preference page, as the page does it.
CHOICES = {
    "leave the email's lists": lambda row: unsubscribing.step_execution_leave_lists(execution=row),
    "save their choices": lambda row: unsubscribing.step_execution_preferences_save(
        execution=row,
        shown_list_ids={row.step.campaign.lists.get().pk},
        keep_list_ids=set(),
        first_name="Ada",
        last_name="L.",
    ),
    "take a break": lambda row: preferences.contact_pause(contact=row.contact, days=30),
    "leave everything": lambda row: unsubscribing.step_execution_unsubscribe(execution=row, source="page"),
    "subscribe again": _resubscribe,
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("choice", CHOICES)
def test_a_choice_on_the_preference_page_during_an_erasure_waits_never_deadlocks(postgres_only, choice):
    rows = [_row_on_a_list(n) for n in range(10)]
    works = [
        [partial(contact_erase, contact=row.contact, by="test"), partial(CHOICES[choice], row)]
        for row in rows
    ]

    failures = _side_by_side(works, gone_is_fine=True)

    assert failures == []
    assert ErasedAddress.objects.count() == 10
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_delete_waits_for_an_erasure_under_way(postgres_only):
    from campaigns.consent import contacts_delete

    ContactFactory(email=ADDRESS)
    other = ContactFactory(email="grace@example.com")  # One an erasure may write: a former holder.

    done = _during_an_erasure(
        lambda: contacts_delete(contacts=Contact.objects.filter(pk=other.pk), source="api")
    )

    assert done["waited"]
    assert done["result"] == 1
