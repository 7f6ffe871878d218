"""The record of each load test run and its verdict."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LoadTestRun(models.Model):
    """One run of the built-in load test (`manage.py loadtest` or the admin) and its verdict."""

    class Via(models.TextChoices):
        API = "api", _("POST /api/v1/messages")
        CAMPAIGN = "campaign", _("A one-step campaign")

    class Ses(models.TextChoices):
        CURRENT = "current", _("The configured SES (real SES: mailbox-simulator recipients only)")
        STANDIN = "standin", _("The load stand-in (fast; it records what it receives)")
        MOTO = "moto", _("moto (function, about 300 calls/s)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        #: No duplicate or missing message; what that was checked against is the report's proof.
        PASSED = "passed", _("Passed")
        FAILED = "failed", _("Failed: duplicates or missing messages")
        ERROR = "error", _("Could not run")

    class Proof(models.TextChoices):
        """What a run's messages were counted against: its report's `proof`."""

        #: The ledger and what SES's side received (a stand-in's record, moto's, Send events).
        SES = "ses", _("counted at SES")
        #: The ledger alone: no record of SES's side (real SES without Send events, or none yet).
        LEDGER = "ledger", _("ledger only: SES's side was not checked")

    #: Goes into every recipient address of the run (`success+<label>-<n>@…`), so its mail is
    #: told apart from all other mail on the ledger and at SES.
    label = models.CharField(_("label"), max_length=32, unique=True, editable=False)
    messages = models.PositiveIntegerField(
        _("messages"),
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text=_("How many messages to send."),
    )
    rate = models.FloatField(
        _("rate"), validators=[MinValueValidator(0.1)], help_text=_("Messages per second, offered and sent.")
    )
    via = models.CharField(_("via"), max_length=16, choices=Via.choices, default=Via.API)
    ses = models.CharField(
        _("SES"), max_length=16, choices=Ses.choices, default=Ses.STANDIN, help_text=_("Where the mail goes.")
    )
    to = models.TextField(
        _("to"),
        default="success@simulator.amazonses.com",
        help_text=_("Recipient addresses, comma-separated; each message gets a +label of its own."),
    )
    kill_worker_at = models.FloatField(
        _("kill worker at"),
        null=True,
        blank=True,
        help_text=_("SIGKILL one worker when this share (%) is sent, then restart it."),
    )
    allow_real_recipients = models.BooleanField(_("allow real recipients"), default=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED, editable=False
    )
    started_by = models.CharField(_("started by"), max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)
    #: What `loadtest_report` measured: counts, rates, latencies, queue depth over time.
    report = models.JSONField(_("report"), default=dict, blank=True, editable=False)
    #: The API key or campaign the run made, and where the SES side's receipts are.
    context = models.JSONField(_("context"), default=dict, blank=True, editable=False)

    class Meta:
        # The table keeps the name it was made with in delivery, where the model used to live.
        db_table = "delivery_loadtestrun"
        ordering = ["-created_at"]
        verbose_name = _("load test run")
        verbose_name_plural = _("load test runs")

    def __str__(self) -> str:
        return f"Load test {self.label}: {self.messages} via {self.via} ({self.get_status_display()})"
