"""The API's error format for failures of the services behind it."""

import pytest

from tests.utils import database_down


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/messages", "/api/v1/campaigns"])
def test_with_redis_down_the_api_answers_503_with_retry_after_in_its_json_format(
    api_client, redis_only, redis_down, path
):
    redis_down()
    response = api_client.get(path)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (503, "unavailable")
    assert "retry" in error["message"].lower()


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_the_api_answers_503_not_500(api_client):
    with database_down():
        response = api_client.get("/api/v1/contacts")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize(
    "path", ["/api/v1/contacts/1.5", "/api/v1/no-such-thing", "/api/v1/lists/1.5/members/add"]
)
def test_a_path_under_the_api_that_names_no_endpoint_is_the_apis_json_404(api_client, client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    # Without a key it answers as an endpoint does: a scan learns nothing of which paths exist.
    anonymous = getattr(client, method)(path)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"


def test_the_api_reference_without_its_slash_still_redirects_to_it(client):
    response = client.get("/api/docs")

    assert response.status_code == 301
    assert response["Location"] == "/api/docs/"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_api_prefix_without_its_slash_is_the_apis_json_404_not_a_slash_redirect(
    api_client, settings, method
):
    settings.DEBUG = True  # Where Django's slash redirect refuses a POST with a 500.
    response = getattr(api_client, method)("/api/v1")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
