from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        """Let segments read what contacts did with campaign mail (campaigns.segments)."""
        from campaigns.segments import segment_rule_kind_register
        from delivery.segment_rules import engagement_rule_check, engagement_rule_condition

        segment_rule_kind_register(
            "engagement", check=engagement_rule_check, condition=engagement_rule_condition
        )
