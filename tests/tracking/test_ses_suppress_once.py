"""A notification waiting for its ledger row suppresses its address once, not at every attempt."""

import pytest

from campaigns.consent import ConsentActor
from campaigns.models import ConsentChange, Suppression, SuppressionRemoval
from campaigns.suppressions import suppression_remove
from delivery.models import StepExecution
from tests.factories import StepExecutionFactory
from tests.tracking.test_ses_events import deliver, fixture, for_row
from tracking import inbox
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db

STAFF = ConsentActor(by=ConsentChange.By.STAFF, name="staff@campanile.test", via=ConsentChange.Via.ADMIN)


def test_a_suppression_removed_while_its_complaint_waits_for_its_row_is_not_put_back():
    row = StepExecutionFactory(status=StepExecution.Status.SENDING)  # SES answered; not committed.
    record = for_row(fixture("event-complaint.json"), row, tagged=False)
    record["mail"]["messageId"] = "ses-not-committed-yet"

    message, applied = deliver(record)

    assert not applied
    suppression = Suppression.objects.get(email=row.email)  # At once, on its first attempt.
    assert suppression.reason == Suppression.Reason.COMPLAINT
    assert suppression_remove(suppression=suppression, actor=STAFF, reason="The complaint was a mistake.")

    for _attempt in range(3):  # The retries the apply tick makes while the row is not there.
        assert not inbox.sns_message_apply(message_id=message.pk)
    assert not Suppression.objects.filter(email=row.email).exists()

    StepExecution.objects.filter(pk=row.pk).update(
        status=StepExecution.Status.SENT, ses_message_id="ses-not-committed-yet"
    )
    assert inbox.sns_message_apply(message_id=message.pk)

    event = TrackingEvent.objects.get()  # Still applied, linked to its row…
    assert (event.type, event.step_execution_id) == (TrackingEvent.Type.COMPLAINT, row.pk)
    row.refresh_from_db()
    assert row.outcome == StepExecution.Outcome.COMPLAINED
    assert not Suppression.objects.filter(email=row.email).exists()  # …without putting it back.
    assert SuppressionRemoval.objects.filter(email=row.email).count() == 1
