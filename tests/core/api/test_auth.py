from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiKey
from core.services import api_key_create

pytestmark = pytest.mark.django_db


def _get(client, message_id="00000000-0000-0000-0000-000000000000"):
    return client.get(reverse("message-detail", args=[message_id]))


def _error(response):
    return response.json()["error"]


def test_missing_key_is_401_with_a_challenge():
    response = _get(APIClient())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert _error(response)["code"] == "not_authenticated"


@pytest.mark.parametrize("presented", ["nodot", "abc.def", "", "Bearer", "x" * 500])
def test_malformed_or_unknown_key_is_401(presented):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=presented)
    assert _get(client).status_code == 401


def test_key_accepted_as_x_api_key_and_as_bearer(api_key):
    _obj, secret = api_key
    by_header, by_bearer = APIClient(), APIClient()
    by_header.credentials(HTTP_X_API_KEY=secret)
    by_bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # 404: authenticated, and the message does not exist.
    assert _get(by_header).status_code == 404
    assert _get(by_bearer).status_code == 404


@pytest.mark.parametrize("other", ["another real key", "a wrong key"])
def test_two_different_keys_in_one_request_are_401_whichever_is_valid(api_key, other):
    obj, secret = api_key
    second = api_key_create(name="second")[1] if other == "another real key" else f"{obj.prefix}.{'x' * 32}"
    for x_api_key, bearer in ((secret, second), (second, secret)):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=x_api_key, HTTP_AUTHORIZATION=f"Bearer {bearer}")
        response = _get(client)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert _error(response)["code"] == "authentication_failed"
        assert "Two different API keys" in _error(response)["message"]


def test_the_same_key_in_both_headers_is_accepted(api_key):
    _obj, secret = api_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _get(client).status_code == 404  # Authenticated, and the message does not exist.


def test_a_wrong_secret_with_a_real_prefix_is_401(api_key):
    obj, _secret = api_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=f"{obj.prefix}.{'x' * 32}")
    assert _error(_get(client)) == {
        "status": 401,
        "code": "authentication_failed",
        "message": "Invalid API key.",
    }


def test_revoked_key_is_401(api_key):
    obj, secret = api_key
    ApiKey.objects.filter(pk=obj.pk).update(revoked=True)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    response = _get(client)
    assert response.status_code == 401
    assert _error(response)["message"] == "This API key has been revoked."


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_lapses(api_key, monkeypatch, settings):
    from core.api import auth

    settings.API_KEY_CACHE_SECONDS = 5
    clock = iter([1000.0, 1004.0, 1005.5])
    monkeypatch.setattr(auth, "monotonic", lambda: next(clock))
    obj, secret = api_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert _get(client).status_code == 404  # Verified and cached at t=1000.
    # Another process revokes it: no signal reaches this one.
    ApiKey.objects.filter(pk=obj.pk).update(revoked=True)
    assert _get(client).status_code == 404  # t=1004: still within the cache's 5 s.
    assert _error(_get(client))["message"] == "This API key has been revoked."  # t=1005.5


def test_a_key_revoked_in_this_process_is_refused_at_once(api_key, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    obj, secret = api_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert _get(client).status_code == 404
    obj.revoked = True
    obj.save()  # As the admin does.
    assert _get(client).status_code == 401


def test_a_wrong_secret_is_never_served_from_the_cache(api_key, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    obj, secret = api_key
    good, bad = APIClient(), APIClient()
    good.credentials(HTTP_X_API_KEY=secret)
    bad.credentials(HTTP_X_API_KEY=f"{obj.prefix}.{'y' * 32}")
    assert _get(good).status_code == 404
    assert _get(bad).status_code == 401


def test_cache_off_reads_the_key_every_time(api_key, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    obj, secret = api_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert _get(client).status_code == 404
    ApiKey.objects.filter(pk=obj.pk).update(revoked=True)
    assert _get(client).status_code == 401


def test_expired_key_is_401():
    _obj, secret = api_key_create(name="old", expiry_date=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert _error(_get(client))["message"] == "This API key has expired."


def test_key_is_stored_hashed():
    obj, secret = api_key_create(name="hashed")
    stored = ApiKey.objects.get(pk=obj.pk)
    assert secret not in stored.hashed_key
    assert secret.partition(".")[2] not in stored.pk


def test_rate_limit_is_per_key_and_answers_429_with_retry_after():
    _obj, secret = api_key_create(name="slow", rate_limit="2/minute")
    _other, other_secret = api_key_create(name="other", rate_limit="2/minute")
    slow, other = APIClient(), APIClient()
    slow.credentials(HTTP_X_API_KEY=secret)
    other.credentials(HTTP_X_API_KEY=other_secret)

    assert [_get(slow).status_code for _ in range(2)] == [404, 404]
    limited = _get(slow)

    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert _error(limited)["code"] == "throttled"
    assert _get(other).status_code == 404


def test_invalid_rate_limit_is_refused():
    with pytest.raises(ValidationError, match="not a rate"):
        api_key_create(name="bad", rate_limit="lots")


@pytest.mark.parametrize("days", ["99999999", "-5", "0", "x"])
def test_createapikey_refuses_a_lifetime_past_ten_years_or_already_over(days):
    with pytest.raises(CommandError, match="give a number of days from 1 to 3653"):
        call_command("createapikey", "odd", "--expires-in-days", days)
    assert not ApiKey.objects.filter(name="odd").exists()


def test_createapikey_prints_a_working_key(capsys):
    call_command("createapikey", "signup-service", "--expires-in-days", "30", "--rate-limit", "100/minute")
    secret = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert _get(client).status_code == 404
    key = ApiKey.objects.get(name="signup-service")
    assert key.rate_limit == "100/minute"
    assert key.expiry_date > timezone.now() + timedelta(days=29)
    assert not key.is_load_test


def test_createapikey_makes_a_load_test_key_when_asked(capsys):
    call_command("createapikey", "artillery", "--load-test")

    assert ApiKey.objects.get(name="artillery").is_load_test


def test_schema_and_docs_are_public():
    client = APIClient()
    assert client.get(reverse("schema")).status_code == 200
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    # Served from the sidecar's local static files, never a CDN.
    assert b"cdn" not in docs.content.lower()


@pytest.mark.parametrize("with_x_api_key", [True, False])
def test_a_key_sent_under_the_api_key_scheme_is_a_401_naming_the_schemes_read(api_key, with_x_api_key):
    _obj, secret = api_key
    other = api_key_create(name="every scope")[1]
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {other}"}
    if with_x_api_key:
        headers["HTTP_X_API_KEY"] = secret
    client.credentials(**headers)

    response = _get(client)

    assert response.status_code == 401
    assert "Authorization: Bearer <key>" in _error(response)["message"]
