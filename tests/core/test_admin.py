"""The API key admin: scopes as ticks with their meanings, least privilege by default."""

import re

import pytest
from django.urls import reverse

from core.models import ApiKey
from core.services import api_key_create

pytestmark = pytest.mark.django_db


def test_the_add_form_shows_every_scope_with_its_meaning_and_ticks_only_send_and_read(admin_client):
    page = admin_client.get(reverse("admin:core_apikey_add")).content.decode()
    for scope in ApiKey.Scope:
        assert f'value="{scope.value}"' in page
        assert str(scope.label) in page
    ticked = re.findall(r'<input type="checkbox" name="scopes" value="([^"]+)"[^>]*\bchecked\b', page)
    assert sorted(ticked) == ["read", "send"]


def test_a_key_made_in_the_admin_holds_only_what_was_ticked(admin_client):
    response = admin_client.post(
        reverse("admin:core_apikey_add"),
        {"name": "importer", "scopes": ["audience:write"], "rate_limit": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ApiKey.objects.get(name="importer").scopes == ["audience:write"]


def test_a_new_key_is_shown_once_in_the_readers_language_and_it_works(admin_client):
    response = admin_client.post(
        reverse("admin:core_apikey_add"),
        {"name": "shop", "scopes": ["send"], "rate_limit": ""},
        HTTP_ACCEPT_LANGUAGE="de",
        follow=True,
    )

    page = response.content.decode()
    key = re.search(r"„shop“ lautet: ([\w.]+)\.", page).group(1)
    assert ApiKey.objects.get_from_key(key).name == "shop"
    assert "never shown again" not in page


def test_the_key_list_points_out_keys_that_hold_every_scope(admin_client):
    api_key_create(name="from before scopes", scopes=ApiKey.Scope.values)
    api_key_create(name="narrow")
    page = admin_client.get(reverse("admin:core_apikey_changelist")).content.decode()
    assert "1 active key holds every scope (from before scopes)" in page
    assert "audience:write, campaigns:write, read, send, suppressions:admin" in page


def test_the_key_list_says_each_keys_state_in_words_not_alarming_crosses(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    api_key_create(name="live")
    api_key_create(name="old", expiry_date=timezone.now() + timedelta(days=1))
    ApiKey.objects.filter(name="old").update(expiry_date=timezone.now() - timedelta(days=1))
    api_key_create(name="gone")
    ApiKey.objects.filter(name="gone").update(revoked=True)

    page = admin_client.get(reverse("admin:core_apikey_changelist")).content.decode()

    rows = {name: page[page.index(f">{name}<") :].split("</tr>")[0] for name in ("live", "old", "gone")}
    assert ">Active<" in rows["live"]
    assert ">Expired<" in rows["old"]
    assert ">Revoked<" in rows["gone"]
    assert "close" not in "".join(rows.values())  # No red crosses (unfold's "close" icon).
