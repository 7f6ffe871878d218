"""Campaign statistics, mounted beside the campaign resource."""

from typing import cast

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.api.filters import EmailFilter
from campaigns.models import Campaign
from core.api.filters import DateTimeFilter
from core.models import ApiKey
from delivery.models import StepExecution, TransactionalMessage
from delivery.selectors import step_executions_key_sees
from tracking.models import TrackingEvent
from tracking.outcomes import COUNTED_OUTCOMES, NEED_THE_OPEN_PIXEL, RATES, Rate
from tracking.selectors import REPORT_LINKS_SHOWN, campaign_stats

#: The places of a rate in the API's answers.
RATE_PLACES = 4


class RateField(serializers.FloatField):
    """A rate as the API writes it: to RATE_PLACES places (0.3333), computed exactly before."""

    def to_representation(self, value):
        return round(float(value), RATE_PLACES)


class RatesSerializer(serializers.Serializer):
    """Every rate of tracking.outcomes.RATES, with its definition as help."""

    def get_fields(self):
        return {rate.name: RateField(allow_null=True, help_text=_rate_help(rate)) for rate in RATES}


def _rate_help(rate: Rate) -> str:
    if rate.name in NEED_THE_OPEN_PIXEL:
        # A text-only email shows no open: these are over the emails that carried the pixel.
        return f"opened_over.{rate.part} / opened_over.{rate.whole} (4 places); null without the open pixel"
    return f"{rate.part} / {rate.whole} (4 places)"


OPENS_TOTAL_HELP = (
    "A person's opens: each email's pixel loads, or 1 for an email a click opened with its pixel unseen "
    "(never fewer than opens_unique)."
)


class OpenedOverSerializer(serializers.Serializer):
    """The counts of the emails that carried the open pixel, which the open rates are over."""

    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    opens_unique = serializers.IntegerField()
    opens_total = serializers.IntegerField(help_text=OPENS_TOTAL_HELP)
    clicks_unique = serializers.IntegerField()


class LedgerCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {status: serializers.IntegerField() for status in StepExecution.Status.values}


class LinkClicksSerializer(serializers.Serializer):
    url = serializers.CharField()
    step = serializers.IntegerField(
        help_text="The order of the step whose email held it (a drip lists each step's)."
    )
    clicks_unique = serializers.IntegerField(help_text="Recipients who clicked it (people, not machines).")
    clicks_total = serializers.IntegerField()
    machine_clicks_total = serializers.IntegerField()


class LinksMoreSerializer(serializers.Serializer):
    """The tracked links `links` leaves out, and the clicks they hold together."""

    links = serializers.IntegerField(help_text="How many links are left out.")
    clicks_unique = serializers.IntegerField(
        help_text="Their clicks_unique summed: a person who clicked several of them counts once per link."
    )
    clicks_total = serializers.IntegerField()
    machine_clicks_total = serializers.IntegerField()


class CampaignStatsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    ledger = LedgerCountsSerializer()
    sent = serializers.IntegerField()
    opens_unique = serializers.IntegerField()
    opens_total = serializers.IntegerField(help_text=OPENS_TOTAL_HELP)
    machine_opens_total = serializers.IntegerField()
    clicks_unique = serializers.IntegerField()
    clicks_total = serializers.IntegerField()
    machine_clicks_total = serializers.IntegerField()
    delivered_reported = serializers.IntegerField(
        help_text="Emails SES reported delivered so far; `delivered` adds those whose recipient showed they "
        "arrived first (opened, clicked, unsubscribed, complained)."
    )
    awaiting_report = serializers.IntegerField(
        help_text="Emails sent that SES has reported nothing of yet (delivered, bounced or rejected), at "
        "least: while above 0, the rates over delivered move as its reports come."
    )
    links = LinkClicksSerializer(
        many=True,
        help_text=f"The {REPORT_LINKS_SHOWN} most clicked tracked links at most, most clicked first (then in "
        "the order first sent); `links_more` sums the rest. The report's links.csv lists every link.",
    )
    links_more = LinksMoreSerializer(help_text="The tracked links beyond `links`, counted and summed.")
    opened_over = OpenedOverSerializer(
        help_text="The same counts over the emails that carried the open pixel alone (HTML steps of a "
        "campaign that tracks opens: a text-only email shows no open), which the open and click-to-open "
        "rates are over."
    )
    rates = RatesSerializer()
    rates_base = serializers.ChoiceField(
        choices=["delivered", "sent"],
        help_text='What the rates over delivered are over: "sent" when no Delivery events were reported '
        "(no configuration set publishes them), so that they are not blank.",
    )

    def get_fields(self):
        # The counted outcomes come from their one table, with their meaning as help.
        outcomes = {
            outcome.key: serializers.IntegerField(help_text=outcome.help) for outcome in COUNTED_OUTCOMES
        }
        return {**super().get_fields(), **outcomes}


