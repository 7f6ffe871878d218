"""API views of contacts, lists, templates and campaigns: thin callers of services and selectors."""

from typing import TYPE_CHECKING, cast

from django.db import transaction
from django.db.models import Count
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.api import serializers as s
from campaigns.api import template_serializers as ts
from campaigns.api.filters import EmailFilter
from campaigns.audience import BulkUpsertResult, contact_bulk_upsert
from campaigns.consent import consent_actor_of_key, contacts_delete
from campaigns.contact_rows import contact_rows_validate
from campaigns.exceptions import ImportFileUnreadable
from campaigns.imports import contacts_import_csv
from campaigns.load_test_contacts import contacts_load_test_clear
from campaigns.memberships import (
    contacts_kept_off,
    contacts_not_found,
    list_add_contacts,
    list_remove_contacts,
)
from campaigns.models import Campaign, ConsentChange, Contact, ContactList, Suppression, Template
from campaigns.rendering import template_compile, template_render
from core.api.answers import WriterAnswerMixin, key_may_read
from core.api.filters import DateTimeFilter
from core.api.pagination import CursorPagination
from core.api.parsers import JSONParser, MultiPartParser
from core.api.strict import body_refuse
from core.models import ApiKey

Scope = ApiKey.Scope

# A CSV import is parsed and upserted in chunks of this many rows, in one request.
CSV_MAX_ROWS = 100_000
CSV_COLUMNS = ("email", "first_name", "last_name", "external_id", "timezone", "status")


def _bulk_result(result: BulkUpsertResult) -> Response:
    body = {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": len(result.errors),
        "errors": result.errors,
        "kept_unsubscribed": result.kept_unsubscribed,
        "kept_pending": result.kept_pending,
        "kept_off_lists": result.kept_off_lists,
    }
    return Response(s.BulkResultSerializer(body).data)


if TYPE_CHECKING:  # The mixin's methods use the view set's; at run time it is a plain class.
    _ViewSet = viewsets.GenericViewSet
else:
    _ViewSet = object


class LoadTestHiddenMixin(_ViewSet):
    """List the marketer's own rows: a load test's only when `load_test=true` asks for them (the
    filter sets declare it). A row fetched by id is answered whatever made it."""

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # Anything but a "true" the filter reads (an odd value it ignores included) hides them.
        asked = self.request.query_params.get("load_test", "").lower() in ("true", "1")
        if self.action == "list" and not asked:
            queryset = queryset.filter(is_load_test=False)
        return queryset


def _load_test_filter() -> filters.BooleanFilter:
    return filters.BooleanFilter(
        field_name="is_load_test",
        help_text="true: only what load tests made; false (the default): only the rest.",
    )


class ContactFilter(filters.FilterSet):
    email = EmailFilter()
    list = filters.ModelChoiceFilter(field_name="lists", queryset=ContactList.objects.all())
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    updated_after = DateTimeFilter(field_name="updated_at", lookup_expr="gte")
    load_test = _load_test_filter()

    class Meta:
        model = Contact
        fields = ["email", "external_id", "status", "list", "created_after", "updated_after", "load_test"]


