"""The audience: contacts, lists and memberships, suppressions and the consent history."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.validators import email_clean, validate_attributes, validate_shown_name, validate_timezone
from core.addresses import email_normalize
from core.models import TimestampedModel


class Contact(TimestampedModel):
    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        #: Signed up through a double opt-in form and not confirmed yet: never mailed by a campaign.
        PENDING = "pending", _("Awaiting confirmation")
        #: Made by a transactional email to an address not on file: never asked for campaign mail.
        TRANSACTIONAL = "transactional", _("Transactional email only")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    first_name = models.CharField(
        _("first name"), max_length=150, blank=True, validators=[validate_shown_name]
    )
    last_name = models.CharField(_("last name"), max_length=150, blank=True, validators=[validate_shown_name])
    #: The integrator's own user id; the API finds contacts by it.
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    #: Free-form personalization data, reachable in templates as {{ attributes.<key> }}.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True, validators=[validate_attributes])
    timezone = models.CharField(_("timezone"), max_length=64, blank=True, validators=[validate_timezone])
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SUBSCRIBED)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    #: The addresses it held before, oldest first: its own still, so its personal-data export shows
    #: them and its erasure erases them, with the opt-out an unsubscribed one keeps (campaigns.consent).
    former_emails = models.JSONField(
        _("former addresses"), default=list, db_default=[], blank=True, editable=False
    )
    #: The end of their latest break (ContactBreak), kept here so "paused now" needs no join.
    paused_until = models.DateTimeField(_("mail paused until"), null=True, blank=True)
    #: Made by a load test (or a message through a load-test API key): hidden from the marketer's
    #: lists, deleted by `manage.py loadtest_cleanup`.
    # db_default too: bulk imports COPY rows in SQL that names its columns.
    is_load_test = models.BooleanField(_("load test"), default=False, db_default=False, editable=False)

    #: The statuses staff, the API and imports may set; only a signup form makes a contact pending,
    #: and only a transactional email one that gets transactional email alone.
    STATUSES_GIVEN = (Status.SUBSCRIBED, Status.UNSUBSCRIBED)
    #: Whom subscribing takes an explicit flag and a reason: who said no, or has yet to say yes.
    SUBSCRIBING_NEEDS_REASON = (Status.UNSUBSCRIBED, Status.PENDING)

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
        if self._state.adding and self.status == self.Status.UNSUBSCRIBED and self.unsubscribed_at is None:
            # Made unsubscribed (the API, the admin's add form): when they left is now, as for a bulk
            # upsert; later changes go through campaigns.consent, which sets it.
            self.unsubscribed_at = timezone.now()
        super().save(*args, **kwargs)

    def clean(self):
        email_clean(self)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactBreak(models.Model):
    """A break from marketing mail a contact took in their preferences: each campaign email that
    fell due during it is skipped, however late it is claimed. Every break is kept, not only the
    latest, so an email due during an earlier one stays skipped through a later one."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="breaks", verbose_name=_("contact")
    )
    started_at = models.DateTimeField(_("started at"))
    #: When it ends, or ended: one ended early ends when they came back.
    ends_at = models.DateTimeField(_("ends at"))

    class Meta:
        ordering = ["contact", "started_at"]
        verbose_name = _("break from email")
        verbose_name_plural = _("breaks from email")

    def __str__(self) -> str:
        start, end = (formats.date_format(timezone.localtime(at)) for at in (self.started_at, self.ends_at))
        return f"{start} – {end}"


class ContactList(TimestampedModel):
    name = models.CharField(_("name"), max_length=200, unique=True, validators=[validate_shown_name])
    description = models.TextField(_("description"), blank=True)
    shown_to_contacts = models.BooleanField(
        _("shown to its contacts"),
        default=True,
        db_default=True,
        help_text=_("Its members see it by name in their email preferences, and may leave it there."),
    )
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

    def clean(self):
        """Refuse to put a contact back on a list they left themselves (ListDeparture)."""
        if self.contact_id is None or self.contact_list_id is None:
            return  # The field's own error says so.
        pair = {"contact_id": self.contact_id, "contact_list_id": self.contact_list_id}
        departure = ListDeparture.objects.filter(**pair).first()
        if departure is None or ListMembership.objects.filter(pk=self.pk, **pair).exists():
            return
        said = gettext(
            "%(contact)s left this list from their email preferences on %(date)s; only they can "
            "rejoin it, through a signup form whose email they confirm."
        )
        words = {
            "contact": departure.contact,
            "date": formats.date_format(timezone.localtime(departure.left_at)),
        }
        raise ValidationError({"contact_list": said % words})


