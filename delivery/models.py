"""The send ledger: one StepExecution per (campaign step, contact)."""

from django.db import models
from django.utils import timezone
from uuid_utils.compat import uuid7

from campaigns.models import CampaignStep, Contact


class StepExecution(models.Model):
    """One recipient's passage through one campaign step; the ledger that guarantees "sent once"."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        #: Claimed by a worker under a lease; committed before the SES call.
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        #: The SES call may or may not have gone through; never re-sent automatically.
        UNKNOWN = "unknown", "Unknown"
        #: Suppressed or unsubscribed by the time the row was claimed.
        SUPPRESSED = "suppressed", "Suppressed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    step = models.ForeignKey(CampaignStep, on_delete=models.CASCADE, related_name="executions")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="step_executions")
    #: The address as it was at fan-out; SES events name this one even if the contact changes.
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    #: Goes into signed links and SES message tags. Time-ordered (UUIDv7) so the unique index
    #: appends instead of splitting random pages at a million inserts.
    tracking_id = models.UUIDField(default=uuid7, unique=True, editable=False)
    ses_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "contact"], name="step_execution_unique"),
        ]
        indexes = [
            # Claims and progress counts: "pending rows of this step", "rows of this step by status".
            models.Index(fields=["step", "status"], name="step_execution_claim_idx"),
            # Stalled-claim sweep: only the few rows in flight are indexed.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="sending"),
                name="step_execution_lease_idx",
            ),
            # SES events are matched by message id.
            models.Index(
                fields=["ses_message_id"],
                condition=~models.Q(ses_message_id=""),
                name="step_execution_ses_id_idx",
            ),
            models.Index(fields=["contact"], name="step_execution_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.step} → {self.email} ({self.status})"
