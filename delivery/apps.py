from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        """Let segments read what contacts did with campaign mail (campaigns.segments.RULE_KINDS)."""
        from campaigns.segments import RULE_KINDS
        from delivery.segment_rules import engagement_rule_check, engagement_rule_condition

        RULE_KINDS["engagement"] = (engagement_rule_check, engagement_rule_condition)
