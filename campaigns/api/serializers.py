"""Serializers of the audience, template and campaign API: shape and field rules only."""

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns import consent, services
from campaigns.api.result_serializers import (  # noqa: F401 - the views name the answers from here.
    BulkResultSerializer,
    MembershipAddResultSerializer,
    MembershipResultSerializer,
)
from campaigns.audience import CONTACT_BULK_MAX
from campaigns.consent import RESUBSCRIBE_REFUSED_UNREAD
from campaigns.contact_rows import LISTS_SET_ELSEWHERE
from campaigns.erasure import address_erasure, address_erasure_refuse, erased_refusal
from campaigns.exceptions import AddressErased, ErasedNotResubscribed, ResubscribeRefused
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.models import (
    Campaign,
    CampaignStep,
    ConsentChange,
    Contact,
    ContactList,
    Segment,
    Suppression,
    Template,
    email_normalize,
)
from campaigns.validators import SES_NAME, TIMEZONES
from core.addresses import email_canonical, email_validate, mailbox_canonical
from core.api.answers import key_may_read
from core.api.fields import OnePartEach, WholePrimaryKeyRelatedField
from core.api.strict import KeysChecked

# Ids are 64-bit in the database; a larger number is a 400, not a driver overflow.
MAX_ID = 2**63 - 1


def address(value: str) -> str:
    """Return a sender's stored form: one mailbox, optionally with a display name (core.addresses)."""
    try:
        return mailbox_canonical(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


def email_address(value: str) -> str:
    """Return an address's stored form (core.addresses' rule), or refuse it saying why."""
    try:
        return email_canonical(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class QuickEmailField(serializers.EmailField):
    """An EmailField (format `email` in the schema) held to the address rule, everyday ones quickly."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, EmailValidator)]
        self.validators.append(email_validate)


def configuration_set(value: str) -> str:
    """Validate an SES configuration set name (empty: the default one)."""
    if value and not SES_NAME.fullmatch(value):
        raise serializers.ValidationError("Use 1-64 letters, digits, _ or -.")
    return value


def _timezone(value: str) -> str:
    if value and value not in TIMEZONES:
        raise serializers.ValidationError(f"{value!r} is not an IANA time zone name (e.g. Europe/Paris).")
    return value


def _consent_fields_check(attrs: dict) -> dict:
    if attrs.get("resubscribe") and not consent.reason_given(attrs.get("reason", "")):
        raise serializers.ValidationError(
            {"reason": ["Required with resubscribe: say why the contact may be mailed again."]}
        )
    return attrs


class ContactStatusField(serializers.ChoiceField):
    """A contact's status: any as read; as written, subscribed or unsubscribed, or the `pending` a
    contact holds already (echoed back unchanged by a GET, modify, PUT)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Contact.Status.choices, **kwargs)


class ContactStatusFieldSchema(OpenApiSerializerFieldExtension):
    """Say so in the schema: requests list only the statuses a client may set."""

    target_class = ContactStatusField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "response":
            return {"type": "string", "enum": Contact.Status.values}
        # Not an enum: the enum postprocessing would merge it with the response's, named alike.
        given = "|".join(Contact.STATUSES_GIVEN)
        return {
            "type": "string",
            "pattern": f"^({given})$",
            "description": "subscribed or unsubscribed; pending and transactional are set by flows only.",
        }


def _status_given(value: str, instance: Contact | None) -> str:
    if value not in Contact.STATUSES_GIVEN and (instance is None or instance.status != value):
        raise serializers.ValidationError(gettext(consent.STATUS_NOT_GIVEN))
    return value


def _resubscribe_field() -> serializers.BooleanField:
    return serializers.BooleanField(
        write_only=True,
        default=False,
        help_text="Must be true, with a reason, to subscribe a contact who unsubscribed again.",
    )


def _reason_field() -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Why the status changes; kept in the contact's consent history. Required with resubscribe.",
    )


def email_erasure_refuse(email: str) -> None:
    """Refuse an erased address as the field's error; first in the write's transaction."""
    try:
        address_erasure_refuse(email=email)
    except AddressErased as exc:
        raise serializers.ValidationError({"email": [str(exc)]}) from exc


