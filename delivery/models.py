"""The send ledger: one StepExecution per (campaign step, contact) or per transactional message."""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7

from campaigns.models import CampaignStep, Contact, Template
from core.models import ApiKey, Tally


class TransactionalMessage(models.Model):
    """One templated email an integrator queued through the API; its ledger row does the sending."""

    id = models.UUIDField(_("id"), primary_key=True, default=uuid7, editable=False)
    # Indexed by the unique (api_key, unique_code) constraint, which leads with it.
    #: The key that queued it; none for mail Campanile sends itself (a signup's confirmation).
    api_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transactional_messages",
        db_index=False,
        verbose_name=_("API key"),
    )
    #: The integrator's idempotency code, unique per API key; NULL when none was given, so that one
    #: plain unique index serves both the constraint and the lookup of every request.
    unique_code = models.CharField(  # noqa: DJ001 - see above
        _("unique code"), max_length=255, null=True, blank=True
    )
    #: SHA-256 of the canonical request, to tell a retry (same payload) from a conflict.
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    #: The status answered when the message was accepted, replayed verbatim to retries.
    accepted_status = models.CharField(_("accepted status"), max_length=16)
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, related_name="transactional_messages", verbose_name=_("template")
    )
    #: None once its contact was erased (console.erasure): the message stays, counted, addressless.
    contact = models.ForeignKey(
        Contact,
        null=True,
        on_delete=models.CASCADE,
        related_name="transactional_messages",
        verbose_name=_("contact"),
    )
    to_email = models.EmailField(_("to email"), max_length=254)
    from_email = models.CharField(_("from email"), max_length=320)
    configuration_set = models.CharField(_("configuration set"), max_length=64, blank=True)
    #: SES message tags given by the integrator, as {name: value}.
    tags = models.JSONField(_("tags"), default=dict, blank=True)
    #: Variables of this email alone for its template, beside the contact's: {"confirm_url": ...}.
    context = models.JSONField(_("context"), default=dict, blank=True, db_default={})
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["api_key", "unique_code"], name="message_idempotency_unique"),
        ]
        indexes = [
            # An erasure finds mail to an address under any contact (a key's user_id names the
            # contact, `to` the address).
            models.Index(fields=["to_email"], name="message_to_email_idx"),
        ]
        verbose_name = _("transactional email")
        verbose_name_plural = _("transactional emails")

    def __str__(self) -> str:
        return f"{self.template} → {self.to_email}"


class IdempotencyRecord(models.Model):
    """An idempotency code whose message left the record (its contact deleted, or erased), kept so
    that a retry of its request still replays the first answer instead of sending again.

    Kept as keyed digests (core.digests), never as words: a code or a request may name the person.
    """

    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("API key")
    )
    #: The code's keyed digest (purpose "idempotency-code").
    code_digest = models.CharField(_("code digest"), max_length=64)
    #: The request fingerprint's keyed digest (purpose "idempotency-fingerprint").
    fingerprint_digest = models.CharField(_("fingerprint digest"), max_length=64)
    #: The first answer: the message's id and the status it was accepted with.
    message_id = models.UUIDField(_("message id"))
    accepted_status = models.CharField(_("accepted status"), max_length=16)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "code_digest"], name="idempotency_record_unique"),
        ]
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")

    def __str__(self) -> str:
        return f"{self.code_digest[:12]}… → {self.message_id}"


