"""Model fields of campaigns' own (importable from campaigns.models too, where migrations name them)."""

from django.db import models


class HttpsURLField(models.URLField):
    """A URL field whose form reads an address typed without a scheme as https."""

    # Django's URLField.formfield takes keywords only; the stubs give it Field's positional ones.
    def formfield(self, **kwargs):  # type: ignore[override]
        return super().formfield(**{"assume_scheme": "https", **kwargs})
