"""An erased contact's share of the ledger: its emails stay, counted, without its address."""

from django.db.models import Q, Value
from django.db.models.functions import Replace
from django.utils import timezone

from delivery.models import Engagement, StepExecution, TransactionalMessage

Status = StepExecution.Status

#: What an erased address reads as wherever text kept it (an SES error note).
ERASED = "[erased]"


def step_executions_erase(*, contact_id: int, email: str) -> list[int]:
    """Detach a contact's emails from it and drop its address from them; return their ids.

    Every row stays with its status and outcome, so campaign counts and rates do not move. Mail
    not yet on its way never will be: pending rows, and claimed rows whose SES call has not begun
    (their worker finds them cancelled and sends nothing), are cancelled. A call already under way
    ends as it would; its events are kept without the address (tracking.erasure). Call it inside
    the erasing transaction.
    """
    rows = StepExecution.objects.filter(contact_id=contact_id)
    # Locked in id order, as the sender and the SES events lock them.
    ids = list(rows.select_for_update().order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    StepExecution.objects.filter(pk__in=ids).filter(
        Q(status=Status.PENDING) | Q(status=Status.SENDING, send_started_at__isnull=True)
    ).update(
        status=Status.CANCELLED, lease_expires_at=None, last_error="Its contact was erased.", updated_at=now
    )
    StepExecution.objects.filter(pk__in=ids, last_error__icontains=email).update(
        last_error=Replace("last_error", Value(email), Value(ERASED))
    )
    StepExecution.objects.filter(pk__in=ids).update(contact=None, email="", updated_at=now)
    Engagement.objects.filter(step_execution_id__in=ids).update(contact=None)
    # The request's variables, tags and idempotency code are the integrator's words about the
    # person; the fingerprint hashes them with the address.
    TransactionalMessage.objects.filter(contact_id=contact_id).update(
        contact=None, to_email="", context={}, tags={}, unique_code=None, fingerprint=""
    )
    return ids
