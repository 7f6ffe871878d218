"""Audience (contacts, lists, suppressions), templates, campaigns and their steps."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.fields import HttpsURLField
from campaigns.validators import (
    STEP_MAX_DELAY,
    email_clean,
    validate_attributes,
    validate_crontab,
    validate_ses_name,
    validate_timezone,
    validate_weekdays,
)

# The one address rule lives in core; email_normalize stays importable from here, where it was.
from core.addresses import email_canonical, email_normalize, mailbox_canonical
from core.models import TimestampedModel


class Contact(TimestampedModel):
    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    #: The integrator's own user id; the API finds contacts by it.
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    #: Free-form personalization data, reachable in templates as {{ attributes.<key> }}.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True, validators=[validate_attributes])
    timezone = models.CharField(_("timezone"), max_length=64, blank=True, validators=[validate_timezone])
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SUBSCRIBED)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    #: Made by a load test (or a message through a load-test API key): hidden from the marketer's
    #: lists, deleted by `manage.py loadtest_cleanup`.
    # db_default too: bulk imports COPY rows in SQL that names its columns.
    is_load_test = models.BooleanField(_("load test"), default=False, db_default=False, editable=False)

    class Meta:
        ordering = ["email"]
        constraints = [
            # The database, not only save(), keeps addresses canonical, so bulk writes and raw SQL
            # cannot slip in a second contact that differs only in case.
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="contact_email_lowercase"),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="contact_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="contact_status_idx"),
            # Only load-test contacts are indexed: the clean-up and the "only load tests" filter
            # find them without reading a marketer's million rows; everyone else is unaffected.
            models.Index(fields=["id"], condition=models.Q(is_load_test=True), name="contact_load_test_idx"),
        ]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = email_normalize(self.email)
        super().save(*args, **kwargs)

    def clean(self):
        email_clean(self)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactList(TimestampedModel):
    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    contacts: "models.ManyToManyField[Contact, ListMembership]" = models.ManyToManyField(
        Contact, through="ListMembership", related_name="lists", blank=True, verbose_name=_("contacts")
    )
    #: Made by a load test: hidden from the marketer's lists and choosers.
    is_load_test = models.BooleanField(_("load test"), default=False, db_default=False, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("list")
        verbose_name_plural = _("lists")

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    # The unique (contact_list, contact) index serves "members of a list"; the contact FK's own
    # index serves "lists of a contact". A separate index on contact_list would be a third copy.
    contact_list = models.ForeignKey(
        ContactList,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
        verbose_name=_("contact list"),
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("contact")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="list_membership_unique"),
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.contact} in {self.contact_list}"


class Suppression(models.Model):
    """An address that must never be mailed again, whatever list it is on.

    It lives with the audience because fan-out and claims (delivery) must read it; tracking writes
    to it through campaigns.services.
    """

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("Repeated soft bounces")
        COMPLAINT = "complaint", _("Complaint")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        ACCOUNT_SUPPRESSION = "account_suppression", _("On the SES account suppression list")
        MANUAL = "manual", _("Added by hand")

    class Source(models.TextChoices):
        SES = "ses", _("SES event")
        ADMIN = "admin", _("Admin")
        API = "api", _("API")
        TRACKING = "tracking", _("Unsubscribe link")
        IMPORT = "import", _("Import")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="suppression_email_lowercase"
            ),
        ]
        indexes = [models.Index(fields=["reason", "created_at"], name="suppression_reason_idx")]
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"

    def save(self, *args, **kwargs):
        self.email = email_normalize(self.email)
        super().save(*args, **kwargs)

    def clean(self):
        email_clean(self)


class Template(TimestampedModel):
    """An email in Django template syntax over {{ contact }} and {{ attributes }}."""

    name = models.SlugField(
        _("name"), max_length=200, unique=True, help_text=_("Integrators name templates by this.")
    )
    subject = models.CharField(_("subject"), max_length=998)
    html_body = models.TextField(_("HTML"), blank=True)
    text_body = models.TextField(
        _("text"), blank=True, help_text=_("Leave empty to derive it from the HTML body.")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from campaigns.rendering import template_validate

        template_validate(template=self)


class Campaign(TimestampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(_("name"), max_length=200)
    from_email = models.CharField(
        _("from"),
        max_length=320,
        help_text=_("An address on a verified SES identity, e.g. Acme News &lt;news@acme.com&gt;."),
    )
    reply_to = models.EmailField(_("reply-to"), max_length=254, blank=True)
    lists = models.ManyToManyField(ContactList, related_name="campaigns", blank=True, verbose_name=_("lists"))
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
        EVERGREEN = "evergreen", _("Ongoing: contacts who join a list later get it too, from step 1")

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


class ConsentChange(models.Model):
    """One change of a contact's consent status: from what, to what, when, who, which way and why.

    Written by campaigns.consent on every path that changes a status; never edited. A contact's
    first status, set when it is created, is not a change.
    """

    class By(models.TextChoices):
        API_KEY = "api_key", _("API key")
        STAFF = "staff", _("Staff user")
        CONTACT = "contact", _("The contact")
        SYSTEM = "system", _("System")

    class Via(models.TextChoices):
        API = "api", _("API (contact PATCH or PUT)")
        API_BULK = "api_bulk", _("API bulk upsert")
        API_IMPORT = "api_import", _("API CSV import")
        ADMIN = "admin", _("Admin")
        UNSUBSCRIBE_PAGE = "unsubscribe_page", _("Unsubscribe page")
        ONE_CLICK = "one_click", _("One-click unsubscribe")
        SYSTEM = "system", _("System")

    # The (contact, at) index serves "a contact's history"; a separate one on contact would be a copy.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="consent_changes",
        db_index=False,
        verbose_name=_("contact"),
    )
    from_status = models.CharField(_("from status"), max_length=16, choices=Contact.Status.choices)
    to_status = models.CharField(_("to status"), max_length=16, choices=Contact.Status.choices)
    by = models.CharField(_("by"), max_length=16, choices=By.choices)
    #: Who, in words: "API key “shop” (AbCd1234)", "ada", the contact's address, "system".
    actor = models.CharField(_("actor"), max_length=200)
    #: The person, if one acted through the admin.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    via = models.CharField(_("via"), max_length=32, choices=Via.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["contact", "at"], name="consent_change_idx")]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self) -> str:
        words = {"contact": self.contact, "actor": self.actor}
        words |= {"from": self.get_from_status_display(), "to": self.get_to_status_display()}
        return gettext("%(contact)s: %(from)s → %(to)s by %(actor)s") % words
