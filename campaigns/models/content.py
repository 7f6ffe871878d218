"""Templates: an email's subject and bodies in Django template syntax."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import TimestampedModel


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

    #: An HTML body of blanks alone is none: its email goes as text only, without the open pixel.
    BLANK_HTML = r"^\s*$"

    @property
    def has_html(self) -> bool:
        """Tell whether the template's email has an HTML part, the one that carries the open pixel."""
        return bool(self.html_body.strip())

    def clean(self):
        from campaigns.rendering import template_validate

        template_validate(template=self)
