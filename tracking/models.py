"""Normalized engagement and SES events."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import Tally
from delivery.models import StepExecution


class TrackingEvent(models.Model):
    """One thing that happened to one recipient's message, whatever reported it."""

    class Type(models.TextChoices):
        SEND = "send", _("Send")
        DELIVERY = "delivery", _("Delivery")
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Complaint")
        REJECT = "reject", _("Reject")
        DELIVERY_DELAY = "delivery_delay", _("Delivery delay")
        RENDERING_FAILURE = "rendering_failure", _("Rendering failure")
        SUBSCRIPTION = "subscription", _("Subscription")
        OPEN = "open", _("Open")
        CLICK = "click", _("Click")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe")

    type = models.CharField(_("type"), max_length=24, choices=Type.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    #: The recipient address this event concerns (one event per recipient, never per message).
    recipient = models.EmailField(_("recipient"), max_length=254)
    step_execution = models.ForeignKey(
        StepExecution,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        verbose_name=_("email"),
    )
    ses_message_id = models.CharField(_("SES message id"), max_length=100, blank=True)
    #: The SES configuration set the email went through (configuration-set events carry it).
    configuration_set = models.CharField(_("configuration set"), max_length=64, blank=True)
    #: How Campanile read it: a bounce's class (hard, soft, block, account_suppressed) or a
    #: complaint's feedback type.
    kind = models.CharField(_("kind"), max_length=32, blank=True)
    #: An open or click made by a machine (a privacy proxy prefetching images, a link scanner),
    #: kept for the record but left out of human engagement figures.
    is_machine = models.BooleanField(_("is machine"), default=False)
    #: Idempotency key of the report (the SNS MessageId plus recipient, or our own id for clicks).
    event_id = models.CharField(_("event id"), max_length=200, unique=True)
    #: The provider's payload as received, for audits and re-processing.
    raw = models.JSONField(_("raw"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["step_execution", "type"], name="event_execution_type_idx"),
            models.Index(fields=["type", "occurred_at"], name="event_type_time_idx"),
            models.Index(fields=["recipient", "occurred_at"], name="event_recipient_idx"),
            models.Index(
                fields=["ses_message_id"], condition=~models.Q(ses_message_id=""), name="event_ses_id_idx"
            ),
        ]
        verbose_name = _("open, click or SES event")
        verbose_name_plural = _("opens and clicks")

    def __str__(self) -> str:
        return f"{self.get_type_display()} · {self.recipient} · {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def link_id(self) -> int | None:
        """The tracked link a click followed (None for other events, or a payload not of ours)."""
        link = self.raw.get("link_id") if isinstance(self.raw, dict) else None
        return link if isinstance(link, int) else None


class EventTally(Tally):
    """Campaign events per (step, type, kind, machine or not, minute), as signed deltas the
    database adds.

    Kept by triggers on the events table (migration 0007), like `delivery.LedgerTally`: a
    re-judged click moves between its rows in the same transaction. The report's charts over time
    and by client read it.
    """

    step_id = models.BigIntegerField(_("step id"))
    type = models.CharField(_("type"), max_length=24)
    kind = models.CharField(_("kind"), max_length=32, blank=True)
    is_machine = models.BooleanField(_("is machine"))
    minute = models.DateTimeField(_("minute"))

    class Meta:
        indexes = [models.Index(fields=["step_id"], name="event_tally_step_idx")]
        verbose_name = _("event tally")
        verbose_name_plural = _("event tallies")

    def __str__(self) -> str:
        return f"step {self.step_id} {self.type} {self.minute}: {self.n:+d}"


class SnsMessage(models.Model):
    """A verified SNS notification, stored before it is acknowledged and applied afterwards.

    The inbox makes "answer SNS fast" and "lose nothing" agree: the webhook only verifies and
    stores; the apply tick, every SNS_APPLY_SECONDS, applies. An unapplied row stays until applied.
    """

    message_id = models.CharField(_("message id"), max_length=100, unique=True)
    topic_arn = models.CharField(_("topic arn"), max_length=300)
    #: The SES event record, as SNS carried it.
    message = models.TextField(_("message"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    #: Not tried again before this: it waits for its ledger rows.
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)
    #: Why it is not applied yet, or why it could not be read.
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(
                fields=["received_at"], condition=models.Q(applied_at__isnull=True), name="sns_unapplied_idx"
            ),
        ]
        verbose_name = _("SES notification")
        verbose_name_plural = _("SES notifications")

    def __str__(self) -> str:
        return self.message_id


class SoftBounceStreak(models.Model):
    """Soft bounces in a row for one address; a delivery resets it, reaching the limit suppresses."""

    email = models.EmailField(_("email"), max_length=254, unique=True)
    count = models.PositiveIntegerField(_("count"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("soft-bounce streak")
        verbose_name_plural = _("soft-bounce streaks")

    def __str__(self) -> str:
        return f"{self.email}: {self.count}"


class TrackingHit(models.Model):
    """One pixel fetch or click, written by the tracking views in one cheap INSERT.

    No foreign keys and one index: the views stay fast under load. The consumer tick turns hits
    into TrackingEvents in bulk and deletes them; until then they wait here, so nothing is lost
    while the consumer is down.
    """

    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        CLICK = "click", _("Click")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    tracking_id = models.UUIDField(_("tracking id"))
    link_id = models.BigIntegerField(_("link id"), null=True, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    method = models.CharField(_("method"), max_length=8)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    #: Truncated or hashed as TRACKING_IP_MODE says; never the raw address.
    ip = models.CharField(_("ip"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("tracking hit")
        verbose_name_plural = _("tracking hits")

    def __str__(self) -> str:
        return f"{self.kind} {self.tracking_id}"


class ClickCounters(models.Model):
    """Clicks counted by the consumer: "unique" counts emails, machine clicks are apart."""

    clicks_unique = models.IntegerField(_("clicks unique"), default=0)
    clicks_total = models.IntegerField(_("clicks total"), default=0)
    machine_clicks_total = models.IntegerField(_("machine clicks total"), default=0)

    class Meta:
        abstract = True


class StepEngagement(ClickCounters):
    """A campaign step's opens and clicks; "unique" counts emails, machine traffic is apart."""

    step = models.OneToOneField(
        "campaigns.CampaignStep",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="engagement",
        verbose_name=_("step"),
    )
    opens_unique = models.IntegerField(_("opens unique"), default=0)
    opens_total = models.IntegerField(_("opens total"), default=0)
    machine_opens_total = models.IntegerField(_("machine opens total"), default=0)
    # Emails with each outcome SES reported (or the recipient, for unsubscribes), each counted once.
    delivered = models.IntegerField(_("delivered"), default=0)
    bounced = models.IntegerField(_("bounced"), default=0)
    bounced_hard = models.IntegerField(_("bounced hard"), default=0)
    bounced_soft = models.IntegerField(_("bounced soft"), default=0)
    bounced_other = models.IntegerField(_("bounced other"), default=0)
    complained = models.IntegerField(_("complained"), default=0)
    rejected = models.IntegerField(_("rejected"), default=0)
    unsubscribed = models.IntegerField(_("unsubscribed"), default=0)
    #: Emails whose outcome put the address on the suppression list: a hard bounce, a complaint,
    #: or a bounce because SES's account-level list holds it.
    suppressed = models.IntegerField(_("suppressed"), default=0)
    #: Emails whose recipient showed they arrived (opened, clicked, unsubscribed or complained)
    #: before SES reported them delivered: delivered all the same (tracking.outcomes.counts_shown).
    arrived_unreported = models.IntegerField(_("arrived before SES confirmed delivery"), default=0)

    class Meta:
        verbose_name = _("step engagement")
        verbose_name_plural = _("step engagements")

    def __str__(self) -> str:
        return f"step {self.step_id}: {self.opens_unique} opened, {self.clicks_unique} clicked"


class LinkEngagement(ClickCounters):
    """A tracked link's clicks: emails that clicked it, human clicks, machine clicks."""

    link = models.OneToOneField(
        "delivery.TrackedLink",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="engagement",
        verbose_name=_("link"),
    )

    class Meta:
        verbose_name = _("link engagement")
        verbose_name_plural = _("link engagements")

    def __str__(self) -> str:
        return f"link {self.link_id}: {self.clicks_unique} clicked"


class Alert(models.Model):
    """Something about a campaign's mail a person should look at, raised once per campaign and kind."""

    class Kind(models.TextChoices):
        BOUNCE_RATE = "bounce_rate", _("Bounce rate over its limit")
        COMPLAINT_RATE = "complaint_rate", _("Complaint rate over its limit")
        OPEN_DROP = "open_drop", _("Open rate fell against the sender's average")
        CLICK_DROP = "click_drop", _("Click rate fell against the sender's average")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="alerts", verbose_name=_("campaign")
    )
    message = models.CharField(_("message"), max_length=500)
    value = models.FloatField(_("value"))
    threshold = models.FloatField(_("threshold"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "kind"], name="alert_once_per_kind")]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return self.message


class SendEventsCheck(models.Model):
    """Whether a configuration set publishes SES's Send events to our webhook, as SESv2 last said.

    Only where it does can an `unknown` row's silence prove SES never took it (tracking/unknown_rows.py).
    """

    configuration_set = models.CharField(_("configuration set"), max_length=64, unique=True)
    published = models.BooleanField(_("published"), default=False)
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)
    #: What SES answered: the destinations that match, or why it could not be asked.
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("send events check")
        verbose_name_plural = _("send events checks")

    def __str__(self) -> str:
        return f"{self.configuration_set}: Send events {'published' if self.published else 'not published'}"
