"""A list's query string: a parameter no filter reads is a 400 naming it, never ignored to answer
every row."""

import pytest

from tests.factories import ContactFactory, SuppressionFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/contacts", {"emial": "put1@example.com"}, "emial"),
        ("/suppressions", {"emial": "x@example.com"}, "emial"),
        ("/contacts", {"order": "email"}, "order"),
    ],
)
def test_a_list_asked_for_a_parameter_it_does_not_read_is_a_400_naming_it(api_client, path, query, named):
    ContactFactory(email="put1@example.com")
    ContactFactory(email="other@example.com")
    SuppressionFactory(email="x@example.com")

    response = api_client.get(f"{API}{path}", query)

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [named]


def test_the_filters_pages_and_orderings_a_list_offers_still_apply(api_client):
    ContactFactory(email="put1@example.com")
    ContactFactory(email="other@example.com")

    found = api_client.get(
        f"{API}/contacts", {"email": "put1@example.com", "ordering": "-email", "page_size": 5}
    )

    assert found.status_code == 200
    assert [contact["email"] for contact in found.json()["results"]] == ["put1@example.com"]
