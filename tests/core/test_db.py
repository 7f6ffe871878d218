"""The SQL helpers: rows inserted together."""

import pytest
from django.db import IntegrityError, transaction

from core import db as core_db
from core.services import api_key_create
from delivery.models import StepExecution, TransactionalMessage
from tests.factories import (
    CampaignStepFactory,
    ContactFactory,
    TemplateFactory,
)

pytestmark = pytest.mark.django_db

Status = StepExecution.Status


def test_rows_inserted_together_are_all_or_none():
    contact = ContactFactory()
    message = TransactionalMessage(
        api_key=api_key_create(name="together")[0],
        fingerprint="f",
        accepted_status=Status.PENDING,
        template=TemplateFactory(),
        contact=contact,
        to_email=contact.email,
        from_email="a@campanile.test",
    )
    # A ledger row may not belong to a step and a message at once: the second insert fails.
    broken = StepExecution(message=message, step=CampaignStepFactory(), contact=contact, email=contact.email)

    with pytest.raises(IntegrityError), transaction.atomic():
        core_db.rows_insert_together(message, broken)

    assert not TransactionalMessage.objects.exists()
    good = StepExecution(message=message, contact=contact, email=contact.email)
    core_db.rows_insert_together(message, good)
    assert StepExecution.objects.get(message=message).email == contact.email
