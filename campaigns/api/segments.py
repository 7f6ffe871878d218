"""The API's segments: stored filters over the contacts, what one holds, and a count of an unsaved one."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.api.serializers import ContactSerializer
from campaigns.models import Segment
from campaigns.segments import segment_definition_check, segment_delete, segment_summary
from campaigns.services import segment_save
from core.api.answers import WriterAnswerMixin
from core.api.parsers import JSONParser
from core.api.strict import KeysChecked
from core.models import ApiKey

DEFINITION_HELP = (
    '{"match": "all" | "any", "rules": [...]}; a rule compares a field ({"field": "attributes.plan", '
    '"op": "eq", "value": "pro"}), a list ({"list": 3, "op": "in"}), engagement ({"engagement": '
    '"opened", "days": 30}) or is a nested group. See docs/segments.md.'
)


def _definition_checked(definition):
    try:
        segment_definition_check(definition)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc
    return definition


class SegmentSerializer(KeysChecked, serializers.ModelSerializer):
    definition = serializers.JSONField(help_text=DEFINITION_HELP)

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "definition", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_definition(self, definition):
        return _definition_checked(definition)

    def create(self, validated_data):
        return segment_save(segment=Segment(**validated_data))  # A 400 if a list it names went meanwhile.

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return segment_save(segment=instance)


class SegmentDefinitionSerializer(KeysChecked, serializers.Serializer):
    definition = serializers.JSONField(help_text=DEFINITION_HELP)

    def validate_definition(self, definition):
        return _definition_checked(definition)


class SegmentSummarySerializer(serializers.Serializer):
    contacts = serializers.IntegerField(help_text="Contacts the segment holds, whatever their status.")
    mailable = serializers.IntegerField(
        help_text="Of those, the subscribed and not suppressed: whom a campaign would mail."
    )
    sample = ContactSerializer(many=True, help_text="The first mailable contacts, by id.")


class SegmentViewSet(WriterAnswerMixin, viewsets.ModelViewSet):
    """Saved segments: filters a campaign's audience can be; who is in one is decided when it is read."""

    # Counting a definition posts it, yet changes nothing: a read.
    scopes = {
        "read": ApiKey.Scope.READ,
        "write": ApiKey.Scope.AUDIENCE_WRITE,
        "count_definition": ApiKey.Scope.READ,
    }
    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    parser_classes = [JSONParser]
    ordering_fields = ["id", "name"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        segment_delete(segment=instance)  # A 409 while an unfinished campaign mails it.

    @extend_schema(responses=SegmentSummarySerializer)
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        """Count who the segment holds now, and show the first of them."""
        summary = segment_summary(self.get_object().definition)
        return Response(SegmentSummarySerializer(summary).data)

    @extend_schema(request=SegmentDefinitionSerializer, responses=SegmentSummarySerializer)
    @action(detail=False, methods=["post"], url_path="count")
    def count_definition(self, request):
        """Count who a definition would hold, without saving it: try a segment before keeping it."""
        asked = SegmentDefinitionSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        summary = segment_summary(asked.validated_data["definition"])
        return Response(SegmentSummarySerializer(summary).data)