class StepExecution(models.Model):
    """One recipient's passage through one campaign step; the ledger that guarantees "sent once"."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        #: Claimed by a worker under a lease; committed before the SES call.
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        #: The SES call may or may not have gone through; never re-sent automatically.
        UNKNOWN = "unknown", _("Unknown")
        #: Suppressed or unsubscribed by the time the row was claimed.
        SUPPRESSED = "suppressed", _("Suppressed")
        #: A drip step whose condition left the contact out; the contact goes on to the next step.
        SKIPPED = "skipped", _("Skipped")
        #: The contact left the sequence here: unsubscribed, suppressed, bounced, complained or
        #: reached the campaign's goal.
        EXITED = "exited", _("Exited")
        CANCELLED = "cancelled", _("Cancelled")

    #: Exactly one of step (campaign mail) and message (transactional mail) is set.
    # No index of its own: the unique (step, contact) and the (step, status) indexes lead with it.
    step = models.ForeignKey(
        CampaignStep,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="executions",
        db_index=False,
        verbose_name=_("step"),
    )
    message = models.OneToOneField(
        TransactionalMessage,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="execution",
        verbose_name=_("message"),
    )
    #: None once its contact was erased: the row stays for the counts, without the address.
    contact = models.ForeignKey(
        Contact,
        null=True,
        on_delete=models.CASCADE,
        related_name="step_executions",
        verbose_name=_("contact"),
    )
    #: The address as it was at fan-out; SES events name this one even if the contact changes.
    email = models.EmailField(_("email"), max_length=254)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    #: Goes into signed links and SES message tags. Time-ordered (UUIDv7) so the unique index
    #: appends instead of splitting random pages at a million inserts.
    tracking_id = models.UUIDField(_("tracking id"), default=uuid7, unique=True, editable=False)
    ses_message_id = models.CharField(_("SES message id"), max_length=100, blank=True)

    class Outcome(models.TextChoices):
        """What SES reported after accepting the email; OUTCOME_RANK orders them."""

        NONE = "", _("No report from SES yet")
        DELAYED = "delayed", _("Delayed")
        DELIVERED = "delivered", _("Delivered")
        REJECTED = "rejected", _("Rejected")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")

    #: The precedence of outcomes: a row's outcome only ever moves to a higher rank, so a late
    #: Delivery never hides a Bounce, and a Complaint (the worst news) outranks everything.
    OUTCOME_RANK = {
        Outcome.NONE: 0,
        Outcome.DELAYED: 1,
        Outcome.DELIVERED: 2,
        Outcome.REJECTED: 3,
        Outcome.BOUNCED: 4,
        Outcome.COMPLAINED: 5,
    }
    # db_default too: fan-out and COPY write rows in SQL that names its columns.
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default="", db_default="", blank=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    #: Committed just before the SES call of the current claim: a claim that lapses without it
    #: never reached SES and goes back to pending; one with it may have, and becomes unknown.
    send_started_at = models.DateTimeField(_("send started at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    #: When this step fell due for the contact; a skipped step counts as passed at this moment.
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    #: Not claimed before this: a send window or the frequency cap put it off.
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)

    class Meta:
        constraints = [
            # Campaign rows only, like the claim index below: a message row would add an entry
            # that nothing reads to every API request's insert.
            models.UniqueConstraint(
                fields=["step", "contact"],
                condition=models.Q(step__isnull=False),
                name="step_execution_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(step__isnull=True) ^ models.Q(message__isnull=True),
                name="step_execution_step_xor_message",
            ),
        ]
        indexes = [
            # Claims and progress counts: "pending rows of this step", "rows of this step by status".
            models.Index(
                fields=["step", "status"],
                condition=models.Q(step__isnull=False),
                name="step_execution_claim_idx",
            ),
            # The transactional dispatcher's claim, every second: only pending messages are indexed,
            # so it never scans the campaign rows.
            models.Index(
                fields=["id"],
                condition=models.Q(status="pending", message__isnull=False),
                name="step_execution_msg_pending_idx",
            ),
            # The dashboard's count of failed rows (and their list): only those rows are indexed.
            models.Index(
                fields=["id"], condition=models.Q(status="failed"), name="step_execution_failed_idx"
            ),
            # Stalled-claim sweep: only the few rows in flight are indexed.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="sending"),
                name="step_execution_lease_idx",
            ),
            # Drip progress: "contacts who passed this step before that moment", read from the
            # last moment the next step advanced to; sent rows passed when sent, skipped ones when due.
            models.Index(
                F("step"),
                Coalesce("sent_at", "due_at"),
                condition=models.Q(status__in=["sent", "skipped"]),
                name="step_execution_passed_idx",
            ),
            # SES events are matched by message id.
            models.Index(
                fields=["ses_message_id"],
                condition=~models.Q(ses_message_id=""),
                name="step_execution_ses_id_idx",
            ),
        ]
        verbose_name = _("email")
        verbose_name_plural = _("emails")

    def __str__(self) -> str:
        return f"{self.step or self.message_id} → {self.email} ({self.status})"

    @property
    def erased(self) -> bool:
        """Tell whether its contact was erased: the row stays, without the address."""
        return not self.email

    @property
    def addressee(self) -> Contact:
        """Return the contact of a row still addressed to someone, as every claimed row is."""
        if self.contact is None:
            raise ValueError(f"Ledger row {self.pk} has no contact: it was erased.")
        return self.contact

    @property
    def campaign_step(self) -> CampaignStep:
        """Return the step of a campaign row; a transactional message's row has none."""
        if self.step is None:
            raise ValueError(f"Ledger row {self.pk} is a transactional message's, not a campaign's.")
        return self.step


class LedgerTally(Tally):
    """Campaign ledger rows per (step, status, minute sent), as signed deltas the database adds.

    Triggers on the ledger (migrations 0009, 0016) add a row per changed (step, status, minute) to every
    statement's transaction, so counts stay exact wherever a status changes, raw SQL included;
    `core.db.tally_compact` folds the deltas. Progress and reports sum a few rows instead
    of counting a ledger of millions.
    """

    # No foreign key: a deleted step's rows sum to zero and go at the next compaction.
    step_id = models.BigIntegerField(_("step id"))
    status = models.CharField(_("status"), max_length=16)
    sent_minute = models.DateTimeField(_("sent minute"), null=True)

    class Meta:
        indexes = [models.Index(fields=["step_id"], name="ledger_tally_step_idx")]
        verbose_name = _("ledger tally")
        verbose_name_plural = _("ledger tallies")

    def __str__(self) -> str:
        return f"step {self.step_id} {self.status} {self.sent_minute}: {self.n:+d}"


