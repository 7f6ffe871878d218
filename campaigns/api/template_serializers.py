"""The API's shapes of templates: a template, a preview request and the email it renders."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from campaigns.api.serializers import MAX_ID
from campaigns.models import Template
from campaigns.rendering import template_validate
from core.api.strict import KeysChecked


class TemplateSerializer(KeysChecked, serializers.ModelSerializer):
    class Meta:
        model = Template
        fields = ["id", "name", "subject", "html_body", "text_body", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        candidate = Template(pk=getattr(self.instance, "pk", None), **{**self._current(), **attrs})
        try:
            template_validate(template=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            ) from exc
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        return {name: getattr(self.instance, name) for name in ("name", "subject", "html_body", "text_body")}


class TemplatePreviewRequestSerializer(KeysChecked, serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    user_id = serializers.CharField(required=False, max_length=255)

    def validate(self, attrs):
        if ("contact_id" in attrs) == ("user_id" in attrs):
            raise serializers.ValidationError("Give exactly one of contact_id and user_id.")
        return attrs


class RenderedEmailSerializer(serializers.Serializer):
    subject = serializers.CharField()
    html = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
