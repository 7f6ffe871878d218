"""Taking an address off the suppression list: a reason on record, in the API and the admin."""

import json
import threading

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.api import suppressions as suppressions_api
from campaigns.models import Suppression, SuppressionRemoval
from campaigns.suppressions import suppression_add
from console.erasure import contact_erase
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import ContactFactory, SuppressionFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.mark.parametrize(
    "query",
    ["", "?reason=", "?reason=%20%20", "?reason=%E2%A0%80", "?reason=client+a+appel%E9", "?reason=%ED%A0%80"],
    ids=repr,
)
def test_removing_a_suppression_without_a_reason_is_a_400_and_keeps_it(api_client, query):
    suppression = SuppressionFactory(reason=Suppression.Reason.UNSUBSCRIBE)

    response = api_client.delete(f"{API}/suppressions/{suppression.pk}{query}")

    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    assert not SuppressionRemoval.objects.exists()


@pytest.mark.parametrize("given", ["query", "body"])
def test_a_removal_through_the_api_is_recorded_with_the_key_the_time_and_the_reason(
    api_client, api_key, given
):
    suppression = SuppressionFactory(email="ada@example.com", reason=Suppression.Reason.UNSUBSCRIBE)
    url = f"{API}/suppressions/{suppression.pk}"

    if given == "query":
        response = api_client.delete(f"{url}?reason=Asked+by+phone")
    else:
        response = api_client.delete(url, {"reason": "Asked by phone"}, format="json")

    assert response.status_code == 204, response.json()
    assert not Suppression.objects.exists()
    removal = SuppressionRemoval.objects.get()
    assert (removal.email, removal.suppression_reason, removal.reason) == (
        "ada@example.com",
        "unsubscribe",
        "Asked by phone",
    )
    assert removal.by == "api_key"
    assert api_key[0].prefix in removal.actor
    assert removal.suppressed_at == suppression.created_at


def test_an_administrator_removes_suppressions_only_saying_why_and_it_is_on_record():
    kept, removed = SuppressionFactory(email="kept@example.com"), SuppressionFactory(email="gone@example.com")
    client = role_client("Administrators")
    changelist = reverse("admin:campaigns_suppression_changelist")
    chosen = {"action": "remove_suppressions", "_selected_action": [removed.pk]}

    asked = client.post(changelist, chosen)
    refused = client.post(changelist, {**chosen, "apply": "1", "reason": "\u2800"})  # Draws nothing.
    done = client.post(changelist, {**chosen, "apply": "1", "reason": "Mailbox fixed, said their IT"})

    assert "Why" in asked.content.decode()
    assert "Say why these addresses may be mailed again." in refused.content.decode()
    assert done.status_code == 302
    assert list(Suppression.objects.values_list("email", flat=True)) == [kept.email]
    record = SuppressionRemoval.objects.get()
    assert (record.email, record.by, record.actor) == ("gone@example.com", "staff", "administrators")
    assert record.reason == "Mailbox fixed, said their IT"
    removals = client.get(reverse("admin:campaigns_suppressionremoval_changelist")).content.decode()
    assert "gone@example.com" in removals


def test_the_admin_offers_no_removal_without_a_reason():
    suppression = SuppressionFactory()
    client = role_client("Administrators")

    delete_page = client.get(reverse("admin:campaigns_suppression_delete", args=[suppression.pk]))
    delete_url = reverse("admin:campaigns_suppression_delete", args=[suppression.pk])
    deleted = client.post(delete_url, {"post": "yes"})
    changelist = client.get(reverse("admin:campaigns_suppression_changelist")).content.decode()

    assert (delete_page.status_code, deleted.status_code) == (403, 403)
    assert "delete_selected" not in changelist
    assert Suppression.objects.filter(pk=suppression.pk).exists()


def test_a_contacts_removed_suppressions_are_in_its_download_and_go_with_its_erasure(api_client):
    contact = ContactFactory(email="ada@example.com")
    suppression = SuppressionFactory(email=contact.email, reason=Suppression.Reason.HARD_BOUNCE)
    api_client.delete(f"{API}/suppressions/{suppression.pk}?reason=Mailbox+fixed")
    client = role_client("Marketers")

    held = json.loads(client.get(reverse("admin:campaigns_contact_personal_data", args=[contact.pk])).content)
    contact_erase(contact=contact, by="test")

    removed = [(row["reason"], row["why"]) for row in held["suppressions_removed"]]
    assert removed == [("hard_bounce", "Mailbox fixed")]
    assert not SuppressionRemoval.objects.exists()