class RateLimiterState(models.Model):
    """The fleet's send-slot timeline when there is no Redis (the embedded setup); one row."""

    name = models.CharField(_("name"), max_length=32, primary_key=True)
    #: The next free send slot, in microseconds since the epoch.
    next_slot_us = models.BigIntegerField(_("next slot us"), default=0)
    #: Until when transactional mail has demand and bulk mail must not queue ahead of it.
    demand_until_us = models.BigIntegerField(_("demand until us"), default=0)

    class Meta:
        verbose_name = _("rate limiter state")
        verbose_name_plural = _("rate limiter states")

    def __str__(self) -> str:
        return self.name


class SendingHold(models.Model):
    """A stop on all sending, fleet-wide: SES's daily quota ran out, or SES paused the account.

    Send tasks claim nothing while one is active. Deleting it (in the admin) lifts it at once.
    """

    class Reason(models.TextChoices):
        DAILY_QUOTA = "daily_quota", _("SES daily quota exhausted")
        SES_HALTED = "ses_halted", _("SES paused or suspended sending")

    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    detail = models.TextField(_("detail"), blank=True)
    #: When the hold lifts by itself; None holds until someone deletes it.
    until = models.DateTimeField(_("until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("sending hold")
        verbose_name_plural = _("sending holds")

    def __str__(self) -> str:
        return f"{self.get_reason_display()} (until {self.until or 'lifted by hand'})"


class TrackedLink(models.Model):
    """A link of a campaign step's emails, named by id inside signed click tokens.

    The target lives here, not in the URL: a click can only ever lead where the email pointed.
    """

    step = models.ForeignKey(
        CampaignStep, on_delete=models.CASCADE, related_name="links", verbose_name=_("step")
    )
    url = models.TextField(_("url"))
    #: SHA-256 of the URL: URLs can be longer than an index entry may be.
    url_hash = models.CharField(_("url hash"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "url_hash"], name="tracked_link_unique")]
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")

    def __str__(self) -> str:
        return self.url[:100]


class Engagement(models.Model):
    """One email's human and machine opens and clicks: what drip conditions and reports read.

    Kept by the tracking consumer in the transaction that writes the events (tracking.engagement).
    """

    step_execution = models.OneToOneField(
        "StepExecution",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="engagement",
        verbose_name=_("email"),
    )
    #: The campaign step (none for transactional mail), so that drip conditions read one table.
    step = models.ForeignKey(
        CampaignStep,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("step"),
    )
    #: The email's contact, kept here so that "did this contact open mail of these steps" (drip
    #: conditions, segments) is one probe of (contact, step), not one through the ledger. No
    #: constraint of its own: the row goes with its email, which goes with the contact.
    contact = models.ForeignKey(
        "campaigns.Contact",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # The index on (contact, step) serves.
        related_name="+",
        verbose_name=_("contact"),
    )
    opens = models.PositiveIntegerField(_("opens"), default=0)
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    machine_opens = models.PositiveIntegerField(_("machine opens"), default=0)
    machine_clicks = models.PositiveIntegerField(_("machine clicks"), default=0)
    first_opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    first_clicked_at = models.DateTimeField(_("first clicked at"), null=True, blank=True)
    #: Human clicks per tracked link, {"<link id>": clicks}, only links clicked: "clicked this
    #: link" is a key lookup.
    links = models.JSONField(_("links"), default=dict, blank=True)
    #: Machine clicks per tracked link, the same way.
    machine_links = models.JSONField(_("machine links"), default=dict, blank=True)
    #: What SES reported of this email that its step's counters have counted: "delivered",
    #: "bounced", "bounced_hard", "complained", … each once, however often it was reported.
    outcomes = models.JSONField(_("outcomes"), default=list, blank=True)

    class Meta:
        verbose_name = _("engagement")
        verbose_name_plural = _("engagements")
        indexes = [models.Index(fields=["contact", "step"], name="engagement_contact_step_idx")]

    def __str__(self) -> str:
        return f"{self.step_execution_id}: {self.opens} opens, {self.clicks} clicks"

    def save(self, *args, **kwargs):
        if self.contact_id is None:  # Rows made one by one (tests, the shell) find their contact.
            self.contact_id = StepExecution.objects.values_list("contact_id", flat=True).get(
                pk=self.step_execution_id
            )
        super().save(*args, **kwargs)

    # "Opened" is one definition for every count, rate and condition: a person opened the email or
    # clicked in it. A click proves the open when the reader's client blocked the pixel, and
    # without it "click-to-open" could pass 100%.
    @staticmethod
    def counts_as_opened(opens: int, clicks: int) -> bool:
        """Tell whether an email with these human opens and clicks was opened."""
        return opens > 0 or clicks > 0

    @property
    def opened(self) -> bool:
        """Tell whether a person opened this email or clicked in it."""
        return self.counts_as_opened(self.opens, self.clicks)

    @staticmethod
    def opened_q(prefix: str = "") -> Q:
        """Return the SQL test of `opened`, on Engagement or through the relation `prefix`."""
        return Q(**{f"{prefix}opens__gt": 0}) | Q(**{f"{prefix}clicks__gt": 0})
