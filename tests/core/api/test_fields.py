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
