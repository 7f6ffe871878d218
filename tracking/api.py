"""Campaign statistics, mounted beside the campaign resource."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.models import Campaign
from delivery.models import StepExecution
from tracking.selectors import campaign_stats


class RatesSerializer(serializers.Serializer):
    delivery = serializers.FloatField(allow_null=True, help_text="delivered / sent")
    bounce = serializers.FloatField(allow_null=True, help_text="bounced / sent")
    complaint = serializers.FloatField(allow_null=True, help_text="complained / sent")
    open = serializers.FloatField(allow_null=True, help_text="unique human opens / delivered")
    click = serializers.FloatField(allow_null=True, help_text="unique human clicks / delivered")
    click_to_open = serializers.FloatField(
        allow_null=True, help_text="unique human clicks / unique human opens"
    )
    unsubscribe = serializers.FloatField(allow_null=True, help_text="unsubscribed / delivered")


class LedgerCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {status: serializers.IntegerField() for status in StepExecution.Status.values}


class CampaignStatsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    ledger = LedgerCountsSerializer()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    bounced = serializers.IntegerField()
    complained = serializers.IntegerField()
    rejected = serializers.IntegerField()
    opens_unique = serializers.IntegerField()
    opens_total = serializers.IntegerField()
    machine_opens_total = serializers.IntegerField()
    clicks_unique = serializers.IntegerField()
    clicks_total = serializers.IntegerField()
    machine_clicks_total = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    rates = RatesSerializer()


class CampaignStatsViewSet(viewsets.GenericViewSet):
    queryset = Campaign.objects.all()
    serializer_class = CampaignStatsSerializer

    @extend_schema(responses=CampaignStatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Return the campaign's sent, delivered, bounced, complained, open and click figures and rates."""
        return Response(CampaignStatsSerializer(campaign_stats(campaign=self.get_object())).data)