class CampaignStatsViewSet(viewsets.GenericViewSet):
    """Campaign statistics, read only."""

    scopes = {"read": ApiKey.Scope.READ}
    queryset = Campaign.objects.all()
    serializer_class = CampaignStatsSerializer

    @extend_schema(responses=CampaignStatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """Return the campaign's sent, delivered, bounced, complained, open and click figures and rates."""
        return Response(CampaignStatsSerializer(campaign_stats(campaign=self.get_object())).data)


class EventSerializer(serializers.ModelSerializer):
    tracking_id = serializers.UUIDField(source="step_execution.tracking_id", read_only=True, allow_null=True)
    campaign = serializers.IntegerField(
        source="step_execution.step.campaign_id", read_only=True, allow_null=True
    )
    message = serializers.UUIDField(source="step_execution.message_id", read_only=True, allow_null=True)
    # Text, not an address: an erased contact's events keep counting with it empty.
    recipient = serializers.CharField(read_only=True, help_text="The address; empty once it was erased.")

    class Meta:
        model = TrackingEvent
        fields = [
            "id",
            "type",
            "occurred_at",
            "recipient",
            "kind",
            "is_machine",
            "ses_message_id",
            "tracking_id",
            "campaign",
            "message",
        ]


def _own_messages(request) -> QuerySet[TransactionalMessage]:
    return TransactionalMessage.objects.filter(api_key=cast(ApiKey, request.auth))


class EventFilter(filters.FilterSet):
    recipient = EmailFilter()
    # Choice filters check the id exists (a 400 otherwise), so no odd number reaches the database.
    campaign = filters.ModelChoiceFilter(
        field_name="step_execution__step__campaign", queryset=Campaign.objects.all()
    )
    # Only the caller's own messages are choices: another key's id is refused as unknown, as the
    # /messages endpoint refuses it.
    # django-filter documents a callable queryset, called with the request; its stubs admit only a
    # QuerySet.
    message = filters.ModelChoiceFilter(
        field_name="step_execution__message",
        queryset=_own_messages,  # type: ignore[arg-type]
    )
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = TrackingEvent
        fields = ["type", "recipient", "campaign", "message", "occurred_after", "occurred_before"]


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """What happened to each recipient's mail: SES events (send, delivery, bounce, complaint, ...)
    and our own (opens, clicks, unsubscribes), one per recipient."""

    scopes = {"read": ApiKey.Scope.READ}

    queryset = TrackingEvent.objects.select_related("step_execution__step")
    serializer_class = EventSerializer
    filterset_class = EventFilter

    def get_queryset(self):
        # Campaign events are the account's; a transactional message's are its key's alone. An
        # event whose row is gone (its contact deleted) or never was (a test send) is no one's.
        key = cast(ApiKey, self.request.auth)
        seen = step_executions_key_sees(key=key, path="step_execution__")
        return super().get_queryset().filter(seen, step_execution__isnull=False)