class ContactViewSet(WriterAnswerMixin, LoadTestHiddenMixin, viewsets.ModelViewSet):
    """Contacts: CRUD, bulk upsert of up to 10,000 as JSON, and CSV import."""

    scopes = {"read": Scope.READ, "write": Scope.AUDIENCE_WRITE}

    queryset = Contact.objects.prefetch_related("lists")
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter
    ordering_fields = ["id", "email"]
    ordering = ["-id"]

    @extend_schema(request=s.ContactBulkSerializer, responses=s.BulkResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request):
        """Create or update contacts by email; every bad row is reported, the good ones are saved."""
        payload = s.ContactBulkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rows, errors = contact_rows_validate(enumerate(payload.validated_data["contacts"]))
        lists = tuple(lst.pk for lst in payload.validated_data.get("lists", []))
        result = contact_bulk_upsert(
            rows=rows, list_ids=lists, **self._consent(payload.validated_data, ConsentChange.Via.API_BULK)
        )
        result.errors = sorted(errors + result.errors, key=lambda error: error["row"])
        return _bulk_result(result)

    def _consent(self, validated_data: dict, via: str) -> dict:
        """Return who asks, whether they may read contacts (else a refusal names none but the
        row's), and whether and why contacts who unsubscribed are subscribed again."""
        return {
            "actor": consent_actor_of_key(api_key=cast(ApiKey, self.request.auth), via=via),
            "may_read_contacts": key_may_read(self.request),
            "resubscribe": validated_data.get("resubscribe", False),
            "reason": validated_data.get("reason", ""),
        }

    def perform_destroy(self, instance):
        contacts_delete(contacts=Contact.objects.filter(pk=instance.pk), source=Suppression.Source.API)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if isinstance(self.request.auth, ApiKey):
            context["consent_actor"] = consent_actor_of_key(
                api_key=self.request.auth, via=ConsentChange.Via.API
            )
        return context

    @extend_schema(responses=s.ConsentChangeSerializer(many=True))
    # The contact list's filters are not this history's: none narrow the contact looked up.
    @action(detail=True, methods=["get"], filter_backends=[])
    def consent(self, request, pk=None):
        """List the contact's consent changes, newest first: from, to, when, who, which way, why."""
        contact = self.get_object()
        # Pages in the history's own order (newest first), not by the contacts' ordering fields.
        paginator = CursorPagination()
        page = paginator.paginate_queryset(selectors.contact_consent_history(contact=contact), request)
        return paginator.get_paginated_response(s.ConsentChangeSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": s.ContactImportSerializer}, responses=s.BulkResultSerializer
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_csv(self, request):
        """Import a CSV file of contacts (upsert by email); errors name the CSV line."""
        payload = s.ContactImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lists = tuple(lst.pk for lst in payload.validated_data.get("lists", []))
        consent = self._consent(payload.validated_data, ConsentChange.Via.API_IMPORT)
        try:
            total = contacts_import_csv(stream=payload.validated_data["file"], list_ids=lists, **consent)
        except ImportFileUnreadable as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        return _bulk_result(total)


class ContactListFilter(filters.FilterSet):
    load_test = _load_test_filter()

    class Meta:
        model = ContactList
        fields = ["name", "load_test"]


def _membership_result(changed: int, given: dict) -> dict:
    """Answer a membership change: how many changed, and what was given that no contact has."""
    emails, contact_ids = contacts_not_found(**given)
    return {"changed": changed, "not_found": {"emails": emails, "contact_ids": contact_ids}}


class ContactListViewSet(WriterAnswerMixin, LoadTestHiddenMixin, viewsets.ModelViewSet):
    """Contact lists and their members."""

    scopes = {"read": Scope.READ, "write": Scope.AUDIENCE_WRITE}

    queryset = ContactList.objects.annotate(member_count=Count("memberships"))
    serializer_class = s.ContactListSerializer
    filterset_class = ContactListFilter
    ordering_fields = ["id", "name"]
    ordering = ["-id"]

    def perform_destroy(self, instance):
        services.contact_lists_delete(pks=[instance.pk])  # A 409 while a segment's rules name it.

    @extend_schema(request=s.MembershipChangeSerializer, responses=s.MembershipAddResultSerializer)
    @action(detail=True, methods=["post"], url_path="members/add")
    def add_members(self, request, pk=None):
        """Add contacts, by email or id, to this list; existing members are left as they are, and
        those who left it themselves stay off it (kept_off)."""
        contact_list = self.get_object()
        change = s.MembershipChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        with transaction.atomic():
            contacts_load_test_clear(**change.validated_data)
            changed = list_add_contacts(list_ids=(contact_list.pk,), **change.validated_data)
            emails, contact_ids = contacts_kept_off(contact_list=contact_list, **change.validated_data)
        answer = _membership_result(changed, change.validated_data)
        answer["kept_off"] = {"emails": emails, "contact_ids": contact_ids}
        return Response(s.MembershipAddResultSerializer(answer).data)

    @extend_schema(request=s.MembershipChangeSerializer, responses=s.MembershipResultSerializer)
    @action(detail=True, methods=["post"], url_path="members/remove")
    def remove_members(self, request, pk=None):
        """Remove contacts, by email or id, from this list."""
        contact_list = self.get_object()
        change = s.MembershipChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        changed = list_remove_contacts(contact_list=contact_list, **change.validated_data)
        return Response(_membership_result(changed, change.validated_data))

    @extend_schema(responses=s.ContactSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        """List the contacts on this list."""
        contact_list = self.get_object()
        contacts = Contact.objects.filter(memberships__contact_list=contact_list).prefetch_related("lists")
        # Pages of contacts, newest first: the lists' own ordering fields are not theirs.
        paginator = CursorPagination()
        page = paginator.paginate_queryset(contacts, request)
        return paginator.get_paginated_response(s.ContactSerializer(page, many=True).data)


class TemplateViewSet(WriterAnswerMixin, viewsets.ModelViewSet):
    """Templates in Django template syntax, and their rendering for one contact."""

    # A preview writes nothing: reading is enough.
    scopes = {"read": Scope.READ, "write": Scope.CAMPAIGNS_WRITE, "preview": Scope.READ}

    queryset = Template.objects.all()
    serializer_class = ts.TemplateSerializer

    @transaction.atomic  # The check of a sent template's form holds its campaigns until it is saved.
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    filterset_fields = ["name"]
    ordering_fields = ["id", "name"]
    ordering = ["-id"]

    @extend_schema(request=ts.TemplatePreviewRequestSerializer, responses=ts.RenderedEmailSerializer)
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def preview(self, request, pk=None):
        """Render this template for one contact, named by id or by user_id (external_id)."""
        template = self.get_object()
        ask = ts.TemplatePreviewRequestSerializer(data=request.data)
        ask.is_valid(raise_exception=True)
        lookup = (
            {"pk": ask.validated_data["contact_id"]}
            if "contact_id" in ask.validated_data
            else {"external_id": ask.validated_data["user_id"]}
        )
        contact = Contact.objects.filter(**lookup).first()
        if contact is None:
            raise NotFound("No such contact.")
        compiled = template_compile(template=template)
        rendered = template_render(compiled=compiled, contact=contact)
        return Response(ts.RenderedEmailSerializer(rendered).data)


class CampaignFilter(filters.FilterSet):
    load_test = _load_test_filter()

    class Meta:
        model = Campaign
        fields = ["status", "load_test"]


class CampaignViewSet(WriterAnswerMixin, LoadTestHiddenMixin, viewsets.ModelViewSet):
    """Campaigns with their steps and lists; status moves and a dry run of the audience."""

    scopes = {"read": Scope.READ, "write": Scope.CAMPAIGNS_WRITE}
    # A move answers the status it set, even to a key that may not read the campaign, and nothing
    # else its body names: it writes nothing else.
    record_writes = {
        **WriterAnswerMixin.record_writes,
        **dict.fromkeys(("schedule", "unschedule", "pause", "resume", "cancel"), ("status",)),
    }

    queryset = Campaign.objects.prefetch_related("steps__template", "lists")
    serializer_class = s.CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["id"]
    ordering = ["-id"]

    def perform_destroy(self, instance):
        services.campaigns_delete(pks=[instance.pk])

    def _move(self, service):
        body_refuse(self.request)
        key = self.request.auth
        actor = services.Actor(name=f"API key “{getattr(key, 'name', '?')}”")
        campaign = service(campaign=self.get_object(), actor=actor)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """Schedule a draft campaign (409 with the reason if it cannot be sent)."""
        return self._move(services.campaign_schedule)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def unschedule(self, request, pk=None):
        """Return a scheduled campaign to draft."""
        return self._move(services.campaign_unschedule)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause a scheduled or sending campaign."""
        return self._move(services.campaign_pause)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused campaign."""
        return self._move(services.campaign_resume)

    @extend_schema(request=None, responses=s.CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a campaign for good."""
        return self._move(services.campaign_cancel)

    @extend_schema(responses=s.AudienceBreakdownSerializer)
    @action(detail=True, methods=["get"], url_path="dry-run")
    def dry_run(self, request, pk=None):
        """Count who would be mailed now, and why the others would not."""
        breakdown = selectors.campaign_audience_breakdown(campaign=self.get_object())
        return Response(s.AudienceBreakdownSerializer(breakdown).data)