class ContactSerializer(KeysChecked, serializers.ModelSerializer):
    # Declared: the address rule says why an address is refused, where Django's validator would not;
    # validate_email checks uniqueness on the stored form, as the model's unique validator cannot.
    email = QuickEmailField(max_length=254)
    status = ContactStatusField(required=False)
    lists = serializers.PrimaryKeyRelatedField[ContactList](many=True, read_only=True)
    resubscribe = _resubscribe_field()
    reason = _reason_field()

    set_elsewhere = {"lists": LISTS_SET_ELSEWHERE}

    class Meta:
        model = Contact
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "external_id",
            "attributes",
            "timezone",
            "status",
            "unsubscribed_at",
            "paused_until",
            "lists",
            "created_at",
            "updated_at",
            "resubscribe",
            "reason",
        ]
        read_only_fields = ["unsubscribed_at", "paused_until", "created_at", "updated_at"]

    def validate_email(self, value):
        canonical = email_address(value)
        changing = self.instance is None or self.instance.email != canonical
        if changing and address_erasure(email=canonical) is not None:
            raise serializers.ValidationError(erased_refusal())
        clash = Contact.objects.filter(email=canonical)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        else:
            clash = clash.exclude(is_load_test=True)  # Taken over by create(): a load test's only.
        if clash.exists():
            raise serializers.ValidationError("A contact with this email already exists.")
        return canonical

    def validate_timezone(self, value):
        return _timezone(value)

    def validate_status(self, value):
        return _status_given(value, self.instance)

    def validate(self, attrs):
        return _consent_fields_check(attrs)

    def create(self, validated_data):
        with transaction.atomic():
            email_erasure_refuse(validated_data["email"])  # Again, as an erasure may have landed since.
            held = (
                Contact.objects.select_for_update()
                .filter(email=validated_data["email"], is_load_test=True)
                .first()
            )
            if held is not None:
                # Made by a load test's message: the caller's now, with the fields it gives and the
                # status a new one gets, changed through consent (one who unsubscribed stays so,
                # unless resubscribe says otherwise).
                validated_data.setdefault("status", Contact._meta.get_field("status").get_default())
                return self.update(held, validated_data)
            # A contact's first status is not a change: nothing to flag or audit.
            validated_data.pop("resubscribe", None)
            validated_data.pop("reason", None)
            return super().create(validated_data)

    def update(self, instance, validated_data):
        status = validated_data.pop("status", None)
        resubscribe = validated_data.pop("resubscribe", False)
        reason = validated_data.pop("reason", "")
        with transaction.atomic():
            contacts_load_test_clear(contact_ids=[instance.pk])
            if validated_data.get("email", instance.email) != instance.email:
                email_erasure_refuse(validated_data["email"])
            if status is not None:
                try:
                    consent.contact_status_change(
                        contact=instance,
                        status=status,
                        actor=self.context["consent_actor"],
                        reason=reason,
                        resubscribe=resubscribe,
                    )
                except ResubscribeRefused as refused:
                    may_read = "request" not in self.context or key_may_read(self.context["request"])
                    if may_read or isinstance(refused, ErasedNotResubscribed):
                        raise
                    # Its address and when they left are the contact's, which this key may not read.
                    raise ResubscribeRefused(RESUBSCRIBE_REFUSED_UNREAD) from refused
            if (new_email := validated_data.get("email")) is not None:
                consent.contact_address_leave(
                    contact=instance, new_email=new_email, source=Suppression.Source.API
                )
            consent.contact_save_keeping_consent(contact=instance, values=validated_data)
            return instance


class ConsentChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentChange
        fields = ["id", "at", "from_status", "to_status", "by", "actor", "via", "reason"]


class ContactRowSerializer(serializers.ModelSerializer):
    """The shape of one bulk or CSV row, for the schema; campaigns.contact_rows checks real rows."""

    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "external_id", "attributes", "timezone", "status"]
        extra_kwargs: dict[str, dict[str, Any]] = {"email": {"validators": []}}


class ContactRowsField(serializers.ListField):
    """A list of contact rows, left unchecked here: each row is checked on its own by the view."""

    def run_child_validation(self, data):
        # The list's own checks (type, emptiness, length) still run; skipping a no-op child call
        # per row saves more than a tenth of a 10,000-row request.
        return list(data)


class ContactBulkSerializer(KeysChecked, serializers.Serializer):
    contacts = ContactRowsField(allow_empty=False, max_length=CONTACT_BULK_MAX)
    lists = WholePrimaryKeyRelatedField(many=True, queryset=ContactList.objects.all(), required=False)
    resubscribe = _resubscribe_field()
    reason = _reason_field()

    def validate(self, attrs):
        return _consent_fields_check(attrs)


class ContactImportSerializer(KeysChecked, OnePartEach):
    file = serializers.FileField(
        help_text="CSV with a header row; `email` is required, unknown columns go to attributes."
    )
    lists = WholePrimaryKeyRelatedField(many=True, queryset=ContactList.objects.all(), required=False)
    resubscribe = _resubscribe_field()
    reason = _reason_field()

    def validate(self, attrs):
        return _consent_fields_check(attrs)


class ContactListSerializer(KeysChecked, serializers.ModelSerializer):
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = ContactList
        fields = ["id", "name", "description", "member_count", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_member_count(self, contact_list) -> int:
        # Lists read through the viewset carry the count as an annotation; a new one has none.
        annotated = getattr(contact_list, "member_count", None)
        return annotated if annotated is not None else contact_list.memberships.count()


class MembershipChangeSerializer(KeysChecked, serializers.Serializer):
    emails = serializers.ListField(child=QuickEmailField(), required=False, default=list, max_length=10_000)
    contact_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=10_000,
    )

    def validate(self, attrs):
        if not attrs["emails"] and not attrs["contact_ids"]:
            raise serializers.ValidationError("Give emails, contact_ids, or both.")
        attrs["emails"] = [email_normalize(e) for e in attrs["emails"]]
        return attrs


