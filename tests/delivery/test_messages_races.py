"""Concurrent first requests with one idempotency code: the losers are refused and leave nothing."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from campaigns.erasure import address_erasure
from campaigns.models import Contact, Suppression
from core.services import api_key_create
from delivery import messages
from delivery.models import StepExecution, TransactionalMessage
from tests.factories import ContactFactory, SuppressionFactory, TemplateFactory
from tests.utils import wait_until

URL = "/api/v1/messages"
REQUESTS = 8


def _erased(email: str) -> None:
    """Erase a contact who complained: the entry keeps the complaint, no contact or row is left."""
    from console.erasure import contact_erase

    contact = ContactFactory(email=email)
    SuppressionFactory(email=email, reason=Suppression.Reason.COMPLAINT)
    contact_erase(contact=contact, by="test")
    assert address_erasure(email=email) is not None
    assert not Contact.objects.filter(email=email).exists()
    assert not Suppression.objects.filter(email=email).exists()


def _post_together(recipients: list[str], monkeypatch, *, last: str = "") -> list[int]:
    """Post one code to each recipient at once; return the status codes.

    Every request finishes its lookup (no message has the code yet) before any inserts, so all
    but one lose on the unique constraint rather than finding the winner's row. The request to
    `last` goes on only once another has won.
    """
    _obj, secret = api_key_create(name="race")
    looked_up = threading.Barrier(len(recipients))
    lookup = messages._message_insert_if_new

    def lookup_together(**kwargs):
        found = lookup(**kwargs)
        looked_up.wait(timeout=30)
        if kwargs["request"].to == last:
            assert wait_until(TransactionalMessage.objects.exists, 30)
        return found

    monkeypatch.setattr(messages, "_message_insert_if_new", lookup_together)
    answers: list[int] = []

    def post(to: str) -> None:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=secret)
        body = {"from": "sender@campanile.test", "to": to, "template_name": "Race", "unique_code": "race-1"}
        try:
            answers.append(client.post(URL, body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(to,)) for to in recipients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.django_db(transaction=True)
def test_parallel_requests_with_one_code_and_different_recipients_leave_no_contact_for_the_refused(
    postgres_only, monkeypatch
):
    TemplateFactory(name="Race")
    recipients = [f"racer{n}@example.com" for n in range(REQUESTS)]

    answers = _post_together(recipients, monkeypatch)

    assert sorted(answers) == [202] + [409] * (REQUESTS - 1)
    message = TransactionalMessage.objects.get()
    assert StepExecution.objects.get().email == message.to_email
    assert list(Contact.objects.values_list("email", flat=True)) == [message.to_email]


@pytest.mark.django_db(transaction=True)
def test_a_refused_parallel_request_to_an_erased_address_leaves_it_erased(postgres_only, monkeypatch):
    TemplateFactory(name="Race")
    erased = "gone@example.com"
    _erased(erased)
    recipients = [erased, *(f"racer{n}@example.com" for n in range(REQUESTS - 1))]

    answers = _post_together(recipients, monkeypatch, last=erased)

    assert sorted(answers) == [202] + [409] * (REQUESTS - 1)
    winner = TransactionalMessage.objects.get().to_email
    assert not Contact.objects.filter(email=erased).exists()
    assert not Suppression.objects.filter(email=erased).exists()  # Its complaint stays on the entry.
    assert list(Contact.objects.values_list("email", flat=True)) == [winner]