class ListDeparture(models.Model):
    """A list a contact left themselves, in their email preferences: only they rejoin it, by a
    signup they confirm. Imports, the API and staff leave them off it (campaigns.memberships)."""

    class Via(models.TextChoices):
        #: The unsubscribe page's "leave this email's lists" (ConsentChange.Via's wording).
        UNSUBSCRIBE_PAGE = "unsubscribe_page", _("Unsubscribe page")
        #: Unticked among their lists on the preference page.
        PREFERENCES_PAGE = "preferences_page", _("Preference page")

    # The unique (contact, contact_list) index serves "a contact's departures"; the contact_list
    # FK keeps its own for the cascade when a list is deleted.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="list_departures",
        db_index=False,
        verbose_name=_("contact"),
    )
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="departures", verbose_name=_("list")
    )
    left_at = models.DateTimeField(_("left at"), default=timezone.now)
    via = models.CharField(_("via"), max_length=32, choices=Via.choices)

    class Meta:
        ordering = ["-left_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "contact_list"], name="list_departure_unique"),
        ]
        verbose_name = _("list left")
        verbose_name_plural = _("lists left")

    def __str__(self) -> str:
        return gettext("%(contact)s left %(list)s") % {"contact": self.contact, "list": self.contact_list}


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
        #: Kept as a hash while the address was erased, written again when it came back.
        ERASURE = "erasure", _("Kept through an erasure")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    detail = models.TextField(_("detail"), blank=True)
    #: Its owner opted out of campaign mail too: always so for an `unsubscribe`, and kept when a
    #: bounce or complaint replaces one or comes first, so lifting that reason leaves the opt-out.
    opted_out = models.BooleanField(
        _("opted out"),
        default=False,
        editable=False,
        help_text=_("Its owner opted out of campaign mail too: that outlives this reason."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="suppression_email_lowercase"
            ),
            # An unsubscribe is an opt-out: a writer that forgot the flag would lose it on a bounce.
            models.CheckConstraint(
                condition=models.Q(opted_out=True) | ~models.Q(reason="unsubscribe"),
                name="suppression_unsubscribe_opted_out",
            ),
        ]
        indexes = [models.Index(fields=["reason", "created_at"], name="suppression_reason_idx")]
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"

    def save(self, *args, **kwargs):
        self.email = email_normalize(self.email)
        if self.reason == self.Reason.UNSUBSCRIBE:
            self.opted_out = True
        super().save(*args, **kwargs)

    def clean(self):
        email_clean(self)


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
        ADMIN_IMPORT = "admin_import", _("Admin import")
        ADMIN = "admin", _("Admin")
        UNSUBSCRIBE_PAGE = "unsubscribe_page", _("Unsubscribe page")
        ONE_CLICK = "one_click", _("One-click unsubscribe")
        SIGNUP_FORM = "signup_form", _("Signup form")
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


class ContactConsent(models.Model):
    """Why a contact may be mailed: the lawful basis, where it was given and when. Never edited;
    a contact gathers one per import, signup or staff entry that vouches for them."""

    class Basis(models.TextChoices):
        CONSENT = "consent", _("Consent: they asked for our email")
        CONTRACT = "contract", _("Customers: email about what they bought from us")
        LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")

    class Source(models.TextChoices):
        IMPORT = "import", _("Admin import")
        FORM = "form", _("Signup form")
        API = "api", _("API")
        ADMIN = "admin", _("Admin")

    # The (contact, at) index serves "a contact's consents"; a separate one on contact would be a copy.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="consents", db_index=False, verbose_name=_("contact")
    )
    basis = models.CharField(_("basis"), max_length=32, choices=Basis.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    #: Where, in words: "Import 12 (leads.csv): trade fair 2026", a form's name.
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    #: The form's signup it came from: its wording, time, IP and confirmation.
    signup = models.ForeignKey(
        "campaigns.Signup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consents",
        verbose_name=_("signup"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["contact", "at"], name="contact_consent_idx")]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        return f"{self.contact}: {self.get_basis_display()} ({self.get_source_display()})"


class SuppressionRemoval(models.Model):
    """One suppression taken off the list: which address, what it had been, when, who and why.

    Removing one lets campaigns (and, for a bounce or complaint, transactional mail) reach the
    address again, so it is a consent change like a re-subscribe: written by
    campaigns.suppressions.suppression_remove on every path, never edited; erased with the address.
    """

    email = models.EmailField(_("email"), max_length=254, db_index=True)
    suppression_reason = models.CharField(
        _("it was suppressed for"), max_length=32, choices=Suppression.Reason.choices
    )
    suppressed_at = models.DateTimeField(_("suppressed at"))
    removed_at = models.DateTimeField(_("removed at"), default=timezone.now)
    by = models.CharField(_("by"), max_length=16, choices=ConsentChange.By.choices)
    #: Who, in words, as in the consent history: "API key “shop” (AbCd1234)", "ada".
    actor = models.CharField(_("actor"), max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    reason = models.CharField(_("why"), max_length=500)

    class Meta:
        ordering = ["-removed_at", "-pk"]
        verbose_name = _("suppression removed")
        verbose_name_plural = _("suppressions removed")

    def __str__(self) -> str:
        return f"{self.email} ({self.get_suppression_reason_display()})"
