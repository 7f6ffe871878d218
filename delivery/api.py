"""The transactional messages API: queue one templated email, idempotently, and follow it."""

import re
import threading
from datetime import timedelta
from typing import cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.api.serializers import QuickEmailField, address, configuration_set
from campaigns.models import Campaign
from campaigns.services import Actor
from core.api.strict import KeysChecked, body_refuse
from core.models import ApiKey
from delivery import compose, messages, services
from delivery.models import TransactionalMessage

# Per-thread parsers for the hot endpoint; see MessageCreateSerializer.parse.
_parsers = threading.local()

# SES limits on tag names and values.
SES_TAG = re.compile(r"[A-Za-z0-9_.@-]{1,256}")
# SES allows 50 tags a message; Campanile adds up to three of its own.
MAX_TAGS = 47
# The column's length (TransactionalMessage.unique_code), whether the code comes in the body or the header.
UNIQUE_CODE_MAX = TransactionalMessage._meta.get_field("unique_code").max_length or 255
UNIQUE_CODE_BLANK = (
    "unique_code is blank (empty or only whitespace): give a code with a visible character, or leave it out."
)


def _no_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise serializers.ValidationError("Line breaks are not allowed here.")
    return value


class MessageTagSerializer(KeysChecked, serializers.Serializer):
    Name = serializers.CharField()
    Value = serializers.CharField(allow_blank=True)

    def validate_Name(self, value):
        if not SES_TAG.fullmatch(value):
            raise serializers.ValidationError("Use 1-256 letters, digits, _ . @ or -.")
        if value.startswith(compose.TAG_PREFIX):
            raise serializers.ValidationError(f"Names starting {compose.TAG_PREFIX!r} are Campanile's own.")
        return value

    def validate_Value(self, value):
        if value and not SES_TAG.fullmatch(value):
            raise serializers.ValidationError("Use up to 256 letters, digits, _ . @ or -.")
        return value


class MessageCreateSerializer(KeysChecked, serializers.Serializer):
    """Exactly the payload of the AWS SES load-testing sample's POST /send_messages."""

    to = QuickEmailField(max_length=254, validators=[_no_line_breaks])
    template_name = serializers.CharField(max_length=200)
    user_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    config_set = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    # many=True hands max_length to the ListSerializer it makes; the stubs know only the child's arguments.
    tags = MessageTagSerializer(  # type: ignore[call-arg]
        many=True, required=False, default=list, max_length=MAX_TAGS
    )
    # Compared exactly as given: a code trimmed to nothing would be no code, and a retry would send
    # again. Left out, it is absent from the validated data.
    unique_code = serializers.CharField(
        max_length=UNIQUE_CODE_MAX,
        required=False,
        trim_whitespace=False,
        error_messages={"blank": UNIQUE_CODE_BLANK},
    )

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be declared in the class body.
        fields = super().get_fields()
        # validate_from refuses line breaks along with everything else that is not one address.
        fields["from"] = serializers.CharField(max_length=320)
        return fields

    def validate_from(self, value):
        return address(value)

    def validate_config_set(self, value):
        return configuration_set(value)

    def validate_tags(self, value):
        names = [tag["Name"] for tag in value]
        if len(names) != len(set(names)):
            raise serializers.ValidationError("Each tag name may appear once.")
        return value

    def validate_unique_code(self, value):
        if value.isspace():
            raise serializers.ValidationError(UNIQUE_CODE_BLANK)
        return value

    @classmethod
    def parse(cls, data, *, header_code: str | None) -> messages.MessageRequest:
        """Validate a payload into the service's request, or raise ValidationError.

        One serializer per thread validates every request: building one per request (its fields
        are deep-copied from the class) cost a third of the endpoint's Python time
        (docs/benchmarks). run_validation keeps no state on the instance, unlike is_valid.
        """
        serializer = getattr(_parsers, "message", None)
        if serializer is None:
            serializer = _parsers.message = cls()
        return serializer.to_request(serializer.run_validation(data), header_code=header_code)

    @staticmethod
    def to_request(data: dict, *, header_code: str | None) -> messages.MessageRequest:
        """Return the service's request, taking the idempotency code from the body or the header
        (None when the request has no Idempotency-Key header)."""
        body_code = data.get("unique_code", "")
        if header_code is None:
            header_code = ""
        elif not header_code or header_code.isspace():
            raise serializers.ValidationError(
                {
                    "unique_code": [
                        "The Idempotency-Key header is blank (empty or only whitespace): give a code "
                        "with a visible character, or leave the header out."
                    ]
                }
            )
        if len(header_code) > UNIQUE_CODE_MAX:
            raise serializers.ValidationError(
                {"unique_code": [f"The Idempotency-Key header holds more than {UNIQUE_CODE_MAX} characters."]}
            )
        if not header_code.isascii():
            # A header's bytes are read as Latin-1, so the same code would differ from the body's.
            raise serializers.ValidationError(
                {
                    "unique_code": [
                        "The Idempotency-Key header holds characters beyond ASCII, which HTTP headers "
                        "do not carry: give such a code as `unique_code` in the body."
                    ]
                }
            )
        if "," in header_code:
            # A server joins repeated headers with commas: two codes would be taken as a third.
            raise serializers.ValidationError(
                {
                    "unique_code": [
                        "The Idempotency-Key header holds a comma, as repeated headers are joined: "
                        "send one header, or give a code with a comma as `unique_code` in the body."
                    ]
                }
            )
        if body_code and header_code and body_code != header_code:
            raise serializers.ValidationError({"unique_code": ["Differs from the Idempotency-Key header."]})
        return messages.MessageRequest(
            from_email=data["from"],
            to=data["to"],
            template_name=data["template_name"],
            user_id=data["user_id"],
            config_set=data["config_set"],
            tags=tuple((tag["Name"], tag["Value"]) for tag in data["tags"]),
            unique_code=body_code or header_code,
        )


class MessageAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    unique_code = serializers.CharField(allow_null=True, help_text="null when the request gave none.")


class MessageSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="execution.status")
    ses_message_id = serializers.CharField(source="execution.ses_message_id")
    last_error = serializers.CharField(source="execution.last_error")
    sent_at = serializers.DateTimeField(source="execution.sent_at")
    template_name = serializers.CharField(source="template.name")
    user_id = serializers.CharField(
        source="contact.external_id", allow_null=True, default=None
    )  # Erased: None.

    class Meta:
        model = TransactionalMessage
        fields = [
            "id",
            "status",
            "unique_code",
            "to_email",
            "from_email",
            "template_name",
            "user_id",
            "configuration_set",
            "tags",
            "ses_message_id",
            "last_error",
            "created_at",
            "sent_at",
        ]


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Same as unique_code in the body; the same key with the same payload replays the answer. "
        "ASCII without commas (a server joins repeated headers with them): other codes go in the body."
    ),
)


class MessageViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Queue transactional emails and follow their delivery. A key sees only its own messages."""

    scopes = {"read": ApiKey.Scope.READ, "write": ApiKey.Scope.SEND}

    serializer_class = MessageSerializer

    def get_queryset(self):
        # The key core.api.auth authenticated the request with; the stubs expect DRF's own Token.
        api_key = cast(ApiKey, self.request.auth)
        return TransactionalMessage.objects.filter(api_key=api_key).select_related(
            "execution", "template", "contact"
        )

    @extend_schema(
        request=MessageCreateSerializer,
        responses={202: MessageAcceptedSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def create(self, request, *args, **kwargs):
        """Queue one templated email; answer 202 with its id and status."""
        # Not stripped: a code is compared exactly as given, and one of whitespace alone is refused.
        message_request = MessageCreateSerializer.parse(
            request.data, header_code=request.headers.get("Idempotency-Key")
        )
        message, replayed = messages.message_queue(api_key=request.auth, request=message_request)
        # The answer MessageAcceptedSerializer documents, built directly: it runs on every request.
        body = {"id": str(message.pk), "status": message.accepted_status, "unique_code": message.unique_code}
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


class RetryFailedSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text="Failed rows put back in the queue.")


class RequeueUnknownSerializer(KeysChecked, serializers.Serializer):
    older_than_seconds = serializers.IntegerField(
        min_value=60,
        max_value=int(services.REQUEUE_MAX_AGE.total_seconds()),
        help_text="Only rows whose SES call began longer ago than this (at most ten years).",
    )
    accept_duplicate_risk = serializers.BooleanField(
        help_text="Must be true: SES may have taken some of these emails, which then go twice."
    )

    def validate_accept_duplicate_risk(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(
                "SES may have taken some of these emails: they would go twice. Set it to true to accept that."
            )
        return value


class RequeuedSerializer(serializers.Serializer):
    requeued = serializers.IntegerField(help_text="Unknown rows put back in the queue.")


class CampaignDeliveryViewSet(viewsets.GenericViewSet):
    """Ledger actions on a campaign, mounted beside the campaign resource."""

    scopes = {"read": ApiKey.Scope.READ, "write": ApiKey.Scope.CAMPAIGNS_WRITE}

    queryset = Campaign.objects.all()
    serializer_class = RetryFailedSerializer

    @extend_schema(request=None, responses=RetryFailedSerializer)
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request, pk=None):
        """Re-queue the campaign's failed recipients; a completed campaign starts sending again."""
        body_refuse(request)
        retried = services.campaign_retry_failed(campaign=self.get_object())
        return Response({"retried": retried})

    @extend_schema(request=RequeueUnknownSerializer, responses=RequeuedSerializer)
    @action(
        detail=True, methods=["post"], url_path="requeue-unknown", serializer_class=RequeueUnknownSerializer
    )
    def requeue_unknown(self, request, pk=None):
        """Re-queue the campaign's unknown rows older than N seconds, accepting that a few may go twice.

        For configuration sets without Send events; where they are published, unknown rows that
        SES never took go back to the queue by themselves (SES_UNKNOWN_RESOLVE_SECONDS).
        """
        asked = RequeueUnknownSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        key = cast(ApiKey, request.auth)
        requeued = services.campaign_requeue_unknown(
            campaign=self.get_object(),
            older_than=timedelta(seconds=asked.validated_data["older_than_seconds"]),
            actor=Actor(name=f"API key “{key.name}”"),
        )
        return Response({"requeued": requeued})
