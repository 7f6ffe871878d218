"""Segments: stored filters over the contacts, evaluated in SQL whenever they are read."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.validators import validate_shown_name
from core.models import TimestampedModel


class Segment(TimestampedModel):
    """A named filter: contact fields and attributes, list membership and engagement, combined in
    AND/OR groups (campaigns.segments says what a definition may hold). Dynamic: who is in it is
    decided each time it is read, a campaign's fan-out included."""

    #: Staff read it wherever the segment is named (a refusal naming it too).
    name = models.CharField(_("name"), max_length=200, unique=True, validators=[validate_shown_name])
    description = models.TextField(_("description"), blank=True)
    #: {"match": "all" | "any", "rules": [...]}: campaigns.segments.segment_definition_check.
    definition = models.JSONField(_("definition"), default=dict)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name
