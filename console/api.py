"""API endpoints that several apps contribute to, composed here."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from campaigns.api.views import (
    CampaignViewSet,
    ContactListViewSet,
    ContactViewSet,
    SuppressionViewSet,
    TemplateViewSet,
)
from delivery import api as delivery_api
from tracking.api import CampaignStatsViewSet, EventViewSet
from tracking.selectors import message_events


class MessageEventSerializer(serializers.Serializer):
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recipient = serializers.EmailField()


class MessageSerializer(delivery_api.MessageSerializer):
    """A transactional message as delivery queued and sent it, with what tracking saw of it."""

    events = serializers.SerializerMethodField()

    class Meta(delivery_api.MessageSerializer.Meta):
        fields = [*delivery_api.MessageSerializer.Meta.fields, "events"]

    @extend_schema(responses=MessageEventSerializer(many=True))
    def get_events(self, message) -> list[dict]:
        # many=True makes a ListSerializer, whose data is a list; the stubs keep the class called.
        return MessageEventSerializer(message_events(message_id=message.pk), many=True).data  # type: ignore[return-value]


class MessageViewSet(delivery_api.MessageViewSet):
    """Queue transactional emails and follow their delivery and events. A key sees only its own."""

    serializer_class = MessageSerializer


router = SimpleRouter()
# Both /api/v1/messages and /api/v1/messages/ answer: integrators copy URLs either way.
router.trailing_slash = "/?"
router.register("contacts", ContactViewSet, basename="contact")
router.register("lists", ContactListViewSet, basename="list")
router.register("templates", TemplateViewSet, basename="template")
router.register("campaigns", CampaignViewSet, basename="campaign")
# Each app mounts the campaign actions it owns: the ledger's from delivery, the statistics from tracking.
router.register("campaigns", delivery_api.CampaignDeliveryViewSet, basename="campaign-delivery")
router.register("campaigns", CampaignStatsViewSet, basename="campaign-stats")
router.register("messages", MessageViewSet, basename="message")
router.register("suppressions", SuppressionViewSet, basename="suppression")
router.register("events", EventViewSet, basename="event")
