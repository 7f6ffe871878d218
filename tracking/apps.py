from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Tracking")

    def ready(self) -> None:
        """Keep the counters of what mail did true when its contacts are deleted."""
        from campaigns.consent import contacts_deleting

        contacts_deleting.connect(_contacts_deleting, dispatch_uid="tracking.engagement_forget")


def _contacts_deleting(sender, *, contact_ids, **kwargs) -> None:
    from tracking.engagement import engagement_forget

    engagement_forget(contact_ids=contact_ids)
