"""Consent: every change of a contact's status is audited; a re-subscribe needs the flag and a reason."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import audience
from campaigns.audience import contact_bulk_upsert
from campaigns.consent import (
    CONSENT_SYSTEM,
    ConsentActor,
    contact_status_change,
    contact_unsubscribe,
    contacts_unsubscribe,
)
from campaigns.exceptions import ResubscribeRefused
from campaigns.models import ConsentChange, Contact, Suppression
from campaigns.selectors import campaign_audience
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    StepExecutionFactory,
    SuppressionFactory,
)

pytestmark = pytest.mark.django_db

SUBSCRIBED, UNSUBSCRIBED = Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED
SHOP = ConsentActor(by=ConsentChange.By.API_KEY, name="API key “shop” (AbCd1234)", via=ConsentChange.Via.API)


def _spy(monkeypatch, module, name: str) -> list[dict]:
    """Record the keyword arguments of each call to module.name, and still make it."""
    calls: list[dict] = []
    real = getattr(module, name)

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def _gone(**fields) -> Contact:
    left = timezone.now() - timedelta(days=30)
    return ContactFactory(status=UNSUBSCRIBED, unsubscribed_at=left, **fields)


def test_an_unsubscribe_is_audited_once_with_who_which_way_and_why():
    contact = ContactFactory()
    contact_unsubscribe(contact=contact, actor=SHOP, reason="Asked by phone.")
    contact_unsubscribe(contact=contact, actor=SHOP)  # Idempotent: no second entry.

    (change,) = ConsentChange.objects.all()
    assert (change.contact, change.from_status, change.to_status) == (contact, SUBSCRIBED, UNSUBSCRIBED)
    assert (change.by, change.actor, change.via, change.reason) == (
        "api_key",
        "API key “shop” (AbCd1234)",
        "api",
        "Asked by phone.",
    )
    contact.refresh_from_db()
    assert contact.status == UNSUBSCRIBED
    assert contact.unsubscribed_at is not None


@pytest.mark.parametrize(
    ("resubscribe", "reason"),
    [
        (False, ""),
        (False, "Opted in."),
        (True, ""),
        (True, "  "),
        # Characters that draw nothing: a Hangul filler, the blank braille pattern, a combining
        # grapheme joiner, a variation selector, a zero-width space, a no-break space, the null
        # notehead (a musical symbol made to be invisible).
        *(
            (True, blank)
            for blank in ("\u3164", "\u2800", "\u115f", "\u034f", "\ufe0f", "\u200b", "\u00a0", "\U0001d159")
        ),
    ],
)
def test_a_resubscribe_without_the_flag_and_a_reason_is_refused_and_changes_nothing(resubscribe, reason):
    contact = _gone()
    left = contact.unsubscribed_at
    with pytest.raises(ResubscribeRefused, match='"resubscribe": true with a "reason"'):
        contact_status_change(
            contact=contact, status=SUBSCRIBED, actor=SHOP, reason=reason, resubscribe=resubscribe
        )
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (UNSUBSCRIBED, left)
    assert not ConsentChange.objects.exists()


def test_a_resubscribe_with_the_flag_and_a_reason_clears_the_time_and_keeps_it_in_the_history():
    contact = _gone()
    assert contact_status_change(
        contact=contact, status=SUBSCRIBED, actor=SHOP, reason="Opted in at checkout.", resubscribe=True
    )
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (SUBSCRIBED, None)
    change = ConsentChange.objects.get()
    assert (change.from_status, change.to_status, change.reason) == (
        UNSUBSCRIBED,
        SUBSCRIBED,
        "Opted in at checkout.",
    )


def test_a_bulk_upsert_never_resubscribes_without_the_flag_and_loses_nothing_else():
    gone = _gone(email="gone@example.com", first_name="Old")
    left = gone.unsubscribed_at
    rows = [
        (0, {"email": "new@example.com", "status": "subscribed"}),
        (1, {"email": "gone@example.com", "first_name": "Renamed", "status": "subscribed"}),
    ]
    result = contact_bulk_upsert(rows=rows, actor=SHOP)

    assert result.kept_unsubscribed == [{"row": 1, "email": "gone@example.com"}]
    assert (result.created, result.updated, result.errors) == (1, 1, [])
    gone.refresh_from_db()
    assert (gone.status, gone.unsubscribed_at, gone.first_name) == (UNSUBSCRIBED, left, "Renamed")
    assert not ConsentChange.objects.exists()


def test_a_bulk_upsert_audits_each_status_it_changes_in_one_insert(monkeypatch):
    _gone(email="back@example.com")
    ContactFactory(email="leaving@example.com")
    ContactFactory(email="same@example.com")
    rows = [
        (0, {"email": "back@example.com", "status": "subscribed"}),
        (1, {"email": "leaving@example.com", "status": "unsubscribed"}),
        (2, {"email": "same@example.com", "status": "subscribed", "first_name": "Same"}),
        (3, {"email": "brand-new@example.com", "status": "unsubscribed"}),
    ]
    records = _spy(monkeypatch, audience, "consent_changes_record")
    with CaptureQueriesContext(connection) as queries:
        result = contact_bulk_upsert(
            rows=rows, actor=SHOP, resubscribe=True, reason="Double opt-in confirmed."
        )

    assert result.kept_unsubscribed == []
    assert len(records) == 1  # One call, one INSERT of every change: none through the ORM.
    assert not [q for q in queries if ConsentChange._meta.db_table in q["sql"]]
    changes = {c.contact.email: (c.from_status, c.to_status, c.reason) for c in ConsentChange.objects.all()}
    assert changes == {
        "back@example.com": (UNSUBSCRIBED, SUBSCRIBED, "Double opt-in confirmed."),
        "leaving@example.com": (SUBSCRIBED, UNSUBSCRIBED, "Double opt-in confirmed."),
    }
    statuses = dict(Contact.objects.values_list("email", "status"))
    assert statuses == {
        "back@example.com": SUBSCRIBED,
        "leaving@example.com": UNSUBSCRIBED,
        "same@example.com": SUBSCRIBED,
        "brand-new@example.com": UNSUBSCRIBED,
    }
    assert Contact.objects.get(email="back@example.com").unsubscribed_at is None


def test_a_bulk_upsert_without_status_changes_writes_no_audit_and_takes_no_lock(monkeypatch):
    ContactFactory(email="a@example.com")
    locks = _spy(monkeypatch, audience, "_contacts_lock")
    contact_bulk_upsert(rows=[(0, {"email": "a@example.com", "first_name": "A", "status": "subscribed"})])
    assert locks == []
    assert not ConsentChange.objects.exists()


def test_an_unsubscribe_landing_during_a_bulk_upsert_is_never_undone(postgres_only, monkeypatch):
    contact = ContactFactory(email="racing@example.com")
    match = audience._contacts_matching

    def match_then_unsubscribe(**kwargs):
        matching = match(**kwargs)
        # The contact clicks one-click after the import read them as subscribed.
        Contact.objects.filter(pk=contact.pk).update(status=UNSUBSCRIBED, unsubscribed_at=timezone.now())
        return matching

    monkeypatch.setattr(audience, "_contacts_matching", match_then_unsubscribe)
    row = {"email": "racing@example.com", "first_name": "Renamed", "status": "subscribed"}
    contact_bulk_upsert(rows=[(0, row)], actor=SHOP)

    contact.refresh_from_db()
    assert (contact.status, contact.first_name) == (UNSUBSCRIBED, "Renamed")
    assert contact.unsubscribed_at is not None


def test_the_system_actor_is_the_default():
    contact = ContactFactory()
    contact_unsubscribe(contact=contact)
    assert ConsentChange.objects.get().by == CONSENT_SYSTEM.by == "system"


def _unsubscribed_meanwhile(contact: Contact):
    """Return a hook that unsubscribes the contact, as a one-click landing after a request read it."""

    def unsubscribe(*args, **kwargs):
        Contact.objects.filter(pk=contact.pk).update(status=UNSUBSCRIBED, unsubscribed_at=timezone.now())

    return unsubscribe


def test_a_patch_landing_with_an_unsubscribe_never_undoes_it(api_client, monkeypatch):
    from campaigns.api.serializers import ContactSerializer

    contact = ContactFactory(first_name="Ada")
    validate, landed = ContactSerializer.validate, _unsubscribed_meanwhile(contact)
    monkeypatch.setattr(
        ContactSerializer, "validate", lambda self, attrs: (landed(), validate(self, attrs))[1]
    )

    response = api_client.patch(f"/api/v1/contacts/{contact.pk}", {"first_name": "Ada B."}, format="json")

    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.status, contact.first_name) == (UNSUBSCRIBED, "Ada B.")
    assert contact.unsubscribed_at is not None


def test_an_admin_save_landing_with_an_unsubscribe_never_undoes_it(admin_client, monkeypatch):
    from django.urls import reverse

    from campaigns.admin import ContactForm
    from tests.campaigns.test_admin import _contact_form

    contact = ContactFactory(first_name="Ada")
    clean, landed = ContactForm.clean, _unsubscribed_meanwhile(contact)
    monkeypatch.setattr(ContactForm, "clean", lambda self: (landed(), clean(self))[1])

    response = admin_client.post(
        reverse("admin:campaigns_contact_change", args=[contact.pk]),
        _contact_form(contact, first_name="Ada B."),
    )

    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.status, contact.first_name) == (UNSUBSCRIBED, "Ada B.")


@pytest.mark.django_db(
    transaction=True
)  # The refused INSERT ends the request's transaction, as in production.
def test_a_contact_created_meanwhile_under_the_same_address_is_a_409_never_a_500(api_client, monkeypatch):
    from campaigns.api.serializers import ContactSerializer

    validate = ContactSerializer.validate_email

    def checked_then_taken(self, value):
        checked = validate(self, value)
        ContactFactory(email=checked)  # Another request (a message, an import) stores it meanwhile.
        return checked

    monkeypatch.setattr(ContactSerializer, "validate_email", checked_then_taken)

    response = api_client.post("/api/v1/contacts", {"email": "race@example.com"}, format="json")

    assert response.status_code == 409
    assert "try again" in response.json()["error"]["message"]
    assert Contact.objects.filter(email="race@example.com").count() == 1


@pytest.mark.parametrize(
    "change", [{"first_name": "x"}, {"status": "unsubscribed"}, {"email": "new@example.com"}]
)
def test_an_edit_of_a_contact_deleted_meanwhile_is_a_404_never_a_500(api_client, monkeypatch, change):
    from campaigns.api.serializers import ContactSerializer

    contact = ContactFactory()
    validate = ContactSerializer.validate

    def deleted_meanwhile(self, attrs):
        Contact.objects.filter(pk=contact.pk).delete()  # Another request deletes it, after this one read it.
        return validate(self, attrs)

    monkeypatch.setattr(ContactSerializer, "validate", deleted_meanwhile)

    response = api_client.patch(f"/api/v1/contacts/{contact.pk}", change, format="json")

    assert response.status_code == 404
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_one_yet_to_confirm_a_signup_is_subscribed_only_with_the_flag_and_a_reason(api_client):
    pending = ContactFactory(email="p1@example.com", status=Contact.Status.PENDING)
    ContactFactory(email="p2@example.com", status=Contact.Status.PENDING)

    result = contact_bulk_upsert(rows=[(1, {"email": "p2@example.com", "status": Contact.Status.SUBSCRIBED})])
    refused = api_client.patch(f"/api/v1/contacts/{pending.pk}", {"status": "subscribed"}, format="json")
    allowed = api_client.patch(
        f"/api/v1/contacts/{pending.pk}",
        {"status": "subscribed", "resubscribe": True, "reason": "Confirmed by phone"},
        format="json",
    )

    assert result.kept_pending == [{"row": 1, "email": "p2@example.com"}]
    assert refused.status_code == 409
    assert "has yet to confirm their signup" in str(refused.json())
    assert allowed.status_code == 200
    assert Contact.objects.get(email="p2@example.com").status == Contact.Status.PENDING
    assert ConsentChange.objects.get(contact=pending).from_status == Contact.Status.PENDING


def test_a_pending_row_changes_nothing_on_a_pending_contact_and_makes_no_one_pending():
    ContactFactory(email="p3@example.com", status=Contact.Status.PENDING, first_name="Old")
    ContactFactory(email="p4@example.com", status=Contact.Status.SUBSCRIBED)
    rows = [
        (1, {"email": "p3@example.com", "status": Contact.Status.PENDING, "first_name": "New"}),
        (2, {"email": "p4@example.com", "status": Contact.Status.PENDING}),
        (3, {"email": "p5@example.com", "status": Contact.Status.PENDING}),
    ]

    result = contact_bulk_upsert(rows=rows)

    assert [error["row"] for error in result.errors] == [2, 3]
    assert Contact.objects.get(email="p3@example.com").first_name == "New"
    assert Contact.objects.get(email="p4@example.com").status == Contact.Status.SUBSCRIBED
    assert not Contact.objects.filter(email="p5@example.com").exists()


def test_staff_unsubscribe_a_contact_yet_to_confirm_a_signup():
    from campaigns.consent import contacts_unsubscribe

    pending = ContactFactory(email="p6@example.com", status=Contact.Status.PENDING)

    changed = contacts_unsubscribe(
        contacts=Contact.objects.all(), actor=CONSENT_SYSTEM, reason="Asked by phone"
    )

    assert changed == 1
    assert Contact.objects.get(pk=pending.pk).status == Contact.Status.UNSUBSCRIBED
    change = ConsentChange.objects.get(contact=pending)
    assert (change.from_status, change.to_status) == (Contact.Status.PENDING, Contact.Status.UNSUBSCRIBED)


def test_a_put_that_echoes_a_pending_status_is_taken_and_the_schema_offers_only_the_given_ones(api_client):
    pending = ContactFactory(email="p7@example.com", status=Contact.Status.PENDING)
    subscribed = ContactFactory(email="p8@example.com")

    echoed = api_client.put(
        f"/api/v1/contacts/{pending.pk}",
        {"email": "p7@example.com", "status": "pending", "first_name": "P"},
        format="json",
    )
    made = api_client.patch(f"/api/v1/contacts/{subscribed.pk}", {"status": "pending"}, format="json")
    schema = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]

    assert echoed.status_code == 200, echoed.content
    assert made.status_code == 400
    assert "pending" not in schema["ContactRequest"]["properties"]["status"]["pattern"]
    assert "pending" in schema["ContactStatusEnum"]["enum"]  # What a contact read back may hold.


def test_a_bulk_row_is_trimmed_as_a_files_cells_are(api_client):
    rows = [{"email": "t@example.com", "first_name": " Ada ", "last_name": "\tLove"}]
    api_client.post("/api/v1/contacts/bulk", {"contacts": rows}, format="json")

    contact = Contact.objects.get(email="t@example.com")
    assert (contact.first_name, contact.last_name) == ("Ada", "Love")


def test_only_a_signup_form_makes_a_contact_pending(api_client):
    from campaigns.admin_contacts import ContactForm

    contact = ContactFactory(email="q@example.com")

    patched = api_client.patch(f"/api/v1/contacts/{contact.pk}", {"status": "pending"}, format="json")
    bulk = api_client.post(
        "/api/v1/contacts/bulk",
        {"contacts": [{"email": "r@example.com", "status": "pending"}]},
        format="json",
    )

    assert patched.status_code == 400
    assert "signup form" in str(patched.json())
    assert bulk.json()["failed"] == 1
    assert "pending" not in [
        value for value, _label in ContactForm(instance=contact).fields["status"].choices
    ]
    pending = ContactFactory(email="s@example.com", status=Contact.Status.PENDING)
    assert "pending" in [value for value, _label in ContactForm(instance=pending).fields["status"].choices]


def test_a_request_echoing_pending_after_the_contact_confirmed_leaves_them_subscribed():
    contact = ContactFactory(email="c1@example.com", status=Contact.Status.PENDING)
    Contact.objects.filter(pk=contact.pk).update(status=Contact.Status.SUBSCRIBED)  # Confirmed meanwhile.

    changed = contact_status_change(contact=contact, status=Contact.Status.PENDING, actor=CONSENT_SYSTEM)

    assert changed is False
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.SUBSCRIBED


def test_a_bad_status_in_a_row_names_only_the_statuses_a_row_may_give(api_client):
    rows = [{"email": "r1@example.com", "status": "bogus"}]

    said = api_client.post("/api/v1/contacts/bulk", {"contacts": rows}, format="json").json()

    assert said["errors"][0]["errors"]["status"] == ["Must be one of: subscribed, unsubscribed."]


def test_staff_are_offered_the_given_statuses_and_the_one_a_contact_holds():
    from campaigns.admin_contacts import ContactForm

    holder = ContactFactory(email="t9@example.com", status=Contact.Status.TRANSACTIONAL)

    offered = [value for value, _label in ContactForm(instance=holder).fields["status"].choices]

    assert sorted(offered) == ["subscribed", "transactional", "unsubscribed"]


def _moved(api_client) -> Contact:
    """Return a subscribed contact made at fb1@example.com, whose address then became fb2."""
    made = api_client.post("/api/v1/contacts", {"email": "fb1@example.com"}, format="json")
    assert made.status_code == 201, made.content
    moved = api_client.patch(
        f"/api/v1/contacts/{made.json()['id']}", {"email": "fb2@example.com"}, format="json"
    )
    assert moved.status_code == 200, moved.content
    assert not Suppression.objects.exists()  # It left the address subscribed: nothing to keep yet.
    return Contact.objects.get(pk=made.json()["id"])


def _by_patch(api_client, contact: Contact) -> None:
    answer = api_client.patch(f"/api/v1/contacts/{contact.pk}", {"status": "unsubscribed"}, format="json")
    assert answer.status_code == 200, answer.content


def _in_bulk(api_client, contact: Contact) -> None:
    body = {"contacts": [{"email": contact.email, "status": "unsubscribed"}]}
    assert api_client.post("/api/v1/contacts/bulk", body, format="json").json()["updated"] == 1


def _by_staff(_api_client, contact: Contact) -> None:
    staff = ConsentActor(by=ConsentChange.By.STAFF, name="ada", via=ConsentChange.Via.ADMIN)
    assert contacts_unsubscribe(
        contacts=Contact.objects.filter(pk=contact.pk), actor=staff, reason="By phone"
    )


def _by_one_click(_api_client, contact: Contact) -> None:
    from tracking.unsubscribe import step_execution_unsubscribe

    row = StepExecutionFactory(contact=contact, email=contact.email)
    assert step_execution_unsubscribe(execution=row, source="one-click")


@pytest.mark.parametrize(
    ("unsubscribe", "source"),
    [(_by_patch, "api"), (_in_bulk, "api"), (_by_staff, "admin"), (_by_one_click, "tracking")],
    ids=["api patch", "bulk upsert", "staff", "one-click"],
)
def test_unsubscribing_after_an_address_change_keeps_the_former_addresss_opt_out(
    api_client, unsubscribe, source
):
    contact = _moved(api_client)

    unsubscribe(api_client, contact)

    kept = Suppression.objects.get(email="fb1@example.com")
    assert (kept.reason, kept.opted_out, kept.source) == ("unsubscribe", True, source)
    assert "held it before" in kept.detail
    assert not Suppression.objects.filter(email="fb2@example.com").exists()  # Its status holds that one.
    # One who takes the former address back, in bulk, is not mailed by a campaign.
    audience = ContactListFactory()
    body = {"contacts": [{"email": "fb1@example.com", "status": "subscribed"}], "lists": [audience.pk]}
    assert api_client.post("/api/v1/contacts/bulk", body, format="json").json()["created"] == 1
    campaign = CampaignFactory()
    campaign.lists.add(audience)
    assert not campaign_audience(campaign=campaign).exists()


def test_an_unsubscribe_leaves_a_former_address_another_contact_holds_now_to_them(api_client):
    contact = _moved(api_client)
    holder = ContactFactory(email="fb1@example.com")  # Whose address it is now.

    _by_patch(api_client, contact)

    assert not Suppression.objects.exists()
    holder.refresh_from_db()
    assert holder.status == SUBSCRIBED


def test_an_opt_out_given_after_an_address_change_marks_its_former_addresss_bounce(api_client):
    contact = _moved(api_client)
    SuppressionFactory(email="fb1@example.com", reason=Suppression.Reason.HARD_BOUNCE)

    _by_patch(api_client, contact)

    kept = Suppression.objects.get(email="fb1@example.com")
    assert (kept.reason, kept.opted_out) == ("hard_bounce", True)


def test_deleting_one_who_unsubscribed_keeps_the_opt_out_of_every_address_they_held(api_client):
    # Unsubscribed before its former addresses' opt-outs were kept at once, say.
    contact = _gone(email="now@example.com")
    Contact.objects.filter(pk=contact.pk).update(former_emails=["then@example.com", "taken@example.com"])
    ContactFactory(email="taken@example.com")  # Someone else's now.

    assert api_client.delete(f"/api/v1/contacts/{contact.pk}").status_code == 204

    kept = dict(Suppression.objects.values_list("email", "reason"))
    assert kept == {"now@example.com": "unsubscribe", "then@example.com": "unsubscribe"}
    assert "held it before" in Suppression.objects.get(email="then@example.com").detail


def test_an_erasure_takes_the_opt_outs_kept_for_the_former_addresses_with_it(api_client):
    from console.erasure import contact_erase

    contact = _moved(api_client)
    _by_patch(api_client, contact)
    assert Suppression.objects.filter(email="fb1@example.com").exists()

    contact_erase(contact=contact, by="test")

    assert not Suppression.objects.exists()
