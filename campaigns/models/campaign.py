"""Campaigns, their steps and the history of their status."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.fields import HttpsURLField
from campaigns.models.audience import ContactList
from campaigns.models.content import Template
from campaigns.models.segments import Segment
from campaigns.validators import (
    STEP_MAX_DELAY,
    validate_crontab,
    validate_ses_name,
    validate_shown_name,
    validate_timezone,
    validate_weekdays,
)
from core.addresses import email_canonical, mailbox_canonical
from core.models import TimestampedModel


class Campaign(TimestampedModel):
    #: The most steps a campaign holds, however they come (API, admin, a recurring run's copy). A
    #: demanding drip (onboarding, nurture, win-back) runs a handful to a few dozen emails, as do
    #: Mailchimp's and ActiveCampaign's journeys; 50 leaves room for those, while the admin's page
    #: of a campaign (a form per step, each offering the others as its condition's step) and the
    #: sending work done per step stay bounded.
    MAX_STEPS = 50

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    #: Staff read it in every page and message that names the campaign (a refusal naming it too).
    name = models.CharField(_("name"), max_length=200, validators=[validate_shown_name])
    from_email = models.CharField(
        _("from"),
        max_length=320,
        help_text=_("An address on a verified SES identity, e.g. Acme News &lt;news@acme.com&gt;."),
    )
    reply_to = models.EmailField(_("reply-to"), max_length=254, blank=True)
    lists = models.ManyToManyField(ContactList, related_name="campaigns", blank=True, verbose_name=_("lists"))
    #: With lists: only their members who match a segment; alone: whoever matches one
    #: (campaigns.selectors.campaign_audience_base).
    segments = models.ManyToManyField(
        Segment,
        related_name="campaigns",
        blank=True,
        verbose_name=_("segments"),
        help_text=_("Mail only contacts who match one of these segments (on the lists, if any are chosen)."),
    )
    configuration_set = models.CharField(
        _("configuration set"),
        max_length=64,
        blank=True,
        validators=[validate_ses_name],
        help_text=_("SES configuration set; empty uses SES_CONFIGURATION_SET."),
    )
    scheduled_at = models.DateTimeField(
        _("scheduled at"), null=True, blank=True, help_text=_("Empty means as soon as scheduled.")
    )
    track_opens = models.BooleanField(
        _("track opens"), default=True, help_text=_("Add an open pixel to the HTML.")
    )
    track_clicks = models.BooleanField(
        _("track clicks"), default=True, help_text=_("Send web links through the click redirect.")
    )

    class Audience(models.TextChoices):
        FIXED = "fixed", _("Fixed when it starts")
        EVERGREEN = "evergreen", _("Ongoing: contacts who join the audience later get it too, from step 1")

    audience_mode = models.CharField(
        _("audience mode"), max_length=16, choices=Audience.choices, default=Audience.FIXED
    )
    goal_url = HttpsURLField(
        _("goal url"),
        max_length=2000,
        blank=True,
        help_text=_("A contact who clicks a link to this address gets no more of its emails (goal met)."),
    )
    timezone = models.CharField(
        _("timezone"),
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("Send windows use each contact's time zone, or this one for contacts without one."),
    )
    send_window_start = models.TimeField(
        _("send window start"), null=True, blank=True, help_text=_("Send only from this local time…")
    )
    send_window_end = models.TimeField(
        _("send window end"), null=True, blank=True, help_text=_("…until this one (may pass midnight).")
    )
    send_weekdays = models.CharField(
        _("send weekdays"),
        max_length=7,
        blank=True,
        validators=[validate_weekdays],
        help_text=_(
            "Send only on these local weekdays, 1 = Monday … 7 = Sunday, e.g. 12345; empty: every day."
        ),
    )
    recurrence = models.CharField(
        _("recurrence"),
        max_length=100,
        blank=True,
        validators=[validate_crontab],
        help_text=_(
            'Repeat on this crontab schedule (minute hour day month weekday, e.g. "0 9 * * 1"), '
            "each run a new send to the audience of that moment."
        ),
    )
    #: For a run of a recurring campaign: the campaign it repeats.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        editable=False,
        verbose_name=_("parent"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    #: Why the campaign is in its status when the system, not a person, put it there.
    status_note = models.CharField(_("status note"), max_length=300, blank=True, editable=False)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True, editable=False)
    #: Last sign of life of the task sending this campaign; a stale one lets the tick start another.
    send_heartbeat_at = models.DateTimeField(_("send heartbeat at"), null=True, blank=True, editable=False)
    #: Made by a load test: hidden from the marketer's lists and from the alerts' trailing averages.
    is_load_test = models.BooleanField(_("load test"), default=False, db_default=False, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="campaign_due_idx")]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        for name, canonical in (("from_email", mailbox_canonical), ("reply_to", email_canonical)):
            # An empty value is the field's own check (from_email required, reply_to optional).
            if getattr(self, name):
                try:
                    setattr(self, name, canonical(getattr(self, name)))
                except ValidationError as exc:
                    errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)


class CampaignStep(models.Model):
    class Condition(models.TextChoices):
        ALWAYS = "always", _("Always")
        OPENED = "opened", _("Opened")
        NOT_OPENED = "not_opened", _("Not opened")
        CLICKED = "clicked", _("Clicked")
        NOT_CLICKED = "not_clicked", _("Not clicked")
        CLICKED_LINK = "clicked_link", _("Clicked a given link")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="steps", verbose_name=_("campaign")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=1)
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, related_name="steps", verbose_name=_("template")
    )
    #: Wait between the contact's previous step (its send, or when it was skipped) and this one;
    #: ignored for the first step.
    delay = models.DurationField(
        _("delay"),
        default=timedelta(0),
        blank=True,
        help_text=_("After the contact's previous step, e.g. 3 days."),
        validators=[MinValueValidator(timedelta(0)), MaxValueValidator(STEP_MAX_DELAY)],
    )
    send_at = models.DateTimeField(
        _("send at"),
        null=True,
        blank=True,
        help_text=_("A fixed time instead of a delay: not before this moment."),
    )
    condition = models.CharField(
        _("condition"),
        max_length=16,
        choices=Condition.choices,
        default=Condition.ALWAYS,
        help_text=_("Human engagement with earlier steps; a contact it excludes skips this step."),
    )
    condition_step = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The earlier step the condition looks at; empty: any earlier step."),
        verbose_name=_("condition step"),
    )
    condition_url = HttpsURLField(
        _("condition url"), max_length=2000, blank=True, help_text=_("For “clicked a given link”.")
    )
    # Fan-out progress, kept by the delivery engine so an interrupted fan-out resumes where it
    # stopped: contacts with ids up to fan_out_until (the highest id when it began) are taken in
    # id ranges; fan_out_cursor is the last id done.
    fan_out_until = models.BigIntegerField(_("fan out until"), null=True, blank=True, editable=False)
    fan_out_cursor = models.BigIntegerField(_("fan out cursor"), default=0, editable=False)
    fanned_out_at = models.DateTimeField(_("fanned out at"), null=True, blank=True, editable=False)
    #: Drip progress: contacts who passed the previous step up to this moment have been moved on.
    advanced_through = models.DateTimeField(_("advanced through"), null=True, blank=True, editable=False)
    #: The last advance that read every row of the previous step, not only the recent ones.
    fully_advanced_at = models.DateTimeField(_("fully advanced at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["campaign", "order"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "order"], name="campaign_step_order_unique"),
        ]
        verbose_name = _("step")
        verbose_name_plural = _("steps")

    def __str__(self) -> str:
        return f"{self.campaign} · step {self.order}"

    def summary(self) -> str:
        """Describe the step in a sentence: when it goes, to whom, with which template."""
        from campaigns.step_words import step_summary  # It imports the models.

        return step_summary(self)


class CampaignAudit(models.Model):
    """One move of a campaign along its status machine: who made it, when, and why."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="audit", verbose_name=_("campaign")
    )
    action = models.CharField(_("action"), max_length=16)
    from_status = models.CharField(_("from status"), max_length=16, choices=Campaign.Status.choices)
    to_status = models.CharField(_("to status"), max_length=16, choices=Campaign.Status.choices)
    #: The person, if one acted through the admin.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    #: Who, in words: "ada (admin)", "API key “shop”", "system".
    actor = models.CharField(_("actor"), max_length=200)
    note = models.CharField(_("note"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["campaign", "at"], name="campaign_audit_idx")]
        verbose_name = _("campaign move")
        verbose_name_plural = _("campaign history")

    def __str__(self) -> str:
        words = {"campaign": self.campaign, "action": self.action, "actor": self.actor}
        return gettext("%(campaign)s: %(action)s by %(actor)s") % words
