import pytest
from django.db import IntegrityError, transaction

from tests.factories import StepExecutionFactory, TrackingEventFactory
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def test_an_event_is_recorded_once_per_event_id():
    TrackingEventFactory(event_id="sns-1:ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrackingEventFactory(event_id="sns-1:ada@example.com")
    assert TrackingEvent.objects.count() == 1


def test_events_outlive_their_ledger_row():
    execution = StepExecutionFactory()
    event = TrackingEventFactory(step_execution=execution, recipient=execution.email)
    execution.delete()
    event.refresh_from_db()
    assert event.step_execution is None
    assert event.recipient == execution.email
