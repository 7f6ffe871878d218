"""API key scopes: every operation declares one, and a key without it gets a 403 naming it."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from campaigns.models import Campaign, Contact, Suppression
from core.api.scopes import view_scope
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import CampaignFactory, ContactFactory, SuppressionFactory, TemplateFactory

pytestmark = pytest.mark.django_db

Scope = ApiKey.Scope


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="scoped", scopes=scopes)[1])
    return client


def _api_operations(patterns=None, prefix=""):
    """Yield (route, method, view) for every operation under /api/v1/; view is None off view sets."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_operations(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            callback = pattern.callback
            actions = getattr(callback, "actions", None)
            if actions is None:
                yield route, "?", None  # Not a view set: nothing declares what it needs.
                continue
            for method, action in actions.items():
                view = callback.cls(**callback.initkwargs)
                view.action = action
                yield route, method, view


def test_every_api_operation_declares_a_known_scope():
    operations = list(_api_operations())
    assert len(operations) > 40  # The walk reached the router's routes.
    undeclared = [
        (route, method)
        for route, method, view in operations
        if view is None or view_scope(view, method) not in Scope.values
    ]
    assert undeclared == []


def test_the_schema_shows_each_operations_scope():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert len(operations) > 30
    unscoped = [key for key, operation in operations.items() if operation.get("x-required-scope") is None]
    assert unscoped == []
    deleting = operations[("/api/v1/suppressions/{id}/", "delete")]
    assert deleting["x-required-scope"] == "suppressions:admin"
    assert "`suppressions:admin`" in deleting["description"]
    assert operations[("/api/v1/messages/", "post")]["x-required-scope"] == "send"
    assert operations[("/api/v1/templates/{id}/preview/", "post")]["x-required-scope"] == "read"


def test_a_send_and_read_key_cannot_delete_a_complaint_suppression():
    suppression = SuppressionFactory(reason=Suppression.Reason.COMPLAINT)
    client = _client(Scope.SEND, Scope.READ)
    response = client.delete(reverse("suppression-detail", args=[suppression.pk]))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "status": 403,
        "code": "scope_missing",
        "message": "This API key lacks the scope “suppressions:admin” this operation needs: "
        "ask an administrator to add it.",
        "scope": "suppressions:admin",
    }
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    # Reading it is what the key may do.
    assert client.get(reverse("suppression-detail", args=[suppression.pk])).status_code == 200


def test_a_suppressions_admin_key_may_remove_one():
    suppression = SuppressionFactory(reason=Suppression.Reason.COMPLAINT)
    url = reverse("suppression-detail", args=[suppression.pk])
    response = _client(Scope.SUPPRESSIONS_ADMIN).delete(f"{url}?reason=Complained+by+mistake")
    assert response.status_code == 204
    assert not Suppression.objects.filter(pk=suppression.pk).exists()


@pytest.mark.parametrize(
    ("method", "route", "needed", "others"),
    [
        ("get", "contact-list", Scope.READ, [Scope.SEND, Scope.AUDIENCE_WRITE]),
        ("post", "contact-list", Scope.AUDIENCE_WRITE, [Scope.READ, Scope.CAMPAIGNS_WRITE]),
        ("post", "contact-bulk", Scope.AUDIENCE_WRITE, [Scope.READ, Scope.SUPPRESSIONS_ADMIN]),
        ("post", "list-list", Scope.AUDIENCE_WRITE, [Scope.READ]),
        ("post", "template-list", Scope.CAMPAIGNS_WRITE, [Scope.READ, Scope.AUDIENCE_WRITE]),
        ("post", "campaign-list", Scope.CAMPAIGNS_WRITE, [Scope.READ, Scope.SEND]),
        ("post", "message-list", Scope.SEND, [Scope.READ, Scope.CAMPAIGNS_WRITE]),
        ("post", "suppression-list", Scope.SUPPRESSIONS_ADMIN, [Scope.READ, Scope.AUDIENCE_WRITE]),
        ("get", "event-list", Scope.READ, [Scope.SEND]),
    ],
)
def test_each_operation_needs_its_own_scope_and_no_other_will_do(method, route, needed, others):
    refused = getattr(_client(*others), method)(reverse(route), {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["scope"] == needed
    allowed = getattr(_client(needed), method)(reverse(route), {}, format="json")
    # Past the scope check: the empty body is refused on its merits (400) or a list is answered.
    assert allowed.status_code in (200, 400), allowed.content


def test_campaign_moves_need_campaigns_write_and_change_nothing_without_it():
    campaign = CampaignFactory()
    for action in ("campaign-schedule", "campaign-cancel", "campaign-delivery-retry-failed"):
        response = _client(Scope.READ, Scope.AUDIENCE_WRITE).post(reverse(action, args=[campaign.pk]))
        assert response.status_code == 403
        assert response.json()["error"]["scope"] == "campaigns:write"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    # Reading a campaign's figures and previewing a template need only read.
    reader = _client(Scope.READ)
    assert reader.get(reverse("campaign-stats-stats", args=[campaign.pk])).status_code == 200
    contact = ContactFactory()
    preview = reader.post(
        reverse("template-preview", args=[TemplateFactory().pk]), {"contact_id": contact.pk}, format="json"
    )
    assert preview.status_code == 200


def test_a_key_with_no_scope_can_do_nothing():
    contact = ContactFactory()
    client = _client()
    assert client.get(reverse("contact-detail", args=[contact.pk])).status_code == 403
    assert client.delete(reverse("contact-detail", args=[contact.pk])).status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_an_operation_without_a_declared_scope_is_refused_not_allowed(monkeypatch):
    from campaigns.api.suppressions import SuppressionViewSet

    monkeypatch.setattr(SuppressionViewSet, "scopes", {"write": Scope.SUPPRESSIONS_ADMIN})
    response = _client(*Scope.values).get(reverse("suppression-list"))
    assert response.status_code == 403
    assert "declares no scope" in response.json()["error"]["message"]


def test_a_new_key_holds_send_and_read_unless_given_others():
    assert sorted(api_key_create(name="default")[0].scopes) == ["read", "send"]
    assert api_key_create(name="narrow", scopes=[Scope.SEND])[0].scopes == ["send"]


def test_createapikey_takes_scopes(capsys):
    call_command("createapikey", "importer", "--scope", "audience:write", "--scope", "read")
    assert sorted(ApiKey.objects.get(name="importer").scopes) == ["audience:write", "read"]
    call_command("createapikey", "plain")
    assert sorted(ApiKey.objects.get(name="plain").scopes) == ["read", "send"]
    assert "scopes read, send" in capsys.readouterr().err


def test_unknown_scopes_are_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown scopes: everything"):
        api_key_create(name="greedy", scopes=["everything"])


def test_keys_made_before_scopes_keep_every_scope_after_the_migration():
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0001_initial")])
    old_apps = executor.loader.project_state([("core", "0001_initial")]).apps
    old_apps.get_model("core", "ApiKey").objects.create(
        id="old.key", prefix="oldkey", hashed_key="x", name="running integration"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(ApiKey.objects.get(name="running integration").scopes) == sorted(Scope.values)


def test_a_method_a_view_does_not_answer_is_405_whatever_the_scopes():
    assert _client().post(reverse("event-list"), {}, format="json").status_code == 405
    assert _client(Scope.READ).put(reverse("suppression-list"), {}, format="json").status_code == 405