def test_an_administrator_can_change_a_suppressions_note_but_not_its_address_or_reason():
    suppression = SuppressionFactory(email="f3@example.org", reason=Suppression.Reason.COMPLAINT)
    client = role_client("Administrators")
    change = reverse("admin:campaigns_suppression_change", args=[suppression.pk])

    saved = client.post(
        change,
        {
            "email": "moved@example.org",
            "reason": "unsubscribe",
            "source": "api",
            "detail": "Called us",
            "_save": "1",
        },
    )

    assert saved.status_code == 302
    suppression.refresh_from_db()
    assert (suppression.email, suppression.reason, suppression.detail) == (
        "f3@example.org",
        Suppression.Reason.COMPLAINT,
        "Called us",
    )


def test_a_complaint_added_in_bulk_replaces_a_kept_unsubscribe_and_the_rest_keep_their_reason():
    SuppressionFactory(email="kept@example.org", reason=Suppression.Reason.UNSUBSCRIBE)
    SuppressionFactory(email="bounced@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    client = role_client("Administrators")

    done = client.post(
        reverse("admin:campaigns_suppression_add_in_bulk"),
        {"addresses": "kept@example.org\nbounced@example.org\nnew@example.org", "reason": "complaint"},
    )

    assert done.status_code == 302
    reasons = dict(Suppression.objects.values_list("email", "reason"))
    assert reasons == {
        "kept@example.org": "complaint",
        "bounced@example.org": "hard_bounce",
        "new@example.org": "complaint",
    }


@pytest.mark.parametrize("twice", ["query", "query and body"])
def test_a_reason_given_twice_is_a_400_and_removes_nothing(api_client, twice):
    suppression = SuppressionFactory()
    url = f"{API}/suppressions/{suppression.pk}"

    if twice == "query":
        response = api_client.delete(f"{url}?reason=a&reason=b")
    else:
        response = api_client.delete(f"{url}?reason=a", {"reason": "b"}, format="json")

    assert response.status_code == 400
    assert "more than once" in response.json()["error"]["fields"]["reason"][0]
    assert Suppression.objects.filter(pk=suppression.pk).exists()


def test_a_complaint_added_by_hand_replaces_a_kept_unsubscribe_and_another_reason_is_refused():
    SuppressionFactory(email="kept@example.org", reason=Suppression.Reason.UNSUBSCRIBE)
    SuppressionFactory(email="bounced@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    client = role_client("Administrators")
    add = reverse("admin:campaigns_suppression_add")
    form = {"reason": "complaint", "source": "admin", "detail": "Complained by phone", "_save": "1"}

    replaced = client.post(add, {**form, "email": "kept@example.org"})
    refused = client.post(add, {**form, "email": "bounced@example.org"})
    added = client.post(add, {**form, "email": "new@example.org"})

    assert (replaced.status_code, refused.status_code, added.status_code) == (302, 200, 302)
    assert "already exists" in refused.content.decode()
    reasons = dict(Suppression.objects.values_list("email", "reason"))
    assert reasons == {
        "kept@example.org": "complaint",
        "bounced@example.org": "hard_bounce",
        "new@example.org": "complaint",
    }


def test_an_unsubscribe_added_through_the_api_to_a_bounced_address_is_kept_with_the_bounce(api_client):
    SuppressionFactory(email="bounced@example.org", reason=Suppression.Reason.HARD_BOUNCE)

    opted_out = api_client.post(
        f"{API}/suppressions", {"email": "bounced@example.org", "reason": "unsubscribe"}
    )
    refused = api_client.post(f"{API}/suppressions", {"email": "bounced@example.org", "reason": "manual"})

    assert opted_out.status_code == 201, opted_out.content
    assert (opted_out.json()["reason"], opted_out.json()["opted_out"]) == ("hard_bounce", True)
    assert refused.status_code == 400
    assert "email" in refused.json()["error"]["fields"]
    listed = api_client.get(f"{API}/suppressions", {"opted_out": "true"}).json()["results"]
    assert [(row["email"], row["opted_out"]) for row in listed] == [("bounced@example.org", True)]


def test_deleting_a_bounce_whose_owner_opted_out_answers_the_opt_out_kept_and_a_second_lifts_it(api_client):
    bounced = SuppressionFactory(email="ada@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    api_client.post(f"{API}/suppressions", {"email": "ada@example.org", "reason": "unsubscribe"})
    url = f"{API}/suppressions/{bounced.pk}"

    lifted = api_client.delete(f"{url}?reason=Mailbox+works+again")
    again = api_client.delete(f"{url}?reason=Opted+in+again+by+phone")

    assert lifted.status_code == 200, lifted.content
    body = lifted.json()
    assert (body["id"], body["reason"], body["opted_out"]) == (bounced.pk, "unsubscribe", True)
    assert "Hard bounce" in body["detail"]
    assert again.status_code == 204
    assert not Suppression.objects.exists()
    removals = SuppressionRemoval.objects.order_by("pk").values_list("suppression_reason", "reason")
    assert list(removals) == [
        ("hard_bounce", "Mailbox works again"),
        ("unsubscribe", "Opted in again by phone"),
    ]


def test_an_administrator_removing_a_bounce_whose_owner_opted_out_is_told_the_opt_out_stays():
    bounced = SuppressionFactory(email="ada@example.org", reason=Suppression.Reason.COMPLAINT)
    plain = SuppressionFactory(email="bob@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    client = role_client("Administrators")
    added = client.post(
        reverse("admin:campaigns_suppression_add"),
        {"email": "ada@example.org", "reason": "unsubscribe", "source": "admin", "detail": "", "_save": "1"},
    )
    changelist = reverse("admin:campaigns_suppression_changelist")
    listed = client.get(changelist, {"opted_out__exact": "1"}).content.decode()
    change = client.get(reverse("admin:campaigns_suppression_change", args=[bounced.pk])).content.decode()
    chosen = {"action": "remove_suppressions", "_selected_action": [bounced.pk, plain.pk]}

    asked = client.post(changelist, chosen).content.decode()
    done = client.post(changelist, {**chosen, "apply": "1", "reason": "Mailboxes work again"}, follow=True)

    assert added.status_code == 302
    assert "ada@example.org" in listed
    assert "bob@example.org" not in listed
    assert "Opted out" in change
    assert "1 of them had opted out too" in asked
    said = [str(message) for message in done.context["messages"]]
    assert "1 address removed from the list." in said
    assert any("1 address had opted out too" in message for message in said)
    kept = Suppression.objects.get()
    assert (kept.email, kept.reason, kept.opted_out) == ("ada@example.org", "unsubscribe", True)


def _complaint_whose_owner_opted_out(email: str = "ada@example.org") -> Suppression:
    """Return a complaint whose owner opted out too: removing it keeps the opt-out."""
    return SuppressionFactory(email=email, reason=Suppression.Reason.COMPLAINT, opted_out=True)


def _removals() -> list[tuple[str, str]]:
    return list(SuppressionRemoval.objects.order_by("pk").values_list("suppression_reason", "reason"))


def test_a_retried_delete_of_a_lifted_complaint_changes_nothing_and_a_reason_of_its_own_lifts_the_opt_out(
    api_client,
):
    complaint = _complaint_whose_owner_opted_out()
    url = f"{API}/suppressions/{complaint.pk}"

    first = api_client.delete(f"{url}?reason=Complained+by+mistake")
    retried = api_client.delete(f"{url}?reason=Complained+by+mistake")

    assert (first.status_code, retried.status_code) == (200, 200), retried.content
    assert retried.json() == first.json()
    kept = Suppression.objects.get()
    assert (kept.pk, kept.reason, kept.opted_out) == (complaint.pk, "unsubscribe", True)
    assert _removals() == [("complaint", "Complained by mistake")]

    lifted = api_client.delete(url, {"reason": "Opted in again by phone"}, format="json")

    assert lifted.status_code == 204
    assert not Suppression.objects.exists()
    assert _removals() == [("complaint", "Complained by mistake"), ("unsubscribe", "Opted in again by phone")]


@pytest.mark.django_db(transaction=True)
def test_two_parallel_deletes_of_a_complaint_whose_owner_opted_out_lift_only_the_complaint(
    postgres_only, api_key, monkeypatch
):
    complaint = _complaint_whose_owner_opted_out()
    # Both requests have read the complaint before either takes its lock.
    read = threading.Barrier(2)
    actor_of_key = suppressions_api.consent_actor_of_key

    def actor_once_both_read(**kwargs):
        read.wait(timeout=30)
        return actor_of_key(**kwargs)

    monkeypatch.setattr(suppressions_api, "consent_actor_of_key", actor_once_both_read)
    answers: list[tuple[int, dict]] = []

    def delete() -> None:
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=api_key[1])
        try:
            response = client.delete(f"{API}/suppressions/{complaint.pk}?reason=Complained+by+mistake")
            answers.append((response.status_code, response.json() if response.content else {}))
        finally:
            connection.close()

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _body in answers] == [200, 200]
    assert answers[0][1] == answers[1][1]
    kept = Suppression.objects.get()
    assert (kept.pk, kept.reason, kept.opted_out) == (complaint.pk, "unsubscribe", True)
    assert _removals() == [("complaint", "Complained by mistake")]


def test_an_administrator_posting_a_removal_twice_is_told_the_opt_out_stays_both_times():
    complaint = _complaint_whose_owner_opted_out()
    client = role_client("Administrators")
    changelist = reverse("admin:campaigns_suppression_changelist")
    posted = {
        "action": "remove_suppressions",
        "_selected_action": [complaint.pk],
        "apply": "1",
        "reason": "Complained by mistake",
    }

    first = client.post(changelist, posted, follow=True)
    again = client.post(changelist, posted, follow=True)

    said = [[str(message) for message in answer.context["messages"]] for answer in (first, again)]
    assert said[1] == said[0]
    assert any("had opted out too" in message and "reason of its own" in message for message in said[1])
    assert not any("removed from the list" in message for message in said[1])
    kept = Suppression.objects.get()
    assert (kept.pk, kept.reason) == (complaint.pk, "unsubscribe")
    assert _removals() == [("complaint", "Complained by mistake")]


def _bounced_since(email: str = "ada@example.org") -> None:
    """Record a hard bounce on the address (SES): it replaces the opt-out a removal kept."""
    suppression_add(email=email, reason=Suppression.Reason.HARD_BOUNCE, source=Suppression.Source.SES)


def test_a_delete_retried_after_a_bounce_on_the_opt_out_it_kept_is_a_409_and_a_new_reason_lifts_it(
    api_client,
):
    complaint = _complaint_whose_owner_opted_out()
    url = f"{API}/suppressions/{complaint.pk}"
    first = api_client.delete(f"{url}?reason=Complained+by+mistake")
    _bounced_since()

    retried = api_client.delete(f"{url}?reason=Complained+by+mistake")

    assert first.status_code == 200, first.content
    assert retried.status_code == 409, retried.content
    error = retried.json()["error"]
    assert (error["status"], error["code"]) == (409, "suppressed_since_removal")
    removed_at = SuppressionRemoval.objects.get().removed_at
    assert f"{removed_at:%Y-%m-%d %H:%M} UTC" in error["message"]
    assert "Hard bounce" in error["message"]
    assert "new reason" in error["message"]
    bounced = Suppression.objects.get()
    assert (bounced.pk, bounced.reason, bounced.opted_out) == (complaint.pk, "hard_bounce", True)
    assert _removals() == [("complaint", "Complained by mistake")]

    lifted = api_client.delete(f"{url}?reason=Mailbox+works+again")

    assert lifted.status_code == 200, lifted.content
    assert (lifted.json()["reason"], lifted.json()["opted_out"]) == ("unsubscribe", True)
    assert _removals() == [("complaint", "Complained by mistake"), ("hard_bounce", "Mailbox works again")]


def test_a_write_only_key_retrying_a_delete_after_a_bounce_is_refused_without_the_bounce_or_its_time():
    complaint = _complaint_whose_owner_opted_out()
    client = APIClient()
    client.credentials(
        HTTP_X_API_KEY=api_key_create(name="writer", scopes=[ApiKey.Scope.SUPPRESSIONS_ADMIN])[1]
    )
    url = f"{API}/suppressions/{complaint.pk}?reason=Complained+by+mistake"
    client.delete(url)
    _bounced_since()

    retried = client.delete(url)

    assert retried.status_code == 409, retried.content
    error = retried.json()["error"]
    assert error["code"] == "suppressed_since_removal"
    removed_at = SuppressionRemoval.objects.get().removed_at
    assert f"{removed_at:%Y-%m-%d %H:%M} UTC" in error["message"]
    # The removal's time is the key's own; what was recorded since, and when, is the list's.
    assert "bounce" not in error["message"].lower()
    assert error["message"].count(" UTC") == 1
    assert Suppression.objects.get().reason == "hard_bounce"


def test_an_administrator_retrying_a_removal_after_a_bounce_is_told_why_and_the_rest_are_removed():
    complaint = _complaint_whose_owner_opted_out()
    plain = SuppressionFactory(email="bob@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    client = role_client("Administrators")
    changelist = reverse("admin:campaigns_suppression_changelist")
    posted = {"action": "remove_suppressions", "apply": "1", "reason": "Complained by mistake"}
    client.post(changelist, {**posted, "_selected_action": [complaint.pk]})
    _bounced_since()

    # Posted again (back and resubmit) with a plain bounce chosen too: that one is removed.
    again = client.post(changelist, {**posted, "_selected_action": [complaint.pk, plain.pk]}, follow=True)

    assert again.status_code == 200
    said = [str(message) for message in again.context["messages"]]
    assert "1 address removed from the list." in said
    assert any(
        message.startswith("ada@example.org: ") and "Hard bounce" in message and "new reason" in message
        for message in said
    )
    bounced = Suppression.objects.get()
    assert (bounced.pk, bounced.reason) == (complaint.pk, "hard_bounce")
    removals = SuppressionRemoval.objects.order_by("pk").values_list("email", "suppression_reason")
    assert list(removals) == [("ada@example.org", "complaint"), ("bob@example.org", "hard_bounce")]
