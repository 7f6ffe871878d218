"""Signup forms: how visitors join lists, and each signup awaiting its confirmation."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.fields import HttpsURLField
from campaigns.models.audience import Contact, ContactList
from campaigns.models.content import Template
from campaigns.validators import validate_shown_name
from core.addresses import mailbox_canonical
from core.models import TimestampedModel


class SignupForm(TimestampedModel):
    """A public form that adds whoever fills it in to lists, after they confirm by email (double
    opt-in) or at once (single opt-in). Served at /f/<slug> and as an HTML snippet to embed."""

    class OptIn(models.TextChoices):
        DOUBLE = "double", _("Double opt-in: subscribed once they confirm by email")
        SINGLE = "single", _("Single opt-in: subscribed when they submit")

    class Ask(models.TextChoices):
        NO = "no", _("Not asked")
        OPTIONAL = "optional", _("Optional")
        REQUIRED = "required", _("Required")

    #: Staff read it, and so does the contact in their consent history ("through the form …").
    name = models.CharField(
        _("name"),
        max_length=200,
        unique=True,
        validators=[validate_shown_name],
        help_text=_("For you; visitors never see it."),
    )
    slug = models.SlugField(
        _("address"),
        max_length=100,
        unique=True,
        help_text=_("The form's page is at /f/ followed by this, on your public site."),
    )
    is_active = models.BooleanField(
        _("accepting signups"), default=True, help_text=_("A closed form says so and adds no one.")
    )
    title = models.CharField(
        _("heading"),
        max_length=200,
        validators=[validate_shown_name],
        help_text=_("The heading of the form's page."),
    )
    intro = models.TextField(
        _("introduction"), blank=True, help_text=_("Plain text shown under the heading.")
    )
    consent_text = models.CharField(
        _("consent wording"),
        max_length=500,
        help_text=_("What the visitor agrees to, next to the button; kept with each signup."),
    )
    button_text = models.CharField(
        _("button"), max_length=60, default=_("Subscribe"), validators=[validate_shown_name]
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("Of the form's pages, and recorded for each contact it adds."),
    )
    lists = models.ManyToManyField(
        ContactList,
        related_name="signup_forms",
        verbose_name=_("lists"),
        help_text=_("Who signs up joins these."),
    )
    visitor_chooses_lists = models.BooleanField(
        _("visitors choose their lists"),
        default=False,
        help_text=_("Show the lists as boxes to tick (at least one); otherwise they join them all."),
    )
    ask_first_name = models.CharField(
        _("first name"), max_length=10, choices=Ask.choices, default=Ask.OPTIONAL
    )
    ask_last_name = models.CharField(_("last name"), max_length=10, choices=Ask.choices, default=Ask.NO)
    opt_in = models.CharField(_("opt-in"), max_length=10, choices=OptIn.choices, default=OptIn.DOUBLE)
    from_email = models.CharField(
        _("confirmation email from"),
        max_length=320,
        blank=True,
        help_text=_("An address on a verified SES identity, e.g. Acme News &lt;news@acme.com&gt;."),
    )
    confirmation_template = models.ForeignKey(
        Template,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="signup_forms",
        verbose_name=_("confirmation email"),
        help_text=_("Its link to confirm is {{ confirm_url }}."),
    )
    captcha = models.BooleanField(
        _("ask for a captcha"),
        default=False,
        help_text=_("The captcha your operator set up (SIGNUP_CAPTCHA_CHECK) must be solved to sign up."),
    )
    thank_you_text = models.TextField(
        _("thank-you message"),
        blank=True,
        help_text=_("Shown after submitting; empty says to check their inbox (double opt-in)."),
    )
    thank_you_url = HttpsURLField(
        _("thank-you address"),
        blank=True,
        help_text=_("Send visitors here instead of the thank-you message."),
    )
    confirmed_text = models.TextField(_("confirmed message"), blank=True)
    confirmed_url = HttpsURLField(
        _("confirmed address"), blank=True, help_text=_("Send visitors here once they confirm, instead.")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("signup form")
        verbose_name_plural = _("signup forms")

    def __str__(self) -> str:
        return self.name

    @property
    def takes_signups(self) -> bool:
        """Tell whether the form takes signups: open, and with a list left to join (a list
        deleted since may have been its last)."""
        return self.is_active and self.lists.exists()

    def clean(self):
        errors: dict[str, str] = {}
        if self.from_email:
            try:
                self.from_email = mailbox_canonical(self.from_email)
            except ValidationError as exc:
                errors["from_email"] = exc.messages[0]
        if self.opt_in == self.OptIn.DOUBLE or self.confirmation_template_id or self.from_email:
            # Single opt-in forms mail too: one who unsubscribed confirms before they rejoin.
            if not self.from_email:
                errors.setdefault("from_email", gettext("The confirmation email needs a sender."))
            if self.confirmation_template is None:
                errors["confirmation_template"] = gettext("Choose the confirmation email.")
            elif not _mentions_confirm_url(self.confirmation_template):
                errors["confirmation_template"] = gettext(
                    "This template has no {{ confirm_url }}: its readers could not confirm."
                )
        if self.captcha and not settings.SIGNUP_CAPTCHA_CHECK:
            errors["captcha"] = gettext("No captcha is set up: SIGNUP_CAPTCHA_CHECK is empty.")
        if errors:
            raise ValidationError(errors)


def _mentions_confirm_url(template: Template) -> bool:
    return any("confirm_url" in part for part in (template.html_body, template.text_body))


class Signup(models.Model):
    """One submission of a signup form, kept as the consent's evidence; pending until confirmed.

    What the visitor gave waits here, not on the contact: a signup for an address already on file
    changes nothing until the address's owner confirms it.
    """

    class Status(models.TextChoices):
        #: Taken from the visitor, not yet decided on (a worker does, within seconds).
        RECEIVED = "received", _("Received")
        PENDING = "pending", _("Awaiting confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        #: Applied as it came: a single opt-in form.
        ACCEPTED = "accepted", _("Subscribed without confirming (single opt-in)")

    form = models.ForeignKey(
        SignupForm, null=True, on_delete=models.SET_NULL, related_name="signups", verbose_name=_("form")
    )
    #: The form's name when the signup was made: the evidence outlives the form.
    form_name = models.CharField(_("form name"), max_length=200)
    email = models.EmailField(_("email"), max_length=254)
    first_name = models.CharField(
        _("first name"), max_length=150, blank=True, validators=[validate_shown_name]
    )
    last_name = models.CharField(_("last name"), max_length=150, blank=True, validators=[validate_shown_name])
    lists = models.ManyToManyField(ContactList, related_name="+", blank=True, verbose_name=_("lists"))
    #: The wording the visitor agreed to, as shown.
    consent_text = models.CharField(_("consent wording"), max_length=500)
    language = models.CharField(_("language"), max_length=8, blank=True)
    #: As TRACKING_IP_MODE keeps addresses: truncated, hashed or not at all.
    ip = models.CharField(_("IP address"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RECEIVED)
    # Goes with its contact: deleting a contact forgets the signups that made or named it.
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signups",
        verbose_name=_("contact"),
    )
    created_at = models.DateTimeField(_("signed up at"), default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="signup_email_lowercase"),
        ]
        indexes = [
            # Serves the per-address limit and the sweep of expired signups.
            models.Index(fields=["email", "created_at"], name="signup_email_idx"),
            models.Index(fields=["status", "created_at"], name="signup_status_idx"),
        ]
        verbose_name = _("signup")
        verbose_name_plural = _("signups")

    def __str__(self) -> str:
        return f"{self.email} ({self.form_name})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
