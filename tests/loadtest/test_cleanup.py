"""Cleaning up after load tests: their data goes, the marketers' stays."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Campaign, CampaignStep, Contact, ContactList
from core.services import api_key_create
from delivery.models import StepExecution, TransactionalMessage
from loadtest import runner
from loadtest.models import LoadTestRun
from tests.factories import (
    ContactFactory,
    StepExecutionFactory,
    TransactionalMessageFactory,
    sendable_campaign,
)

Status = StepExecution.Status


def _load_test_data(run: LoadTestRun, *, contacts: int = 2) -> dict:
    """Make what a run makes, flagged as it flags it: a campaign run's list, campaign, contacts and
    ledger rows, and its API key's message to a contact of its own."""
    campaign = sendable_campaign(contacts=0, name=f"Load test {run.label}", is_load_test=True)
    audience = campaign.lists.get()
    ContactList.objects.filter(pk=audience.pk).update(name=f"Load test {run.label}", is_load_test=True)
    step = campaign.steps.get()
    for n in range(contacts):
        contact = ContactFactory(email=f"success+{run.label}-{n}@simulator.amazonses.com", is_load_test=True)
        audience.contacts.add(contact)
        StepExecutionFactory(step=step, contact=contact, status=Status.SENT)
    key, _secret = api_key_create(name=f"Load test {run.label}", is_load_test=True)
    message = TransactionalMessageFactory(
        api_key=key,
        contact=ContactFactory(email=f"success+{run.label}-api@simulator.amazonses.com", is_load_test=True),
    )
    StepExecutionFactory(step=None, message=message, contact=message.contact, email=message.to_email)
    return {"campaign": campaign, "list": audience, "key": key}


def _marketers_data() -> dict:
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    for contact in Contact.objects.filter(lists__campaigns=campaign):
        StepExecutionFactory(step=step, contact=contact, status=Status.SENT)
    message = TransactionalMessageFactory()  # An integrator's key, an integrator's contact.
    StepExecutionFactory(step=None, message=message, contact=message.contact, email=message.to_email)
    return {"campaign": campaign, "message": message}


def test_cleanup_deletes_the_load_tests_data_and_keeps_the_marketers_and_the_runs(db):
    first, second = (runner.loadtest_create(messages=2, rate=1) for _ in range(2))
    made = [_load_test_data(first), _load_test_data(second)]
    theirs = _marketers_data()
    before = {
        model: model.objects.count()
        for model in (Campaign, CampaignStep, ContactList, Contact, TransactionalMessage, StepExecution)
    }

    out = StringIO()
    call_command("loadtest_cleanup", "--dry-run", stdout=out)

    assert out.getvalue().strip() == (
        "Would delete the data of all load tests: ledger rows 6, messages 2, steps 2, campaigns 2, "
        "lists 2, contacts 6."
    )
    assert {model: model.objects.count() for model in before} == before  # Nothing went.

    out = StringIO()
    call_command("loadtest_cleanup", "--label", first.label, stdout=out)

    assert out.getvalue().strip() == (
        f"Deleted the data of load test {first.label}: ledger rows 3, messages 1, steps 1, campaigns 1, "
        "lists 1, contacts 3."
    )
    assert not Campaign.objects.filter(pk=made[0]["campaign"].pk).exists()
    assert Campaign.objects.filter(pk=made[1]["campaign"].pk).exists()

    call_command("loadtest_cleanup", stdout=StringIO())

    assert not Campaign.objects.filter(is_load_test=True).exists()
    assert not ContactList.objects.filter(is_load_test=True).exists()
    assert not Contact.objects.filter(is_load_test=True).exists()
    assert not TransactionalMessage.objects.filter(api_key__is_load_test=True).exists()
    # The marketer's data is all there, and so is the history of runs.
    assert Campaign.objects.get() == theirs["campaign"]
    assert Contact.objects.count() == 4
    assert StepExecution.objects.count() == 4
    assert TransactionalMessage.objects.get() == theirs["message"]
    assert set(LoadTestRun.objects.values_list("label", flat=True)) == {first.label, second.label}


def test_cleanup_of_an_unknown_run_says_so(db):
    with pytest.raises(CommandError, match="No load test run is labelled 'lt404'"):
        call_command("loadtest_cleanup", "--label", "lt404")


def test_cleanup_keeps_the_opt_out_of_an_address_a_load_test_key_created(db):
    from campaigns.consent import contact_unsubscribe
    from campaigns.models import Suppression
    from tests.factories import ContactFactory

    # A real person's address, created by a message through a load-test key, who then unsubscribed.
    person = ContactFactory(email="person@example.com", is_load_test=True)
    contact_unsubscribe(contact=person)

    call_command("loadtest_cleanup", stdout=StringIO())

    assert not Contact.objects.filter(email="person@example.com").exists()
    assert Suppression.objects.get(email="person@example.com").reason == Suppression.Reason.UNSUBSCRIBE
