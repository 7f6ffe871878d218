"""Form fields shared by the admin's pages."""

import json

from django import forms


class JSONShownField(forms.JSONField):
    """Django's JSON field, which can also show back a value holding a lone surrogate.

    A form sent again with its errors shows what was typed; `"\\ud800"` decodes to a character no
    page can be encoded with, so such a value is shown escaped, as it was typed.
    """

    def prepare_value(self, value):
        text = super().prepare_value(value)
        try:
            text.encode()
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, cls=self.encoder)
        return text
