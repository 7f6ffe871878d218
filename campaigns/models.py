"""Audience (contacts, lists, suppressions), templates, campaigns and their steps."""

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The one address rule lives in core; email_normalize stays importable from here, where it was.
from campaigns.validators import STEP_MAX_DELAY, validate_attributes, validate_ses_name
from core.addresses import email_canonical, email_normalize, mailbox_canonical


def _email_clean(row: "Contact | Suppression") -> None:
    """Put a contact's or a suppression's address in its stored form, or say on its field why not."""
    if row.email:  # An empty one is the field's own check.
        try:
            row.email = email_canonical(row.email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None


def validate_timezone(value: str) -> None:
    """Reject names that are not IANA time zones."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. Europe/Paris).")


def validate_weekdays(value: str) -> None:
    """Reject weekday sets that are not ISO weekday digits (1 = Monday … 7 = Sunday), each once."""
    if value and (not set(value) <= set("1234567") or len(set(value)) != len(value)):
        raise ValidationError(f"{value!r} is not a set of weekdays such as 12345 (1 = Monday, 7 = Sunday).")


_CRONTAB_FIELDS = ("minute", "hour", "day", "month", "weekday")
# django-celery-beat's CrontabSchedule columns, field by field.
_CRONTAB_LONGEST = (240, 96, 124, 64, 64)


def validate_crontab(value: str) -> None:
    """Reject schedules that are not five crontab fields."""
    if not value:
        return
    from celery.schedules import ParseException, crontab

    fields = value.split()
    try:
        if len(fields) != 5:
            raise ValueError("five fields are needed")
        # Each field is stored in beat's own table, whose columns are this long.
        for name, field, longest in zip(_CRONTAB_FIELDS, fields, _CRONTAB_LONGEST, strict=True):
            if len(field) > longest:
                raise ValueError(f"its {name} field is longer than {longest} characters")
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except (ValueError, TypeError, ParseException) as exc:
        raise ValidationError(
            f"{value!r} is not a crontab schedule like 0 9 * * 1 (minute hour day month weekday): {exc}"
        ) from None


class HttpsURLField(models.URLField):
    """A URL field whose form reads an address typed without a scheme as https."""

    # Django's URLField.formfield takes keywords only; the stubs give it Field's positional ones.
    def formfield(self, **kwargs):  # type: ignore[override]
        return super().formfield(**{"assume_scheme": "https", **kwargs})


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        abstract = True


class Contact(TimestampedModel):
    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    email = models.EmailField(max_length=254, unique=True, verbose_name=_("email"))
    first_name = models.CharField(max_length=150, blank=True, verbose_name=_("first name"))
    last_name = models.CharField(max_length=150, blank=True, verbose_name=_("last name"))
    #: The integrator's own user id; the API finds contacts by it.
    external_id = models.CharField(max_length=255, blank=True, verbose_name=_("external id"))
    #: Free-form personalization data, reachable in templates as {{ attributes.<key> }}.
    attributes = models.JSONField(
        default=dict, blank=True, validators=[validate_attributes], verbose_name=_("attributes")
    )
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], verbose_name=_("timezone")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SUBSCRIBED, verbose_name=_("status")
    )
    unsubscribed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("unsubscribed at"))
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
        _email_clean(self)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactList(TimestampedModel):
    name = models.CharField(max_length=200, unique=True, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
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
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

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
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        SOFT_BOUNCE = "soft_bounce", "Repeated soft bounces"
        COMPLAINT = "complaint", "Complaint"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        ACCOUNT_SUPPRESSION = "account_suppression", "On the SES account suppression list"
        MANUAL = "manual", "Added by hand"

    class Source(models.TextChoices):
        SES = "ses", "SES event"
        ADMIN = "admin", "Admin"
        API = "api", "API"
        TRACKING = "tracking", "Unsubscribe link"
        IMPORT = "import", "Import"

    email = models.EmailField(max_length=254, unique=True, verbose_name=_("email"))
    reason = models.CharField(max_length=32, choices=Reason.choices, verbose_name=_("reason"))
    source = models.CharField(max_length=16, choices=Source.choices, verbose_name=_("source"))
    detail = models.TextField(blank=True, verbose_name=_("detail"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

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
        _email_clean(self)


class Template(TimestampedModel):
    """An email in Django template syntax over {{ contact }} and {{ attributes }}."""

    name = models.SlugField(
        max_length=200,
        unique=True,
        help_text=_("Integrators name templates by this."),
        verbose_name=_("name"),
    )
    subject = models.CharField(max_length=998, verbose_name=_("subject"))
    html_body = models.TextField(blank=True, verbose_name=_("HTML"))
    text_body = models.TextField(
        blank=True, help_text=_("Leave empty to derive it from the HTML body."), verbose_name=_("text")
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

    name = models.CharField(max_length=200, verbose_name=_("name"))
    from_email = models.CharField(
        max_length=320,
        help_text=_("An address on a verified SES identity, e.g. Acme News &lt;news@acme.com&gt;."),
        verbose_name=_("from"),
    )
    reply_to = models.EmailField(max_length=254, blank=True, verbose_name=_("reply-to"))
    lists = models.ManyToManyField(ContactList, related_name="campaigns", blank=True, verbose_name=_("lists"))
    configuration_set = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_ses_name],
        help_text=_("SES configuration set; empty uses SES_CONFIGURATION_SET."),
        verbose_name=_("configuration set"),
    )
    scheduled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Empty means as soon as scheduled."),
        verbose_name=_("scheduled at"),
    )
    track_opens = models.BooleanField(
        default=True, help_text=_("Add an open pixel to the HTML."), verbose_name=_("track opens")
    )
    track_clicks = models.BooleanField(
        default=True,
        help_text=_("Send web links through the click redirect."),
        verbose_name=_("track clicks"),
    )

    class Audience(models.TextChoices):
        FIXED = "fixed", _("Fixed when it starts")
        EVERGREEN = "evergreen", _("Evergreen: contacts who join a list later start at step 1")

    audience_mode = models.CharField(
        max_length=16, choices=Audience.choices, default=Audience.FIXED, verbose_name=_("audience mode")
    )
    goal_url = HttpsURLField(
        max_length=2000,
        blank=True,
        help_text=_("A contact who clicks a link to this address leaves the sequence (the goal is met)."),
        verbose_name=_("goal url"),
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("Send windows use each contact's time zone, or this one for contacts without one."),
        verbose_name=_("timezone"),
    )
    send_window_start = models.TimeField(
        null=True,
        blank=True,
        help_text=_("Send only from this local time…"),
        verbose_name=_("send window start"),
    )
    send_window_end = models.TimeField(
        null=True,
        blank=True,
        help_text=_("…until this one (may pass midnight)."),
        verbose_name=_("send window end"),
    )
    send_weekdays = models.CharField(
        max_length=7,
        blank=True,
        validators=[validate_weekdays],
        help_text=_(
            "Send only on these local weekdays, 1 = Monday … 7 = Sunday, e.g. 12345; empty: every day."
        ),
        verbose_name=_("send weekdays"),
    )
    recurrence = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_crontab],
        help_text=_(
            'Repeat on this crontab schedule (minute hour day month weekday, e.g. "0 9 * * 1"), '
            "each run a new send to the audience of that moment."
        ),
        verbose_name=_("recurrence"),
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
        max_length=16, choices=Status.choices, default=Status.DRAFT, editable=False, verbose_name=_("status")
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("started at"))
    #: Why the campaign is in its status when the system, not a person, put it there.
    status_note = models.CharField(max_length=300, blank=True, editable=False, verbose_name=_("status note"))
    completed_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("completed at"))
    #: Last sign of life of the task sending this campaign; a stale one lets the tick start another.
    send_heartbeat_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("send heartbeat at")
    )
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
    order = models.PositiveSmallIntegerField(default=1, verbose_name=_("order"))
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, related_name="steps", verbose_name=_("template")
    )
    #: Wait between the contact's previous step (its send, or when it was skipped) and this one;
    #: ignored for the first step.
    delay = models.DurationField(
        default=timedelta(0),
        blank=True,
        help_text=_("After the contact's previous step, e.g. 3 days."),
        validators=[MinValueValidator(timedelta(0)), MaxValueValidator(STEP_MAX_DELAY)],
        verbose_name=_("delay"),
    )
    send_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("A fixed time instead of a delay: not before this moment."),
        verbose_name=_("send at"),
    )
    condition = models.CharField(
        max_length=16,
        choices=Condition.choices,
        default=Condition.ALWAYS,
        help_text=_("Human engagement with earlier steps; a contact it excludes skips this step."),
        verbose_name=_("condition"),
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
        max_length=2000,
        blank=True,
        help_text=_("For “clicked a given link”."),
        verbose_name=_("condition url"),
    )
    # Fan-out progress, kept by the delivery engine so an interrupted fan-out resumes where it
    # stopped: contacts with ids up to fan_out_until (the highest id when it began) are taken in
    # id ranges; fan_out_cursor is the last id done.
    fan_out_until = models.BigIntegerField(
        null=True, blank=True, editable=False, verbose_name=_("fan out until")
    )
    fan_out_cursor = models.BigIntegerField(default=0, editable=False, verbose_name=_("fan out cursor"))
    fanned_out_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("fanned out at")
    )
    #: Drip progress: contacts who passed the previous step up to this moment have been moved on.
    advanced_through = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("advanced through")
    )
    #: The last advance that read every row of the previous step, not only the recent ones.
    fully_advanced_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("fully advanced at")
    )

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
    action = models.CharField(max_length=16, verbose_name=_("action"))
    from_status = models.CharField(
        max_length=16, choices=Campaign.Status.choices, verbose_name=_("from status")
    )
    to_status = models.CharField(max_length=16, choices=Campaign.Status.choices, verbose_name=_("to status"))
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
    actor = models.CharField(max_length=200, verbose_name=_("actor"))
    note = models.CharField(max_length=300, blank=True, verbose_name=_("note"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["campaign", "at"], name="campaign_audit_idx")]
        verbose_name = _("campaign move")
        verbose_name_plural = _("campaign history")

    def __str__(self) -> str:
        return f"{self.campaign}: {self.action} by {self.actor}"


class ConsentChange(models.Model):
    """One change of a contact's consent status: from what, to what, when, who, which way and why.

    Written by campaigns.consent on every path that changes a status; never edited. A contact's
    first status, set when it is created, is not a change.
    """

    class By(models.TextChoices):
        API_KEY = "api_key", "API key"
        STAFF = "staff", "Staff user"
        CONTACT = "contact", "The contact"
        SYSTEM = "system", "System"

    class Via(models.TextChoices):
        API = "api", "API (contact PATCH or PUT)"
        API_BULK = "api_bulk", "API bulk upsert"
        API_IMPORT = "api_import", "API CSV import"
        ADMIN = "admin", "Admin"
        UNSUBSCRIBE_PAGE = "unsubscribe_page", "Unsubscribe page"
        ONE_CLICK = "one_click", "One-click unsubscribe"
        SYSTEM = "system", "System"

    # The (contact, at) index serves "a contact's history"; a separate one on contact would be a copy.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="consent_changes",
        db_index=False,
        verbose_name=_("contact"),
    )
    from_status = models.CharField(
        max_length=16, choices=Contact.Status.choices, verbose_name=_("from status")
    )
    to_status = models.CharField(max_length=16, choices=Contact.Status.choices, verbose_name=_("to status"))
    by = models.CharField(max_length=16, choices=By.choices, verbose_name=_("by"))
    #: Who, in words: "API key “shop” (AbCd1234)", "ada", the contact's address, "system".
    actor = models.CharField(max_length=200, verbose_name=_("actor"))
    #: The person, if one acted through the admin.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    via = models.CharField(max_length=32, choices=Via.choices, verbose_name=_("via"))
    reason = models.CharField(max_length=500, blank=True, verbose_name=_("reason"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["contact", "at"], name="consent_change_idx")]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self) -> str:
        return f"{self.contact}: {self.from_status} → {self.to_status} by {self.actor}"
