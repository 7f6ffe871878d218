"""The API's suppression list: addresses listed, added, and removed with a reason on record."""

from django.db import transaction
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from campaigns.api.filters import EmailFilter
from campaigns.api.serializers import QuickEmailField, email_address, email_erasure_refuse
from campaigns.consent import consent_actor_of_key, reason_given
from campaigns.erasure import address_erasure, erased_refusal
from campaigns.exceptions import SuppressedSinceRemoval
from campaigns.models import ConsentChange, Suppression
from campaigns.suppressions import suppressed_since_removal_said, suppression_add, suppression_remove
from core.api.answers import WriterAnswerMixin, key_may_read
from core.api.filters import DateTimeFilter
from core.api.strict import KeysChecked, body_refuse
from core.models import ApiKey

Scope = ApiKey.Scope


#: Why a suppression is removed: in the query (`?reason=`), as DELETE bodies are not for every client.
SUPPRESSION_REMOVAL_REASON = OpenApiParameter(
    "reason",
    location=OpenApiParameter.QUERY,
    required=True,
    description="Why the address may be mailed again; kept with who removed it and when. A JSON body "
    '`{"reason": …}` does too.',
)


def suppression_removal_reason(request) -> str:
    """Return the reason a DELETE gives, in its query or its JSON body ("" when neither does).
    Raise ValidationError when it is given more than once: which one would be kept is a guess."""
    body_refuse(request, read=frozenset({"reason"}))
    given = request.query_params.getlist("reason")
    if isinstance(request.data, dict) and "reason" in request.data:
        given.append(request.data["reason"])
    if len(given) > 1:
        raise serializers.ValidationError({"reason": ["Sent more than once; send it once."]})
    return given[0] if given and isinstance(given[0], str) else ""


class SuppressionRemovalSerializer(KeysChecked, serializers.Serializer):
    reason = serializers.CharField(max_length=500, trim_whitespace=False, allow_blank=True)

    def validate_reason(self, value: str) -> str:
        if "\ufffd" in value:
            # What Django puts for bytes that are no UTF-8: the record would keep words no one wrote.
            raise serializers.ValidationError(
                "Holds bytes that are no UTF-8 (read as \ufffd): send the reason in UTF-8."
            )
        if not reason_given(value):
            raise serializers.ValidationError(
                "Say why the address may be mailed again: give a reason (`?reason=`), kept with who "
                "removed it and when."
            )
        return value


class SuppressionSerializer(KeysChecked, serializers.ModelSerializer):
    email = QuickEmailField(max_length=254)
    reason = serializers.ChoiceField(choices=Suppression.Reason.choices, default=Suppression.Reason.MANUAL)

    class Meta:
        model = Suppression
        fields = ["id", "email", "reason", "opted_out", "source", "detail", "created_at"]
        read_only_fields = ["opted_out", "source", "created_at"]
        extra_kwargs = {
            "opted_out": {
                "help_text": "Its owner opted out of campaign mail too. Removing a bounce or complaint "
                "so marked keeps the opt-out: the address stays suppressed as `unsubscribe`."
            }
        }

    def validate_email(self, value: str) -> str:
        canonical = email_address(value)
        if address_erasure(email=canonical) is not None:
            raise serializers.ValidationError(erased_refusal())
        return canonical

    def validate(self, attrs):
        # A kept unsubscribe stops campaigns only: any other reason may replace it; an unsubscribe
        # added to another reason marks it opted out (suppression_add). Else the first reason stays.
        if attrs["reason"] != Suppression.Reason.UNSUBSCRIBE:
            kept = Suppression.objects.filter(email=attrs["email"]).exclude(
                reason=Suppression.Reason.UNSUBSCRIBE
            )
            if kept.exists():
                raise serializers.ValidationError({"email": ["This address is suppressed already."]})
        return attrs

    def create(self, validated_data):
        with transaction.atomic():
            email_erasure_refuse(validated_data["email"])  # Again, as an erasure may have landed since.
            suppression, _created = suppression_add(source=Suppression.Source.API, **validated_data)
            return suppression


class SuppressionFilter(filters.FilterSet):
    email = EmailFilter()
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Suppression
        fields = ["email", "reason", "opted_out", "source", "created_after"]


class SuppressionViewSet(
    WriterAnswerMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Addresses never mailed again: bounces and complaints from SES, and those added here.

    Deleting one lets campaigns mail the address again; SES's own account-level suppression
    list, if the address is on it, applies until the next sync with it takes a bounce, complaint or
    account suppression removed here off it. Deleting a bounce or complaint whose owner opted
    out too (`opted_out`) keeps the opt-out: the answer is a 200 with the row, now an `unsubscribe`.
    Lifting that takes a DELETE with a reason of its own: one repeating the first's reason is taken
    for its retry, and answered as it was; if a bounce or complaint was recorded since, that retry
    is a 409 (`suppressed_since_removal`) and lifts nothing: the new suppression takes a DELETE of
    its own, with a new reason.
    """

    scopes = {"read": Scope.READ, "write": Scope.SUPPRESSIONS_ADMIN}
    # A key that may not read the list is answered the row's id and address, and, when a removal
    # kept its owner's opt-out, that it did: an address suppressed already keeps its reason,
    # source and SES's diagnostic to itself.
    record_writes = {"create": None, "destroy": ("opted_out",)}
    writer_answer_withheld = ("reason",)

    queryset = Suppression.objects.all()
    serializer_class = SuppressionSerializer
    filterset_class = SuppressionFilter

    def filter_queryset(self, queryset):
        # A DELETE's `reason` says why it is removed, not which suppressions to filter by.
        return queryset if self.action == "destroy" else super().filter_queryset(queryset)

    @extend_schema(
        parameters=[SUPPRESSION_REMOVAL_REASON],
        responses={
            204: OpenApiResponse(description="Removed: the address may be mailed again."),
            200: OpenApiResponse(
                SuppressionSerializer,
                description="The bounce or complaint is lifted, but its owner opted out too: the "
                "address stays suppressed as `unsubscribe` (campaigns skip it, transactional mail "
                "may go). The same DELETE sent again, with the same reason (a retry), changes nothing "
                "and gets this answer again: to lift the opt-out, delete it again giving a reason of "
                "its own, why its owner may get campaigns again.",
            ),
            409: OpenApiResponse(
                description="`suppressed_since_removal`: this DELETE repeats an earlier one's reason, "
                "and the address was suppressed again (a bounce or complaint) after that removal: "
                "taken for its retry, it lifts nothing. Lift the new suppression with a DELETE giving "
                "a new reason."
            ),
        },
    )
    def destroy(self, request, *args, **kwargs):
        """Take an address off the list, saying why (`reason`): recorded with the key and the time."""
        suppression = self.get_object()
        given = SuppressionRemovalSerializer(data={"reason": suppression_removal_reason(request)})
        given.is_valid(raise_exception=True)
        actor = consent_actor_of_key(api_key=request.auth, via=ConsentChange.Via.API)
        try:
            done = suppression_remove(
                suppression=suppression, actor=actor, reason=given.validated_data["reason"]
            )
        except SuppressedSinceRemoval as refused:
            if key_may_read(request):
                raise
            # What the address was suppressed for since, and when, is the list's: this key may not read it.
            said = suppressed_since_removal_said(**refused.facts, named=False)
            raise SuppressedSinceRemoval(said, **refused.facts) from refused
        if done.kept is not None:
            return Response(self.get_serializer(done.kept).data, status=200)
        return Response(status=204)
