"""A campaign's pages as tabs: the tabs within its form, and one per page (each app adds its own)."""

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign

#: The class of the fieldset the Audience tab shows.
AUDIENCE_PANE = "campaign-audience"


def campaign_tab(
    campaign: Campaign, key: str, label: str | Promise, page: str, **more: str | Promise
) -> dict[str, str | Promise]:
    """Return one of a campaign's tabs: its key, label and the URL of its admin page (`page`)."""
    return {
        "key": key,
        "label": label,
        "url": reverse(f"admin:campaigns_campaign_{page}", args=[campaign.pk]),
        **more,
    }


#: The tabs within the campaign's form: (key, label, pane). A pane is what unfold's Alpine state
#: `activeTab` shows: "general" its fieldsets, "steps" the steps inline (a tab inline), "audience"
#: the Audience fieldset (the campaign's change_form.html). On other pages they link to
#: the form at `#<pane>`, which unfold opens on load.
FORM_TABS: tuple[tuple[str, str | Promise, str], ...] = (
    ("overview", _("Overview"), "general"),
    ("content", _("Content"), "steps"),
    ("audience", _("Audience"), "audience"),
)


def campaign_form_tabs(campaign: Campaign | None) -> list[dict[str, str | Promise]]:
    """Return the form's tabs, each linking to its pane (on the add page, with no campaign yet,
    the panes alone)."""
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk]) if campaign else ""
    return [
        {"key": key, "label": label, "pane": pane, "url": f"{url}#{pane}"} for key, label, pane in FORM_TABS
    ]
