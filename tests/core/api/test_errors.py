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
