"""What stays of an erased contact: its address as a keyed hash, so no import brings it back."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models.audience import Suppression


class ErasedAddress(models.Model):
    """An address whose contact was erased at its owner's request, kept only as a keyed hash.

    Bulk writes and new contacts refuse it; only its owner's confirmed signup lifts it.
    """

    #: HMAC-SHA256 of the stored form of the address (campaigns.erasure.address_digest).
    digest = models.CharField(_("digest"), max_length=64, unique=True)
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now, editable=False)
    #: Who erased it, named as the consent history names actors ("staff:ada", "key:crm").
    by = models.CharField(_("erased by"), max_length=200)
    #: The address's suppression when it was erased, or one reported since: it still holds should
    #: the address come back.
    suppression_reason = models.CharField(
        _("suppression"), max_length=32, choices=Suppression.Reason.choices, blank=True
    )

    class Meta:
        ordering = ["-erased_at"]
        verbose_name = _("erased address")
        verbose_name_plural = _("erased addresses")

    def __str__(self) -> str:
        return f"{self.digest[:12]}… ({self.erased_at:%Y-%m-%d})"
