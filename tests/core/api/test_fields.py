"""Fields the API shares: an object named by its id is named by a whole number."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/contacts/bulk", '{"contacts": [{"email": "n14@example.org"}], "lists": [1e400]}'),
        ("/api/v1/campaigns", '{"name": "x", "lists": [1e400]}'),
        ("/api/v1/campaigns", '{"name": "x", "segments": [-1e400]}'),
        ("/api/v1/contacts", '{"email": "n15@example.org", "attributes": {"score": 1e400}}'),
    ],
)
def test_an_id_too_large_for_a_float_is_a_400_not_a_500(api_client, path, body):
    response = api_client.post(path, body, content_type="application/json")

    assert response.status_code == 400, response.content


def test_a_list_named_by_a_fraction_of_its_id_is_refused_never_rounded(api_client):
    from campaigns.models import Contact
    from tests.factories import ContactListFactory

    listed = ContactListFactory()
    body = {"contacts": [{"email": "n16@example.org"}], "lists": [listed.pk + 0.5]}

    response = api_client.post("/api/v1/contacts/bulk", body, format="json")

    assert response.status_code == 400, response.content
    assert not Contact.objects.filter(email="n16@example.org").exists()


@pytest.mark.parametrize("path", ["/api/v1/contacts/bulk", "/api/v1/campaigns"])
def test_more_ids_than_a_field_takes_are_a_400_before_any_lookup(api_client, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.api.fields import MAX_RELATED_IDS

    too_many = list(range(1, MAX_RELATED_IDS + 2))
    body = {"name": "x", "contacts": [{"email": "n17@example.org"}], "lists": too_many}

    with CaptureQueriesContext(connection) as queries:
        response = api_client.post(path, body, format="json")

    assert response.status_code == 400, response.content
    assert "At most 10000 ids" in str(response.json()["error"])
    assert not [query for query in queries if "campaigns_contactlist" in query["sql"]]


def test_many_ids_are_looked_up_in_one_query_and_a_repeated_id_counts_once(api_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Contact
    from tests.factories import ContactListFactory

    lists = ContactListFactory.create_batch(3)
    named = [str(lists[0].pk), *(lst.pk for lst in lists), lists[2].pk]
    body = {"contacts": [{"email": "n18@example.org"}], "lists": named}

    with CaptureQueriesContext(connection) as queries:
        response = api_client.post("/api/v1/contacts/bulk", body, format="json")

    assert response.status_code == 200, response.content
    looked_up = [query for query in queries if 'FROM "campaigns_contactlist"' in query["sql"]]
    assert len(looked_up) == 1
    contact = Contact.objects.get(email="n18@example.org")
    assert sorted(contact.lists.values_list("pk", flat=True)) == sorted(lst.pk for lst in lists)


@pytest.mark.parametrize("given", [True, "abc", {"id": 1}, None, "1.5"])
def test_an_id_that_is_not_a_whole_number_is_a_400_naming_its_type(api_client, given):
    from tests.factories import ContactListFactory

    ContactListFactory()
    body = {"contacts": [{"email": "n19@example.org"}], "lists": [given]}

    response = api_client.post("/api/v1/contacts/bulk", body, format="json")

    assert response.status_code == 400, response.content
    assert "lists" in str(response.json()["error"])


def test_an_id_of_no_list_is_a_400_naming_it(api_client):
    body = {"contacts": [{"email": "n20@example.org"}], "lists": [987654]}

    response = api_client.post("/api/v1/contacts/bulk", body, format="json")

    assert response.status_code == 400, response.content
    assert "987654" in str(response.json()["error"])
