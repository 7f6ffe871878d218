from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        """Let segments read what contacts did with campaign mail (campaigns.segments), and keep
        the idempotency codes of messages whose contacts are deleted."""
        from campaigns.consent import contacts_deleting
        from campaigns.segments import segment_rule_kind_register
        from delivery.segment_rules import engagement_rule_check, engagement_rule_condition

        segment_rule_kind_register(
            "engagement", check=engagement_rule_check, condition=engagement_rule_condition
        )
        contacts_deleting.connect(_contacts_deleting, dispatch_uid="delivery.message_codes_keep")


def _contacts_deleting(sender, *, contact_ids, **kwargs) -> None:
    from delivery.messages import message_codes_keep
    from delivery.models import TransactionalMessage

    message_codes_keep(messages=TransactionalMessage.objects.filter(contact_id__in=contact_ids))
