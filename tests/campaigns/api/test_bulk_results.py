"""What a bulk upsert and a CSV import answer of the rows they could not apply as asked."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from campaigns.models import Contact
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
Scope = ApiKey.Scope


def test_a_bulk_subscribe_of_one_yet_to_confirm_is_reported_as_kept_pending(api_client):
    ContactFactory(email="waiting@example.com", status=Contact.Status.PENDING)
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    rows = [
        {"email": "waiting@example.com", "status": "subscribed"},
        {"email": "left@example.com", "status": "subscribed"},
    ]

    result = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()

    assert result["kept_pending"] == [{"row": 0, "email": "waiting@example.com"}]
    assert result["kept_unsubscribed"] == [{"row": 1, "email": "left@example.com"}]
    assert Contact.objects.get(email="waiting@example.com").status == Contact.Status.PENDING


def test_a_csv_import_reports_one_yet_to_confirm_as_kept_pending(api_client):
    ContactFactory(email="waiting@example.com", status=Contact.Status.PENDING)
    upload = SimpleUploadedFile(
        "contacts.csv", b"email,status\nwaiting@example.com,subscribed\n", content_type="text/csv"
    )

    result = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()

    assert result["kept_pending"] == [{"row": 2, "email": "waiting@example.com"}]
    assert result["kept_unsubscribed"] == []
    assert Contact.objects.get(email="waiting@example.com").status == Contact.Status.PENDING


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="scoped", scopes=scopes)[1])
    return client


def _taken_external_id(client: APIClient, way: str) -> dict:
    """Send one row whose external_id another contact holds, in a bulk upsert or a CSV import."""
    if way == "bulk":
        rows = [{"email": "newcomer@example.com", "external_id": "crm-17"}]
        return client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()
    upload = SimpleUploadedFile(
        "contacts.csv", b"email,external_id\nnewcomer@example.com,crm-17\n", content_type="text/csv"
    )
    return client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()


@pytest.mark.parametrize("way", ["bulk", "csv"])
def test_a_key_that_may_not_read_is_told_an_external_id_is_taken_never_by_whom(way):
    ContactFactory(email="success+winback17@example.com", first_name="Owner", external_id="crm-17")

    refused = _taken_external_id(_client(Scope.AUDIENCE_WRITE), way)
    told = _taken_external_id(_client(Scope.AUDIENCE_WRITE, Scope.READ), way)

    row = 0 if way == "bulk" else 2
    assert refused["errors"] == [
        {
            "row": row,
            "email": "newcomer@example.com",
            "errors": {"external_id": ["Taken by another contact."]},
        }
    ]
    assert "winback17" not in json.dumps(refused)
    assert told["errors"][0]["errors"]["external_id"] == [
        "Belongs to another contact (success+winback17@example.com)."
    ]
    assert not Contact.objects.filter(email="newcomer@example.com").exists()
