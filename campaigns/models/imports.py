"""A contact import started in the admin: its file, how its columns map, its options and progress."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.audience import ContactConsent, ContactList
from core.models import TimestampedModel


class ContactImport(TimestampedModel):
    """One uploaded file of contacts, mapped and checked by a person, then run by a worker in
    chunks that each commit with the job's progress, so a stopped job resumes where it was."""

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Waiting for its columns")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Target(models.TextChoices):
        """Where a column's cells go."""

        SKIP = "skip", _("Don't import")
        EMAIL = "email", _("Email")
        FIRST_NAME = "first_name", _("First name")
        LAST_NAME = "last_name", _("Last name")
        EXTERNAL_ID = "external_id", _("External id")
        TIMEZONE = "timezone", _("Time zone")
        STATUS = "status", _("Status (subscribed or unsubscribed)")
        ATTRIBUTE = "attribute", _("Attribute")

    class Existing(models.TextChoices):
        UPDATE = "update", _("Update their details from the file")
        KEEP = "keep", _("Keep their details as they are (they still join the lists)")

    class Unsubscribed(models.TextChoices):
        KEEP = "keep", _("Keep them as they are: unsubscribed, or awaiting their confirmation")
        RESUBSCRIBE = "resubscribe", _("Subscribe them: they gave their consent (again)")

    file_name = models.CharField(_("file"), max_length=255)
    #: The uploaded file, emptied when the import is done: it holds personal data.
    data = models.BinaryField(_("data"), editable=False)
    #: How the file is read (campaigns.import_files.TableFormat).
    file_kind = models.CharField(_("kind"), max_length=8, editable=False)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True, editable=False)
    delimiter = models.CharField(_("delimiter"), max_length=1, blank=True, editable=False)
    header = models.JSONField(_("columns"), default=list, editable=False)
    #: One {"target": Target, "attribute": name} per column of the header.
    mapping = models.JSONField(_("mapping"), default=list, blank=True, editable=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0, editable=False)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0, editable=False)
    lists = models.ManyToManyField(
        ContactList, related_name="+", blank=True, verbose_name=_("add them to these lists")
    )
    consent_basis = models.CharField(
        _("why you may email them"), max_length=32, choices=ContactConsent.Basis.choices, blank=True
    )
    consent_note = models.CharField(
        _("where their consent comes from"),
        max_length=200,
        blank=True,
        help_text=_("Kept with each contact's consent, e.g. “Trade fair 2026 sign-up sheet”."),
    )
    existing = models.CharField(
        _("contacts already here"), max_length=8, choices=Existing.choices, default=Existing.UPDATE
    )
    unsubscribed = models.CharField(
        _("contacts who unsubscribed or are yet to confirm a signup"),
        max_length=12,
        choices=Unsubscribed.choices,
        default=Unsubscribed.KEEP,
    )
    resubscribe_reason = models.CharField(
        _("why they may be mailed again"),
        max_length=500,
        blank=True,
        help_text=_("Required to subscribe again those who unsubscribed; kept in their consent history."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.MAPPING, editable=False
    )
    created = models.PositiveIntegerField(_("created"), default=0, editable=False)
    updated = models.PositiveIntegerField(_("updated"), default=0, editable=False)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0, editable=False)
    #: Contacts already here whose details were kept (Existing.KEEP).
    kept = models.PositiveIntegerField(_("kept as they were"), default=0, editable=False)
    failed = models.PositiveIntegerField(_("failed"), default=0, editable=False)
    kept_unsubscribed = models.PositiveIntegerField(_("kept unsubscribed"), default=0, editable=False)
    #: Rows asking to subscribe a contact yet to confirm a signup: they stay pending.
    kept_pending = models.PositiveIntegerField(
        _("kept awaiting confirmation"), default=0, db_default=0, editable=False
    )
    #: Rows whose contact left one of the lists themselves (ListDeparture): kept off it.
    kept_off_lists = models.PositiveIntegerField(
        _("kept off lists they left"), default=0, db_default=0, editable=False
    )
    #: One {"row": line, "email": …, "errors": {field: [messages]}, "cells": [...]} per row not
    #: imported as it asked (refused, kept unsubscribed, kept off a list): the error report.
    errors = models.JSONField(_("errors"), default=list, blank=True, editable=False)
    #: Why a failed import stopped.
    problem = models.TextField(_("problem"), blank=True, editable=False)
    #: The language of whoever started it: a worker writes the problems and the report in it.
    language = models.CharField(_("language"), max_length=16, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("by"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"], name="contact_import_status_idx")]
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def percent_done(self) -> int:
        """Return the share of rows done, in whole percent, 100 only when all are."""
        if not self.rows_total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100 * self.rows_done // self.rows_total, 100)