_LOCAL_TIME = re.compile(r"\d{2}:\d{2}(:\d{2})?")


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "09:00"})
class LocalTimeField(serializers.TimeField):
    """A time of day in the campaign's zone: HH:MM or HH:MM:SS. An offset would be dropped and a
    fraction answered outside the schema, so both are refused."""

    def to_internal_value(self, value):
        if not (isinstance(value, str) and _LOCAL_TIME.fullmatch(value)):
            raise serializers.ValidationError(
                gettext("Give a local time as HH:MM or HH:MM:SS, with no offset.")
            )
        return super().to_internal_value(value)


class TemplateNameField(serializers.SlugRelatedField):
    """A template named by its name; text a database cannot store (NUL) is refused, not looked up."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", queryset=Template.objects.all(), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)


#: What a campaign answers but a write never sets: its status moves by its own operations.
STATUS_MOVED_ELSEWHERE = gettext_lazy(
    "A campaign's status is not set here: move it with POST /api/v1/campaigns/{id}/schedule, unschedule, "
    "pause, resume or cancel."
)


class CampaignStepListSerializer(serializers.ListSerializer):
    """A campaign's steps: more than a campaign holds are refused, naming the limit, before any is read."""

    def to_internal_value(self, data):
        if isinstance(data, list):
            try:
                services.campaign_steps_limit_check(count=len(data))
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from exc
        return super().to_internal_value(data)


class CampaignStepSerializer(KeysChecked, serializers.ModelSerializer):
    template = TemplateNameField()
    condition_step = serializers.IntegerField(
        source="condition_step.order",
        required=False,
        allow_null=True,
        help_text="The order of the earlier step the condition looks at; null: any earlier step.",
    )

    class Meta:
        model = CampaignStep
        fields = ["order", "template", "delay", "send_at", "condition", "condition_step", "condition_url"]
        list_serializer_class = CampaignStepListSerializer


class CampaignSerializer(KeysChecked, serializers.ModelSerializer):
    steps = CampaignStepSerializer(many=True, required=False)
    # Checked by the address rule alone (validate_reply_to), which names what it refuses.
    reply_to = serializers.CharField(max_length=254, required=False, allow_blank=True)
    lists = WholePrimaryKeyRelatedField(many=True, queryset=ContactList.objects.all(), required=False)
    segments = WholePrimaryKeyRelatedField(
        many=True,
        queryset=Segment.objects.all(),
        required=False,
        help_text="With lists, only their members who match one; alone, whoever matches one.",
    )

    send_window_start = LocalTimeField(
        required=False, allow_null=True, help_text="Send only from this local time…"
    )
    send_window_end = LocalTimeField(
        required=False, allow_null=True, help_text="…until this one (may pass midnight)."
    )

    set_elsewhere = {"status": STATUS_MOVED_ELSEWHERE}

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "status_note",
            "from_email",
            "reply_to",
            "lists",
            "segments",
            "configuration_set",
            "scheduled_at",
            "track_opens",
            "track_clicks",
            "audience_mode",
            "goal_url",
            "timezone",
            "send_window_start",
            "send_window_end",
            "send_weekdays",
            "recurrence",
            "parent",
            "steps",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "status_note", "parent", "started_at", "completed_at"]
        read_only_fields += ["created_at", "updated_at"]

    def validate_from_email(self, value):
        return address(value)

    def validate_reply_to(self, value):
        return email_address(value) if value else value

    def validate_configuration_set(self, value):
        return configuration_set(value)

    def validate_steps(self, value):
        orders = [step.setdefault("order", 1) for step in value]  # The model's default, when not sent.
        if len(orders) != len(set(orders)):
            raise serializers.ValidationError("Each step needs its own order.")
        for step in value:
            looked_at = (step.pop("condition_step", None) or {}).get("order")
            if looked_at is not None and (looked_at not in orders or looked_at >= step["order"]):
                said = (
                    f"Step {step['order']}'s condition_step must name an earlier step, not step {looked_at}."
                )
                raise serializers.ValidationError(said)
            step["condition_step_order"] = looked_at
        return value

    def create(self, validated_data):
        return services.campaign_create(**validated_data)

    def update(self, instance, validated_data):
        return services.campaign_update(campaign=instance, **validated_data)


class AudienceBreakdownSerializer(serializers.Serializer):
    on_lists = serializers.IntegerField(
        help_text="Distinct contacts in the audience (on its lists, matching its segments), any status."
    )
    unsubscribed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Signed up through a form and yet to confirm.")
    transactional = serializers.IntegerField(
        help_text="Made by a transactional email; never asked for campaigns."
    )
    paused = serializers.IntegerField(
        help_text="Subscribed, but taking a break they chose in their preferences."
    )
    suppressed = serializers.IntegerField(help_text="Subscribed, but on the suppression list.")
    sendable = serializers.IntegerField()
    duplicates_collapsed = serializers.IntegerField(help_text="Memberships beyond the first per contact.")
