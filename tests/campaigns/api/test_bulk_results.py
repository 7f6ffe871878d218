"""What a bulk upsert and a CSV import answer of the rows they could not apply as asked."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


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
