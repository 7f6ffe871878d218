"""The admin's contact import and the contact list's actions, as the staff who use them."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns import import_jobs
from campaigns.erasure import contact_profile_erase
from campaigns.models import ConsentChange, Contact, ContactImport
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db

CSV = "Email,First name,Plan\nada@example.com,Ada,pro\nnot-an-address,Nope,free\nbob@example.com,Bob,=1+1\n"


def _upload(client, text: str = CSV, name: str = "leads.csv"):
    upload = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post(reverse("admin:campaigns_contactimport_add"), {"file": upload})


def _start_fields(job: ContactImport, **extra) -> dict:
    fields = {f"target_{n}": column["target"] for n, column in enumerate(job.mapping)}
    fields |= {f"attribute_{n}": column["attribute"] for n, column in enumerate(job.mapping)}
    fields |= {"consent_basis": "consent", "existing": "update", "unsubscribed": "keep", "_start": "1"}
    return fields | extra


def test_a_marketer_imports_a_file_maps_it_watches_it_and_downloads_what_was_not_imported(
    django_capture_on_commit_callbacks,
):
    client = role_client("Marketers")
    fair = ContactListFactory(name="Fair")
    contacts = client.get(reverse("admin:campaigns_contact_changelist")).content.decode()
    assert "Import contacts" in contacts

    response = _upload(client)
    job = ContactImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:campaigns_contactimport_change", args=[job.pk])
    page = client.get(response.url).content.decode()
    assert "3 rows · 3 columns" in page
    assert 'value="email" selected' in page  # "Email" guessed as the address column.
    assert "&#x27;not-an-address&#x27; is not a valid address" in page  # Checked before starting.
    assert "New contact" in page

    with django_capture_on_commit_callbacks(execute=False) as queued:
        started = client.post(response.url, _start_fields(job, lists=[fair.pk]))
    assert started.status_code == 302
    assert len(queued) == 1
    job.refresh_from_db()
    assert job.status == ContactImport.Status.QUEUED
    live = client.get(response.url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in live
    assert "Waiting for a worker." in live

    import_jobs.contact_import_run(job_id=job.pk)  # What the worker does.

    done = client.get(response.url).content.decode()
    assert 'id="import-status">Done<' in done
    assert 'hx-trigger="every 2s"' not in done  # Nothing left to follow.
    assert set(fair.contacts.values_list("email", flat=True)) == {"ada@example.com", "bob@example.com"}
    report = client.get(reverse("admin:campaigns_contactimport_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert rows[0] == ["Email", "First name", "Plan", "campanile_line", "campanile_problem"]
    assert rows[1][:4] == ["not-an-address", "Nope", "free", "3"]
    assert Contact.objects.get(email="bob@example.com").attributes == {"Plan": "=1+1"}


def test_the_mapping_page_says_what_is_wrong_and_starts_nothing():
    client = role_client("Marketers")
    _upload(client)
    job = ContactImport.objects.get()
    url = reverse("admin:campaigns_contactimport_change", args=[job.pk])

    page = client.post(url, _start_fields(job, target_0="skip", consent_basis="")).content.decode()

    assert "Choose the column that holds the email addresses." in page
    assert "This field is required." in page  # The consent basis.
    job.refresh_from_db()
    assert job.status == ContactImport.Status.MAPPING


def test_an_unreadable_upload_is_refused_on_the_upload_page():
    client = role_client("Marketers")
    page = _upload(client, "", "empty.csv").content.decode()
    assert "empty" in page
    assert not ContactImport.objects.exists()


def test_importing_needs_the_permissions_to_add_change_and_see_contacts(client):
    from django.contrib.auth.models import Permission, User

    from tests.utils import staff_login

    user = User.objects.create_user("importer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["add_contactimport", "view_contactimport", "add_contact"])
    )
    staff_login(client, user)
    assert client.get(reverse("admin:campaigns_contactimport_add")).status_code == 403
    assert "Import contacts" not in client.get(reverse("admin:campaigns_contact_changelist")).content.decode()


def _action(client, action: str, contacts, **fields):
    data = {"action": action, "_selected_action": [contact.pk for contact in contacts], **fields}
    return client.post(reverse("admin:campaigns_contact_changelist"), data, follow=True)


def test_contacts_are_added_to_and_removed_from_a_list_after_choosing_it():
    client = role_client("Marketers")
    ada, bob = ContactFactory(), ContactFactory()
    fair = ContactListFactory(name="Fair")

    asked = _action(client, "add_to_list", [ada, bob]).content.decode()
    assert "2 contacts selected." in asked
    assert "Fair" in asked
    assert not fair.contacts.exists()  # Nothing until the list is chosen.
    done = _action(client, "add_to_list", [ada, bob], contact_list=fair.pk, apply="1").content.decode()
    assert "2 contacts added to Fair." in done
    assert fair.contacts.count() == 2

    _action(client, "remove_from_list", [ada], contact_list=fair.pk, apply="1")
    assert list(fair.contacts.all()) == [bob]


def test_unsubscribing_a_selection_takes_a_reason_and_audits_each_contact():
    client = role_client("Marketers")
    ada, bob = ContactFactory(), ContactFactory(status=Contact.Status.UNSUBSCRIBED)

    asked = _action(client, "unsubscribe", [ada, bob], reason="\u200b", apply="1").content.decode()
    assert "Say why they are unsubscribed." in asked
    assert Contact.objects.get(pk=ada.pk).status == Contact.Status.SUBSCRIBED

    done = _action(client, "unsubscribe", [ada, bob], reason="Asked by phone", apply="1").content.decode()
    assert "1 contact unsubscribed." in done  # Bob had already left.
    assert Contact.objects.get(pk=ada.pk).status == Contact.Status.UNSUBSCRIBED
    change = ConsentChange.objects.get()
    assert (change.contact_id, change.reason, change.via, change.actor) == (
        ada.pk,
        "Asked by phone",
        "admin",
        "marketers",
    )


def test_the_export_writes_each_contacts_lists_and_attributes_in_columns_a_spreadsheet_cannot_run():
    client = role_client("Marketers")
    ada = ContactFactory(email="ada@example.com", attributes={"plan": "pro", "seats": 3})
    bob = ContactFactory(email="bob@example.com", first_name="=HYPERLINK(1)", attributes={"vip": True})
    ListMembershipFactory(contact=ada, contact_list=ContactListFactory(name="Fair"))
    ListMembershipFactory(contact=ada, contact_list=ContactListFactory(name="Blog"))

    response = _action(client, "export_csv", [bob, ada])

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = rows[0]
    assert header[-3:] == ["attributes.plan", "attributes.seats", "attributes.vip"]
    by_email = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_email["ada@example.com"]["lists"] == "Blog; Fair"
    assert (
        by_email["ada@example.com"]["attributes.seats"],
        by_email["bob@example.com"]["attributes.vip"],
    ) == (
        "3",
        "true",
    )
    assert by_email["bob@example.com"]["first_name"] == "'=HYPERLINK(1)"


def test_an_export_imports_back_with_its_columns_guessed():
    from campaigns.imports import mapping_guess

    header = ["email", "first_name", "last_name", "external_id", "status", "unsubscribed_at", "timezone"]
    header += ["lists", "created_at", "attributes.plan"]

    targets = [(column["target"], column["attribute"]) for column in mapping_guess(header)]

    assert targets == [
        ("email", ""),
        ("first_name", ""),
        ("last_name", ""),
        ("external_id", ""),
        ("status", ""),
        ("skip", ""),
        ("timezone", ""),
        ("skip", ""),
        ("skip", ""),
        ("attribute", "plan"),
    ]


def test_a_lists_page_shows_its_members_searchable_and_paged_and_adds_and_removes_them():
    from campaigns.admin_lists import MEMBERS_PER_PAGE

    client = role_client("Marketers")
    fair = ContactListFactory(name="Fair")
    for n in range(MEMBERS_PER_PAGE + 2):
        ListMembershipFactory(contact_list=fair, contact=ContactFactory(email=f"m{n:03d}@example.com"))
    outsider = ContactFactory(email="grace@example.com", first_name="Grace")
    url = reverse("admin:campaigns_contactlist_change", args=[fair.pk])

    page = client.get(url).content.decode()
    assert f"Members ({MEMBERS_PER_PAGE + 2})" in page
    assert "m000@example.com" in page
    assert "m051@example.com" not in page
    assert "m051@example.com" in client.get(url, {"p": "2"}).content.decode()
    assert "Page 1 of 1" not in client.get(url, {"q": "m051"}).content.decode()  # …and searchable.
    assert "m000@example.com" not in client.get(url, {"q": "m051"}).content.decode()
    assert client.get(url, {"p": "x", "q": "\x00"}).status_code == 200

    added = client.post(
        reverse("admin:campaigns_contactlist_members_add", args=[fair.pk]),
        {"addresses": "Grace@Example.com, nobody@example.com; not-an-address"},
        follow=True,
    ).content.decode()
    assert "1 contact added." in added
    assert "Not contacts yet (import them first): nobody@example.com" in added
    assert "Not addresses: not-an-address" in added
    assert fair.contacts.filter(pk=outsider.pk).exists()
    repeated = client.post(
        reverse("admin:campaigns_contactlist_members_add", args=[fair.pk]),
        {"addresses": "foo " * 30},
        follow=True,
    ).content.decode()
    assert "Not addresses: foo" in repeated
    assert "foo, foo" not in repeated  # Named once, however often it was pasted.
    strangers = " ".join(f"n{n}@example.com" for n in range(25))
    again = client.post(
        reverse("admin:campaigns_contactlist_members_add", args=[fair.pk]),
        {"addresses": f"grace@example.com {strangers}"},
        follow=True,
    ).content.decode()
    assert "0 contacts added. 1 was on the list already." in again  # Says why nothing was added,
    assert "n0@example.com, n1@example.com, n2@example.com" in again  # in the order pasted,
    assert "n19@example.com and 5 more" in again  # and how many it does not name.

    client.post(
        reverse("admin:campaigns_contactlist_members_remove", args=[fair.pk]), {"member": [outsider.pk, "x"]}
    )
    assert not fair.contacts.filter(pk=outsider.pk).exists()
    assert Contact.objects.filter(pk=outsider.pk).exists()  # Still a contact.


def test_a_lists_members_are_hidden_from_staff_who_may_not_see_contacts(client):
    from django.contrib.auth.models import Permission, User

    from tests.utils import staff_login

    user = User.objects.create_user("lists", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_contactlist", "change_contactlist"])
    )
    staff_login(client, user)
    fair = ContactListFactory()
    ListMembershipFactory(contact_list=fair, contact=ContactFactory(email="secret@example.com"))

    page = client.get(reverse("admin:campaigns_contactlist_change", args=[fair.pk])).content.decode()
    assert "secret@example.com" not in page
    assert 'id="members"' not in page
    response = client.post(
        reverse("admin:campaigns_contactlist_members_add", args=[fair.pk]), {"addresses": "x@y.de"}
    )
    assert response.status_code == 403


def test_an_administrator_suppresses_many_addresses_pasted_or_from_a_file_with_one_reason():
    from campaigns.models import Suppression
    from tests.factories import SuppressionFactory

    client = role_client("Administrators")
    SuppressionFactory(email="old@example.com", reason=Suppression.Reason.COMPLAINT)
    url = reverse("admin:campaigns_suppression_add_in_bulk")
    assert "Add many" in client.get(reverse("admin:campaigns_suppression_changelist")).content.decode()
    upload = SimpleUploadedFile("gone.csv", b"name,email\nGone,Gone@Example.com\nOld,old@example.com\n")

    done = client.post(
        url,
        {
            "addresses": "a@example.com, b@example.com\nnot-an-address",
            "file": upload,
            "reason": "hard_bounce",
        },
        follow=True,
    ).content.decode()

    assert "3 addresses suppressed. 1 was already." in done
    assert "Not addresses, left out: not-an-address" in done
    assert set(Suppression.objects.filter(reason="hard_bounce").values_list("email", flat=True)) == {
        "a@example.com",
        "b@example.com",
        "gone@example.com",
    }
    assert Suppression.objects.get(email="old@example.com").reason == "complaint"  # Its first reason.
    assert Suppression.objects.get(email="a@example.com").source == "import"
    assert "Paste addresses or choose a file." in client.post(url, {"reason": "manual"}).content.decode()


def test_suppressing_many_says_how_many_more_words_it_left_out_than_it_names():
    client = role_client("Administrators")
    words = " ".join(f"bad{n}" for n in range(25))

    done = client.post(
        reverse("admin:campaigns_suppression_add_in_bulk"),
        {"addresses": words, "reason": "manual"},
        follow=True,
    ).content.decode()

    assert "bad19 and 5 more" in done
    assert "bad20" not in done


def test_marketers_may_not_suppress_in_bulk():
    client = role_client("Marketers")
    assert client.get(reverse("admin:campaigns_suppression_add_in_bulk")).status_code == 403


def _run_keeping_contacts_on_file(text: str) -> ContactImport:
    """Import a file as the worker does, keeping the contacts already here as they are."""
    job = import_jobs.contact_import_create(file_name="keep.csv", data=text.encode(), user=None)
    import_jobs.contact_import_start(
        job=job, mapping=job.mapping, lists=[], consent_basis="consent", existing=ContactImport.Existing.KEEP
    )
    import_jobs.contact_import_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _rows_counted(job: ContactImport) -> int:
    """Add up the counts that say what became of each row (kept unsubscribed or awaiting
    confirmation say more of rows these count already)."""
    return job.created + job.updated + job.unchanged + job.kept + job.failed


def test_keeping_contacts_on_file_never_counts_a_row_it_refused_as_kept():
    erased = ContactFactory(email="back@example.com")
    contact_profile_erase(contact=erased, by="test")
    ContactFactory(
        email="back@example.com", status=Contact.Status.TRANSACTIONAL
    )  # A receipt brought it back.

    job = _run_keeping_contacts_on_file("email\nback@example.com\n")

    assert (job.kept, job.failed) == (0, 1)
    assert _rows_counted(job) == job.rows_total
    assert Contact.objects.get(email="back@example.com").status == Contact.Status.TRANSACTIONAL


def test_keeping_contacts_on_file_counts_each_row_once_when_one_repeats_in_a_later_chunk(monkeypatch):
    monkeypatch.setattr(import_jobs, "CONTACT_BULK_MAX", 5)
    on_file = [ContactFactory(email=f"known{n}@example.com", first_name="Kept").email for n in range(2)]
    new = [f"new{n}@example.com" for n in range(5)]
    # The first contact on file is the file's second row (line 3), again on line 8, in the second chunk.
    addresses = [new[0], on_file[0], new[1], on_file[1], new[2], new[3], on_file[0], new[4]]

    job = _run_keeping_contacts_on_file("email,first_name\n" + "".join(f"{a},Changed\n" for a in addresses))

    assert (job.created, job.updated, job.unchanged) == (len(new), 0, 0)
    assert (job.kept, job.failed) == (len(on_file), 1)
    assert _rows_counted(job) == job.rows_total == len(addresses)
    assert [(error["row"], error["errors"]) for error in job.errors] == [(8, {"email": ["Repeats row 3."]})]
    assert set(Contact.objects.filter(email__in=on_file).values_list("first_name", flat=True)) == {"Kept"}


def test_keeping_contacts_on_file_counts_one_the_file_unsubscribes_as_updated_not_kept():
    ContactFactory(email="leaving@example.com", first_name="Lee")
    ContactFactory(email="staying@example.com", first_name="Sam")

    job = _run_keeping_contacts_on_file(
        "email,first_name,status\nleaving@example.com,X,unsubscribed\nstaying@example.com,Y,subscribed\n"
    )

    assert (job.updated, job.kept) == (1, 1)
    assert _rows_counted(job) == job.rows_total
    assert dict(Contact.objects.values_list("email", "status")) == {
        "leaving@example.com": Contact.Status.UNSUBSCRIBED,
        "staying@example.com": Contact.Status.SUBSCRIBED,
    }
