"""The API's signup forms: an integrator's own form signs visitors up through one of them.

The signup takes the form's path (double opt-in mails a confirmation, the limits apply) and is
answered the same whatever becomes of the address, as the form's page is.
"""

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.response import Response

from campaigns.api.serializers import QuickEmailField
from campaigns.models import ContactList, SignupForm
from campaigns.signups import SignupFields
from core.api.errors import Conflict
from core.api.parsers import JSONParser
from core.api.strict import KeysChecked
from core.models import ApiKey
from tracking import signups


class SignupFormSerializer(serializers.ModelSerializer):
    lists = serializers.PrimaryKeyRelatedField[ContactList](many=True, read_only=True)

    class Meta:
        model = SignupForm
        fields = ["id", "name", "slug", "is_active", "opt_in", "lists", "visitor_chooses_lists", "language"]
        read_only_fields = fields


class SignupSerializer(KeysChecked, serializers.Serializer):
    email = QuickEmailField(max_length=254)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    lists = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        help_text="Ids of the form's lists the visitor chose, on a form whose visitors choose; a form "
        "whose visitors join all its lists refuses them (400).",
    )
    ip = serializers.IPAddressField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The visitor's address: kept as TRACKING_IP_MODE says, and counted per network.",
    )


class SignupAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='Always "accepted": the answer says nothing of the address.')


class SignupFormViewSet(viewsets.ReadOnlyModelViewSet):
    """Signup forms, and signing a visitor up through one (double opt-in mails them to confirm)."""

    scopes = {"read": ApiKey.Scope.READ, "signups": ApiKey.Scope.AUDIENCE_WRITE}
    queryset = SignupForm.objects.prefetch_related("lists")
    serializer_class = SignupFormSerializer
    parser_classes = [JSONParser]
    ordering = ["name"]

    @extend_schema(request=SignupSerializer, responses={202: SignupAcceptedSerializer})
    @action(detail=True, methods=["post"])
    def signups(self, request, pk=None):
        """Sign a visitor up, as the form's page would; 202 whatever becomes of the address."""
        form = self.get_object()
        if not form.takes_signups:
            raise Conflict(gettext("This form is closed: it takes no more signups."))
        given = SignupSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if data["ip"] and not signups.signup_ip_allowed(client_ip=data["ip"]):
            said = gettext("Too many signups came from this visitor's network in the last hour.")
            raise Throttled(wait=signups.signup_ip_retry_after(), detail=said)
        chosen = set(data["lists"])
        if chosen and not form.visitor_chooses_lists:
            said = gettext("This form's visitors join all its lists: send no lists.")
            raise serializers.ValidationError({"lists": [said]})
        if form.visitor_chooses_lists and not chosen:  # As the page refuses no tick.
            raise serializers.ValidationError({"lists": [gettext("Choose at least one list.")]})
        if form.visitor_chooses_lists:
            offered = set(form.lists.values_list("pk", flat=True))
            if not chosen <= offered:
                raise serializers.ValidationError(
                    {"lists": [gettext("Only the form's own lists can be chosen.")]}
                )
        fields = SignupFields(
            email=data["email"],
            first_name=data["first_name"].strip(),
            last_name=data["last_name"].strip(),
            list_ids=tuple(sorted(chosen)) if form.visitor_chooses_lists else (),
        )
        signups.signup_submit(form=form, fields=fields, client_ip=data["ip"])
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)
