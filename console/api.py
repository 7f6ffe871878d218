"""API endpoints that several apps contribute to, composed here."""

from typing import cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from campaigns.api import serializers as campaign_serializers
from campaigns.api import views as campaign_views
from campaigns.api.segments import SegmentViewSet
from campaigns.api.suppressions import SuppressionViewSet
from campaigns.api.views import ContactListViewSet, TemplateViewSet
from campaigns.consent import consent_actor_of_key
from campaigns.models import ConsentChange
from console.erasure import contact_erase
from console.personal_data import contact_personal_data
from core.api.strict import body_refuse
from core.models import ApiKey
from delivery import api as delivery_api
from delivery.models import StepExecution
from delivery.selectors import campaign_status_shown, step_execution_counts
from tracking.api import CampaignStatsViewSet, EventViewSet
from tracking.api_signups import SignupFormViewSet
from tracking.selectors import message_events


class CampaignSerializer(campaign_serializers.CampaignSerializer):
    """A campaign, with what the ledger knows of it: how many emails SES's fate is unknown for."""

    unconfirmed = serializers.SerializerMethodField(
        help_text="Emails whose SES call got no answer: SES may or may not have taken them."
    )
    status_display = serializers.SerializerMethodField(
        help_text='The status as people read it: "Completed — 3 unconfirmed" while some are unconfirmed.'
    )

    class Meta(campaign_serializers.CampaignSerializer.Meta):
        fields = [*campaign_serializers.CampaignSerializer.Meta.fields, "unconfirmed", "status_display"]

    def _counts(self, campaign) -> dict[str, int]:
        if campaign.pk not in self._ledger:
            self._ledger[campaign.pk] = step_execution_counts(campaign=campaign)
        return self._ledger[campaign.pk]

    @property
    def _ledger(self) -> dict[int, dict[str, int]]:
        # Read once per campaign and answer: both fields use it.
        return self.context.setdefault("ledger_counts", {})

    def get_unconfirmed(self, campaign) -> int:
        return self._counts(campaign).get(StepExecution.Status.UNKNOWN, 0)

    def get_status_display(self, campaign) -> str:
        return campaign_status_shown(campaign=campaign, counts=self._counts(campaign))


# The status moves answer with this serializer too: say so in the schema, where the base viewset
# names its own (two components called "Campaign", which `check --deploy` warns of).
@extend_schema_view(
    **{
        move: extend_schema(request=None, responses=CampaignSerializer)
        for move in ("schedule", "unschedule", "pause", "resume", "cancel")
    }
)
class CampaignViewSet(campaign_views.CampaignViewSet):
    """Campaigns with their steps and lists, status moves, a dry run, and the unconfirmed count."""

    serializer_class = CampaignSerializer


class ErasureSerializer(serializers.Serializer):
    erased_at = serializers.DateTimeField(help_text="When the contact was erased.")


class ContactViewSet(campaign_views.ContactViewSet):
    """Contacts, with everything held about one as a JSON document (a subject access request), and
    its erasure (the right to be forgotten)."""

    scopes = {
        **campaign_views.ContactViewSet.scopes,
        "personal_data": ApiKey.Scope.READ,
        "erase": ApiKey.Scope.AUDIENCE_WRITE,
    }

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], url_path="personal-data")
    def personal_data(self, request, pk=None):
        """Everything held about the contact: profile, lists, consents, signups, emails and events."""
        # A transactional message is its key's alone, here too; Campanile's own (no key) are the contact's.
        key = cast(ApiKey, request.auth)
        return Response(contact_personal_data(contact=self.get_object(), key=key))

    @extend_schema(request=None, responses={200: ErasureSerializer})
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        """Erase the contact at its owner's request: its profile, lists, consents and signups go; its
        emails stay in the counts without its address; only a hash of the address is kept, so no
        import adds it again."""
        body_refuse(request)
        actor = consent_actor_of_key(api_key=cast(ApiKey, request.auth), via=ConsentChange.Via.API)
        entry = contact_erase(contact=self.get_object(), by=actor.name)
        return Response(ErasureSerializer(entry).data)


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
router.register("segments", SegmentViewSet, basename="segment")
router.register("templates", TemplateViewSet, basename="template")
router.register("campaigns", CampaignViewSet, basename="campaign")
# Each app mounts the campaign actions it owns: the ledger's from delivery, the statistics from tracking.
router.register("campaigns", delivery_api.CampaignDeliveryViewSet, basename="campaign-delivery")
router.register("campaigns", CampaignStatsViewSet, basename="campaign-stats")
router.register("messages", MessageViewSet, basename="message")
router.register("suppressions", SuppressionViewSet, basename="suppression")
router.register("events", EventViewSet, basename="event")
router.register("signup-forms", SignupFormViewSet, basename="signup-form")
