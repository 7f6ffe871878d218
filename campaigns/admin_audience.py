"""The campaign form's audience: its lists and its segments as ticks, each list with its size."""

from django import forms
from django.utils.translation import gettext
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from core.text import grouped


class AudienceListsField(forms.ModelMultipleChoiceField):
    """The campaign's lists as ticks, each with how many of its members are subscribed (the dry
    run then says how many of those it mails: breaks and suppressions leave some out)."""

    def label_from_instance(self, obj) -> str:
        return gettext("%(name)s (%(count)s subscribed)") % {
            "name": obj.name,
            "count": grouped(obj.subscribed),
        }


def audience_formfield_options(field_name: str) -> dict:
    """Return the form field options of a campaign's many-to-many field: ticks for its lists (with
    their sizes) and its segments."""
    if field_name == "lists":
        return {"widget": UnfoldAdminCheckboxSelectMultipleWidget, "form_class": AudienceListsField}
    if field_name == "segments":
        return {"widget": UnfoldAdminCheckboxSelectMultipleWidget}
    return {}
