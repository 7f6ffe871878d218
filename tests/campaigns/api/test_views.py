import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Campaign, ConsentChange, Contact, ContactList, ListMembership, Suppression
from campaigns.selectors import campaign_audience, contact_export_rows
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SuppressionFactory,
    TemplateFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _fields(response):
    return response.json()["error"]["fields"]


# --- Contacts -------------------------------------------------------------------------------------


def test_contact_crud_normalizes_email_and_refuses_duplicates(api_client):
    created = api_client.post(f"{API}/contacts", {"email": "Ada@Example.com", "attributes": {"plan": "pro"}})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    assert created.json()["email"] == "ada@example.com"

    duplicate = api_client.post(f"{API}/contacts", {"email": "ADA@example.com"})
    assert duplicate.status_code == 400
    assert "email" in _fields(duplicate)

    patched = api_client.patch(
        f"{API}/contacts/{contact_id}", {"first_name": "Ada", "timezone": "Europe/London"}
    )
    assert patched.json()["first_name"] == "Ada"
    assert api_client.patch(f"{API}/contacts/{contact_id}", {"timezone": "Mars/Base"}).status_code == 400
    assert api_client.delete(f"{API}/contacts/{contact_id}").status_code == 204
    assert not Contact.objects.exists()


def test_contacts_filter_by_email_external_id_and_list_with_cursor_pages(api_client):
    on_list = ListMembershipFactory(contact=ContactFactory(email="a@example.com", external_id="crm-a"))
    for n in range(5):
        ContactFactory(email=f"other{n}@example.com")

    assert [
        c["email"] for c in api_client.get(f"{API}/contacts", {"email": "A@Example.com"}).json()["results"]
    ] == ["a@example.com"]
    assert len(api_client.get(f"{API}/contacts", {"external_id": "crm-a"}).json()["results"]) == 1
    assert len(api_client.get(f"{API}/contacts", {"list": on_list.contact_list_id}).json()["results"]) == 1
    first = api_client.get(f"{API}/contacts", {"page_size": 4}).json()
    second = api_client.get(first["next"]).json()
    assert len(first["results"]) == 4
    assert len(second["results"]) == 2
    assert {c["id"] for c in first["results"]}.isdisjoint({c["id"] for c in second["results"]})


def test_bulk_upsert_creates_updates_and_reports_bad_rows(api_client):
    ContactFactory(email="known@example.com", first_name="Old", last_name="Keep", external_id="crm-known")
    ContactFactory(email="owner@example.com", external_id="crm-taken")
    contact_list = ContactListFactory()
    rows = [
        {"email": "New@Example.com", "first_name": "New", "attributes": {"plan": "pro"}},
        {"email": "known@example.com", "first_name": "Updated"},
        {"email": "not-an-email"},
        {"email": "new@example.com", "first_name": "Again"},
        {"email": "thief@example.com", "external_id": "crm-taken"},
        {"email": "tz@example.com", "timezone": "Nowhere/Special"},
        "not an object",
        {"email": "quit@example.com", "status": "unsubscribed"},
    ]

    response = api_client.post(f"{API}/contacts/bulk", {"contacts": rows, "lists": [contact_list.pk]})

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (2, 1, 5)
    assert [e["row"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    assert "email" in body["errors"][0]["errors"]
    assert "Repeats row 0" in body["errors"][1]["errors"]["email"][0]
    assert "owner@example.com" in body["errors"][2]["errors"]["external_id"][0]
    known = Contact.objects.get(email="known@example.com")
    assert (known.first_name, known.last_name, known.external_id) == ("Updated", "Keep", "crm-known")
    assert Contact.objects.get(email="new@example.com").attributes == {"plan": "pro"}
    quit_ = Contact.objects.get(email="quit@example.com")
    assert quit_.status == Contact.Status.UNSUBSCRIBED
    assert quit_.unsubscribed_at is not None
    assert not Contact.objects.filter(email="thief@example.com").exists()
    assert ListMembership.objects.filter(contact_list=contact_list).count() == 3


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_attributes_nested_past_the_limit_are_refused_one_by_one_and_in_bulk(api_client):
    deep, fine = _nested(11), _nested(10)
    one = api_client.post(f"{API}/contacts", {"email": "deep@example.com", "attributes": deep}, format="json")
    assert one.status_code == 400
    assert "at most 10 levels deep" in _fields(one)["attributes"][0]
    rows = [
        {"email": "deep@example.com", "attributes": deep},
        {"email": "fine@example.com", "attributes": fine},
    ]
    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()
    assert (bulk["created"], bulk["failed"]) == (1, 1)
    assert "at most 10 levels deep" in bulk["errors"][0]["errors"]["attributes"][0]
    assert list(Contact.objects.values_list("email", flat=True)) == ["fine@example.com"]


@pytest.mark.parametrize(
    "attributes",
    ['{"a": "x\\u0000"}', '{"a\\u0000": 1}', '{"a": "\\ud800"}', '{"\\udc00": 1}', '{"a": [1e400]}'],
    ids=["nul", "nul key", "surrogate", "surrogate key", "a number past a double"],
)
def test_attributes_the_database_cannot_store_fail_their_row_alone(api_client, attributes):
    rows = f'[{{"email": "okb1@example.com"}}, {{"email": "bad@example.com", "attributes": {attributes}}}]'
    response = api_client.post(
        f"{API}/contacts/bulk", f'{{"contacts": {rows}}}', content_type="application/json"
    )
    bulk = response.json()
    assert (bulk["created"], bulk["failed"]) == (1, 1), bulk
    assert "attributes" in bulk["errors"][0]["errors"]
    assert list(Contact.objects.values_list("email", flat=True)) == ["okb1@example.com"]


@pytest.mark.parametrize("key", ["plan\u200b", "pl\u202ean", "a\u2066b", "x\ufeff"])
def test_an_attributes_name_holding_an_invisible_or_bidi_character_is_refused_naming_it(api_client, key):
    one = api_client.post(
        f"{API}/contacts", {"email": "one@example.com", "attributes": {key: 1}}, format="json"
    )
    rows = [
        {"email": "fine@example.com", "attributes": {"plan": 1}},
        {"email": "two@example.com", "attributes": {"n": {key: 1}}},
    ]
    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()

    assert one.status_code == 400
    assert "U+" in one.json()["error"]["fields"]["attributes"][0]
    assert (bulk["created"], bulk["failed"]) == (1, 1)
    assert "U+" in bulk["errors"][0]["errors"]["attributes"][0]
    assert list(Contact.objects.values_list("email", flat=True)) == ["fine@example.com"]


def test_bulk_upsert_refuses_more_than_ten_thousand_rows(api_client):
    response = api_client.post(f"{API}/contacts/bulk", {"contacts": [{"email": "a@b.c"}] * 10_001})
    assert response.status_code == 400
    assert not Contact.objects.exists()


def test_csv_import_maps_columns_and_reports_lines(api_client):
    ContactFactory(email="known@example.com", first_name="Old")
    csv_text = (
        "Email,First_Name,plan,Company\n"
        "known@example.com,Known,pro,Acme\n"
        "bad-address,Nope,,\n"
        "fresh@example.com,Fresh,free,\n"
    )
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 1)
    assert body["errors"][0]["row"] == 3
    known = Contact.objects.get(email="known@example.com")
    assert known.first_name == "Known"
    assert known.attributes == {"plan": "pro", "Company": "Acme"}


def test_a_csv_line_with_more_cells_than_the_header_fails_alone_and_says_why(api_client):
    csv_text = "email,city\nshifted@example.com,Rome, Italy\nfine@example.com,Oslo\n"
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")

    body = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()

    assert (body["created"], body["failed"]) == (1, 1)
    (error,) = body["errors"]
    assert (error["row"], error["email"]) == (2, "shifted@example.com")
    assert "1 more cell than the header has named columns" in str(error["errors"])
    assert not Contact.objects.filter(email="shifted@example.com").exists()


def test_a_value_under_a_column_with_no_name_fails_its_line_saying_the_name_is_missing(api_client):
    upload = SimpleUploadedFile("contacts.csv", b"email,\nnameless@example.com,v\n", content_type="text/csv")

    body = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()

    (error,) = body["errors"]
    assert "does a column lack its name?" in str(error["errors"])


@pytest.mark.parametrize(
    "content",
    [b"first_name\nAda\n", b"\xff\xfe\x00bad", b""],
)
def test_csv_import_refuses_unreadable_files(api_client, content):
    upload = SimpleUploadedFile("contacts.csv", content, content_type="text/csv")
    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "file" in _fields(response)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("contacts.xlsx", "an Excel workbook"), ("contacts.csv", "an Excel workbook"), ("c.csv", "UTF-16 text")],
)
def test_a_workbook_or_utf16_file_sent_to_the_api_import_is_told_what_the_api_reads(api_client, name, kind):
    from tests.campaigns.test_import_workbooks import _xlsx

    utf16 = "email\nu@example.com\n".encode("utf-16")
    content = _xlsx([["email"], ["w@example.com"]]) if "Excel" in kind else utf16
    upload = SimpleUploadedFile(name, content)

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 400
    (message,) = _fields(response)["file"]
    assert f"This file is {kind}." in message
    assert "The API reads CSV files in UTF-8" in message
    assert "import it in the admin" in message
    assert "NUL" not in message


def test_an_api_import_refuses_an_address_repeated_in_a_later_chunk(api_client, monkeypatch):
    from campaigns import imports

    monkeypatch.setattr(imports, "CONTACT_BULK_MAX", 2)
    rows = "dup@example.com,First\na@example.com,A\nb@example.com,B\ndup@example.com,Second\n"
    upload = SimpleUploadedFile("c.csv", f"email,first_name\n{rows}".encode())

    body = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()

    assert (body["created"], body["failed"]) == (3, 1)
    assert body["errors"][0]["row"] == 5
    assert body["errors"][0]["errors"] == {"email": ["Repeats row 2."]}
    assert Contact.objects.get(email="dup@example.com").first_name == "First"


@pytest.mark.parametrize("part", ["file", "reason"])
def test_an_import_sending_a_part_twice_is_refused_and_imports_nothing(api_client, part):
    first = SimpleUploadedFile("a.csv", b"email\nfirst@example.com\n")
    second = SimpleUploadedFile("b.csv", b"email\nsecond@example.com\n")
    body = {"file": [first, second]} if part == "file" else {"file": first, "reason": ["one", "two"]}

    response = api_client.post(f"{API}/contacts/import", body, format="multipart")

    assert response.status_code == 400
    assert _fields(response) == {part: ["Sent more than once; send it once."]}
    assert not Contact.objects.filter(email__in=["first@example.com", "second@example.com"]).exists()


def test_an_import_may_name_many_lists_by_repeating_the_part(api_client):
    lists = ContactListFactory.create_batch(2)
    upload = SimpleUploadedFile("a.csv", b"email\nlisted@example.com\n")

    response = api_client.post(
        f"{API}/contacts/import", {"file": upload, "lists": [lst.pk for lst in lists]}, format="multipart"
    )

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="listed@example.com").lists.count() == 2


@pytest.mark.parametrize(
    ("header", "repeated"),
    [("email,email", "email"), ("email,First_Name,first_name", "first_name"), ("email,plan, plan", "plan")],
)
def test_a_csv_whose_header_names_a_column_twice_is_refused_before_anything_is_read(
    api_client, header, repeated
):
    # A reader keeps only the last of two columns of one name: the first column's cells would be
    # dropped without a word (an address, a name).
    upload = SimpleUploadedFile("contacts.csv", f"{header}\na@example.com,b@example.com,c\n".encode())

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 400
    (message,) = _fields(response)["file"]
    assert f"`{repeated}`" in message
    assert "Nothing was imported." in message
    assert not Contact.objects.exists()


def test_a_csv_whose_columns_land_on_one_attribute_is_refused_naming_it(api_client):
    # Spelt apart, one attribute: the first column's cells would be dropped without a word.
    upload = SimpleUploadedFile("contacts.csv", b"email,plan,attributes.plan\na@example.com,gold,silver\n")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 400
    (message,) = _fields(response)["file"]
    assert "Two columns are the attribute \u201cplan\u201d." in message
    assert "Nothing was imported." in message
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (b"".join(b"row%d@example.com\n" % n for n in range(7, 12)), "More than 8 rows"),
        (b"late@example.com\n\xff\xfe broken\n", "Line 10 holds bytes that are not UTF-8 text"),
    ],
)
def test_a_csv_refused_as_a_whole_after_chunks_were_read_writes_nothing(
    api_client, monkeypatch, tail, problem
):
    from campaigns import imports

    monkeypatch.setattr(imports, "CSV_MAX_ROWS", 8)
    monkeypatch.setattr(imports, "CONTACT_BULK_MAX", 2)  # Chunks are upserted before the end is read.
    head = b"email\n" + b"".join(b"row%d@example.com\n" % n for n in range(7))
    upload = SimpleUploadedFile("contacts.csv", head + tail, content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 400
    (message,) = _fields(response)["file"]
    assert problem in message
    assert "Nothing was imported." in message
    assert not Contact.objects.exists()


def test_a_contact_made_unsubscribed_says_when_they_left_one_by_one_as_in_bulk(api_client):
    made = api_client.post(f"{API}/contacts", {"email": "api@example.com", "status": "unsubscribed"})
    bulk = {"contacts": [{"email": "bulk@example.com", "status": "unsubscribed"}]}
    api_client.post(f"{API}/contacts/bulk", bulk)

    assert made.json()["unsubscribed_at"] is not None
    assert Contact.objects.get(email="bulk@example.com").unsubscribed_at is not None


# --- Lists ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\u202e", "\u2067", "\u200b", "\ufeff", "\x07", "\u2028"])
def test_a_list_name_holding_a_bidi_override_or_an_invisible_space_is_refused_naming_it(
    api_client, character
):
    answer = api_client.post(f"{API}/lists", {"name": f"News{character}letter"})

    assert answer.status_code == 400
    assert f"U+{ord(character):04X}" in answer.json()["error"]["fields"]["name"][0]
    assert not ContactList.objects.exists()


def test_a_list_name_may_hold_the_marks_and_joiners_its_script_needs(api_client):
    names = [
        "\u05d7\u05d3\u05e9\u05d5\u05ea\u200f 2026",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "Family \U0001f468\u200d\U0001f467",
    ]

    for name in names:
        assert api_client.post(f"{API}/lists", {"name": name}).status_code == 201
    assert set(ContactList.objects.values_list("name", flat=True)) == set(names)


def test_list_membership_add_remove_and_members(api_client):
    contact_list = api_client.post(f"{API}/lists", {"name": "Newsletter"}).json()
    ada, grace = ContactFactory(email="ada@example.com"), ContactFactory()
    url = f"{API}/lists/{contact_list['id']}"

    added = api_client.post(f"{url}/members/add", {"emails": ["ADA@example.com"], "contact_ids": [grace.pk]})
    again = api_client.post(f"{url}/members/add", {"emails": ["ada@example.com"]})

    nothing_missing = {"emails": [], "contact_ids": []}
    assert added.json() == {"changed": 2, "not_found": nothing_missing, "kept_off": nothing_missing}
    assert again.json() == {"changed": 0, "not_found": nothing_missing, "kept_off": nothing_missing}
    assert api_client.get(url).json()["member_count"] == 2
    assert {c["id"] for c in api_client.get(f"{url}/members").json()["results"]} == {ada.pk, grace.pk}
    removed = api_client.post(f"{url}/members/remove", {"contact_ids": [ada.pk]})
    assert removed.json() == {"changed": 1, "not_found": nothing_missing}
    assert api_client.post(f"{url}/members/add", {}).status_code == 400


@pytest.mark.parametrize("change", ["add", "remove"])
def test_a_membership_change_names_what_no_contact_has_apart_from_what_changes_nothing(api_client, change):
    # Already a member (add), or not one (remove): nothing changes for it either, yet it is on file.
    contact = ContactFactory(email="member@example.com")
    contact_list = ContactListFactory()
    if change == "add":
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    given = {"emails": ["Nobody@example.com", "member@example.com"], "contact_ids": [999_999, contact.pk]}

    answer = api_client.post(f"{API}/lists/{contact_list.pk}/members/{change}", given).json()

    not_found = {"emails": ["nobody@example.com"], "contact_ids": [999_999]}
    kept_off = {"kept_off": {"emails": [], "contact_ids": []}} if change == "add" else {}
    assert answer == {"changed": 0, "not_found": not_found} | kept_off


# --- Templates ------------------------------------------------------------------------------------


def test_template_create_validates_syntax_and_previews_for_a_contact(api_client):
    broken = api_client.post(
        f"{API}/templates", {"name": "welcome", "subject": "Hi {% if %}", "html_body": "x"}
    )
    assert broken.status_code == 400
    assert "subject" in _fields(broken)

    template = api_client.post(
        f"{API}/templates",
        {
            "name": "welcome",
            "subject": "Hi {{ contact.first_name }}",
            "html_body": "<p>{{ attributes.plan }}</p>",
        },
    ).json()
    contact = ContactFactory(first_name="Ada", external_id="u-1", attributes={"plan": "pro"})

    by_id = api_client.post(f"{API}/templates/{template['id']}/preview", {"contact_id": contact.pk}).json()
    by_user = api_client.post(f"{API}/templates/{template['id']}/preview", {"user_id": "u-1"}).json()

    assert by_id == by_user
    assert by_id["subject"] == "Hi Ada"
    assert by_id["html"] == "<p>pro</p>"
    assert by_id["text"] == "pro"
    assert (
        api_client.post(f"{API}/templates/{template['id']}/preview", {"user_id": "nobody"}).status_code == 404
    )
    assert api_client.post(f"{API}/templates/{template['id']}/preview", {}).status_code == 400


@pytest.mark.parametrize("source", ["{% filter %}x{% endfilter %}", "{% filter  %}{% endfilter %}"])
def test_a_tag_django_cannot_compile_is_a_400_on_its_field_never_a_500(api_client, source):
    response = api_client.post(f"{API}/templates", {"name": "x", "subject": "s", "html_body": source})
    assert response.status_code == 400
    assert "html_body" in _fields(response)


def test_patching_a_template_validates_the_result(api_client):
    template = TemplateFactory()
    response = api_client.patch(f"{API}/templates/{template.pk}", {"html_body": "{% endif %}"})
    assert response.status_code == 400
    assert "html_body" in _fields(response)


# --- Campaigns ------------------------------------------------------------------------------------


def _campaign_body(**overrides):
    template = TemplateFactory(name="news")
    contact_list = ContactListFactory()
    ListMembershipFactory(contact_list=contact_list)
    body = {
        "name": "November news",
        "from_email": "News <news@campanile.test>",
        "lists": [contact_list.pk],
        "steps": [{"order": 1, "template": template.name, "delay": "00:00:00"}],
    }
    return {**body, **overrides}


def test_campaign_create_with_steps_then_schedule_and_pause(api_client):
    created = api_client.post(f"{API}/campaigns", _campaign_body())
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    assert created.json()["steps"] == [
        {
            "order": 1,
            "template": "news",
            "delay": "00:00:00",
            "send_at": None,
            "condition": "always",
            "condition_step": None,
            "condition_url": "",
        }
    ]

    scheduled = api_client.post(f"{API}/campaigns/{campaign_id}/schedule")
    assert scheduled.json()["status"] == "scheduled"
    assert api_client.post(f"{API}/campaigns/{campaign_id}/pause").json()["status"] == "paused"


def test_invalid_move_and_edit_of_a_non_draft_are_409_and_change_nothing(api_client):
    campaign_id = api_client.post(f"{API}/campaigns", _campaign_body()).json()["id"]

    resume = api_client.post(f"{API}/campaigns/{campaign_id}/resume")
    api_client.post(f"{API}/campaigns/{campaign_id}/schedule")
    edit = api_client.patch(f"{API}/campaigns/{campaign_id}", {"name": "Renamed"})
    delete = api_client.delete(f"{API}/campaigns/{campaign_id}")

    assert resume.status_code == 409
    assert "Cannot resume campaign" in resume.json()["error"]["message"]
    assert edit.status_code == 409
    assert "only a draft can be edited" in edit.json()["error"]["message"]
    assert delete.status_code == 409
    campaign = Campaign.objects.get(pk=campaign_id)
    assert (campaign.name, campaign.status) == ("November news", Campaign.Status.SCHEDULED)


def test_campaign_with_a_bad_sender_or_unknown_template_is_400(api_client):
    body = _campaign_body()
    assert "from_email" in _fields(api_client.post(f"{API}/campaigns", {**body, "from_email": "x\r\ny"}))
    body["steps"][0]["template"] = "missing"
    assert "steps" in _fields(api_client.post(f"{API}/campaigns", body))
    assert not Campaign.objects.exists()


def test_a_step_delay_past_ten_years_is_a_400_not_a_campaign_that_never_sends(api_client):
    body = _campaign_body()
    body["steps"].append({"order": 2, "template": "news", "delay": "999999999 00:00:00"})
    refused = api_client.post(f"{API}/campaigns", body, format="json")
    assert refused.status_code == 400
    assert "steps" in _fields(refused)
    assert not Campaign.objects.exists()


def test_a_drip_is_created_with_conditions_on_earlier_steps_windows_and_a_schedule(api_client):
    body = _campaign_body(
        steps=[
            {"order": 1, "template": "news"},
            {"order": 2, "template": "news", "delay": "2 00:00:00", "condition": "not_opened"},
            {
                "order": 3,
                "template": "news",
                "delay": "3 00:00:00",
                "condition": "clicked",
                "condition_step": 1,
            },
        ],
        send_window_start="09:00",
        send_window_end="17:00",
        send_weekdays="12345",
        timezone="Europe/Paris",
        recurrence="0 9 * * 1",
    )
    created = api_client.post(f"{API}/campaigns", body, format="json")
    assert created.status_code == 201, created.json()
    campaign = Campaign.objects.get(pk=created.json()["id"])
    third = campaign.steps.get(order=3)
    assert (third.condition, third.condition_step.order, third.delay.days) == ("clicked", 1, 3)
    assert created.json()["steps"][2]["condition_step"] == 1
    assert (campaign.recurrence, campaign.send_weekdays) == ("0 9 * * 1", "12345")

    wrong = {**body, "steps": [{"order": 1, "template": "news", "condition_step": 7}], "recurrence": "weekly"}
    errors = _fields(api_client.post(f"{API}/campaigns", wrong, format="json"))
    assert {"steps", "recurrence"} <= set(errors)


def test_draft_edit_replaces_steps_and_lists(api_client):
    campaign_id = api_client.post(f"{API}/campaigns", _campaign_body()).json()["id"]
    other = TemplateFactory(name="other")
    response = api_client.patch(
        f"{API}/campaigns/{campaign_id}", {"steps": [{"order": 1, "template": other.name}], "lists": []}
    )
    assert response.status_code == 200
    assert response.json()["steps"][0]["template"] == "other"
    assert response.json()["lists"] == []


def test_dry_run_breaks_the_audience_down_by_exclusion(api_client):
    campaign = sendable_campaign(contacts=3)
    first = campaign.lists.get()
    second = ContactListFactory()
    campaign.lists.add(second)
    ListMembershipFactory(contact_list=second, contact=first.contacts.first())
    ListMembershipFactory(contact_list=first, contact=ContactFactory(status=Contact.Status.UNSUBSCRIBED))
    ListMembershipFactory(contact_list=second, contact=ContactFactory(email="gone@example.com"))
    SuppressionFactory(email="gone@example.com")
    ListMembershipFactory(contact_list=first, contact=ContactFactory(status=Contact.Status.PENDING))

    body = api_client.get(f"{API}/campaigns/{campaign.pk}/dry-run").json()

    assert body == {
        "on_lists": 6,
        "unsubscribed": 1,
        "pending": 1,
        "transactional": 0,
        "suppressed": 1,
        "paused": 0,
        "sendable": 3,
        "duplicates_collapsed": 1,
    }


def test_campaign_list_filters_by_status(api_client):
    CampaignFactory(status=Campaign.Status.SENDING)
    CampaignFactory()
    results = api_client.get(f"{API}/campaigns", {"status": "sending"}).json()["results"]
    assert [c["status"] for c in results] == ["sending"]


@pytest.mark.parametrize(
    ("resource", "factory"),
    [("contacts", ContactFactory), ("lists", ContactListFactory), ("campaigns", CampaignFactory)],
)
def test_lists_leave_load_test_data_out_unless_asked_and_fetch_it_by_id(api_client, resource, factory):
    theirs, load_test = factory(), factory(is_load_test=True)

    def listed(**params):
        return [row["id"] for row in api_client.get(f"{API}/{resource}", params).json()["results"]]

    assert listed() == [theirs.pk]
    assert listed(load_test="false") == [theirs.pk]
    assert listed(load_test="true") == [load_test.pk]
    assert listed(load_test="x") == listed(load_test="\x00") == [theirs.pk]  # An odd value hides them.
    assert api_client.get(f"{API}/{resource}/{load_test.pk}").json()["id"] == load_test.pk


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/contacts/99999999999999999999", None),
        ("get", "/contacts?list=99999999999999999999", None),
        ("get", "/contacts?cursor=garbage", None),
        ("get", "/contacts?created_after=not-a-date", None),
        (
            "post",
            "/contacts/bulk",
            {"contacts": [{"email": "a@example.com"}], "lists": [99999999999999999999]},
        ),
        ("post", "/lists/{list}/members/add", {"contact_ids": [99999999999999999999]}),
        ("post", "/templates/{template}/preview", {"contact_id": 99999999999999999999}),
        (
            "post",
            "/campaigns",
            {"name": "x", "from_email": "a@b.co", "steps": [{"order": 1, "template": "a\x00b"}]},
        ),
        ("get", "/contacts?email=a%00b", None),
        ("get", "/lists?name=a%00b", None),
    ],
)
def test_out_of_range_ids_and_garbage_parameters_are_client_errors(api_client, method, path, body):
    path = path.format(list=ContactListFactory().pk, template=TemplateFactory().pk)
    response = getattr(api_client, method)(f"{API}{path}", body)
    assert 400 <= response.status_code < 500


def _post_raw(client, path, body):
    """Post JSON as a client may write it: json.dumps escapes the lone surrogate (DRF's renderer can't)."""
    return client.post(f"{API}{path}", json.dumps(body), content_type="application/json")


LONE = "\ud800"  # Half of a UTF-16 pair: valid in JSON's escapes, not in UTF-8.


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/suppressions", {"email": "q@example.com", "reason": LONE}),
        ("/contacts", {"email": "q@example.com", "status": LONE}),
        ("/campaigns", {"name": "x", "from_email": "a@b.co", "audience_mode": LONE}),
    ],
    ids=["a choice: suppression reason", "a choice: status", "a choice: audience mode"],
)
def test_a_lone_surrogate_is_a_json_400_where_drf_repeats_the_input(api_client, path, body):
    response = _post_raw(api_client, path, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("field", ["first_name", "external_id"])
def test_a_lone_surrogate_in_a_bulk_row_fails_that_row_alone(api_client, field):
    rows = [{"email": "bad@example.com", field: LONE}, {"email": "ok@example.com"}]
    body = _post_raw(api_client, "/contacts/bulk", {"contacts": rows}).json()
    assert (body["created"], body["failed"]) == (1, 1)
    assert "Surrogate" in body["errors"][0]["errors"][field][0]


def test_a_lone_surrogate_in_a_bulk_rows_email_fails_that_row_alone_and_answers_in_json(api_client):
    rows = [{"email": "ok@example.com"}, {"email": f"bad{LONE}@example.com"}]
    response = _post_raw(api_client, "/contacts/bulk", {"contacts": rows})
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["failed"]) == (1, 1)
    assert body["errors"][0]["email"] == "bad\\ud800@example.com"


def test_bulk_rows_that_are_not_objects_are_reported_not_fatal(api_client):
    response = api_client.post(f"{API}/contacts/bulk", {"contacts": [None, 7, {"email": "ok@example.com"}]})
    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["failed"]) == (1, 2)
    assert all("non_field_errors" in error["errors"] for error in body["errors"])


def test_a_value_the_database_refuses_is_a_400_not_a_500(api_client, monkeypatch):
    from django.db import DataError

    from campaigns.api import views

    def refuse(**kwargs):
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    monkeypatch.setattr(views.selectors, "campaign_audience_breakdown", refuse)
    response = api_client.get(f"{API}/campaigns/{CampaignFactory().pk}/dry-run")
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["fields"]["non_field_errors"][0]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"first_name": "No email"}, "email"),
        ({"email": "a@example.com", "first_name": "x" * 151}, "first_name"),
        ({"email": "a@example.com", "first_name": True}, "first_name"),
        ({"email": "a@example.com", "last_name": "nul\x00"}, "last_name"),
        ({"email": "a@example.com", "status": "maybe"}, "status"),
        ({"email": "a@example.com", "status": {}}, "status"),
        ({"email": "a@example.com", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"email": 42}, "email"),
    ],
)
def test_bulk_row_checks_name_the_field(api_client, row, field):
    body = api_client.post(f"{API}/contacts/bulk", {"contacts": [row]}).json()
    assert body["failed"] == 1
    assert list(body["errors"][0]["errors"]) == [field]
    assert not Contact.objects.exists()


def test_bulk_row_numbers_and_strings_are_accepted_as_text(api_client):
    body = api_client.post(
        f"{API}/contacts/bulk", {"contacts": [{"email": "n@example.com", "external_id": 42}]}
    ).json()
    assert body["created"] == 1
    assert Contact.objects.get().external_id == "42"


def test_contacts_order_by_request_across_cursor_pages(api_client):
    for name in ("c", "a", "d", "b"):
        ContactFactory(email=f"{name}@example.com")
    first = api_client.get(f"{API}/contacts", {"ordering": "email", "page_size": 2}).json()
    second = api_client.get(first["next"]).json()
    emails = [c["email"] for c in first["results"] + second["results"]]
    assert emails == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    backwards = api_client.get(f"{API}/contacts", {"ordering": "-email"}).json()["results"]
    assert backwards[0]["email"] == "d@example.com"


# --- Suppressions ---------------------------------------------------------------------------------


def test_suppressions_are_added_listed_by_email_and_deleted(api_client):
    SuppressionFactory(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    added = api_client.post(
        f"{API}/suppressions", {"email": " Manual@Example.com ", "detail": "asked by phone"}
    )
    assert added.status_code == 201
    assert added.json() | {"id": None, "created_at": None} == {
        "id": None,
        "email": "manual@example.com",
        "reason": "manual",
        "opted_out": False,
        "source": "api",
        "detail": "asked by phone",
        "created_at": None,
    }
    found = api_client.get(f"{API}/suppressions", {"email": "MANUAL@example.com"}).json()["results"]
    assert [row["email"] for row in found] == ["manual@example.com"]
    by_reason = api_client.get(f"{API}/suppressions", {"reason": "hard_bounce"}).json()["results"]
    assert [row["email"] for row in by_reason] == ["bounced@example.com"]

    again = api_client.post(f"{API}/suppressions", {"email": "manual@example.com"})
    assert again.status_code == 400
    assert "email" in _fields(again)
    assert api_client.post(f"{API}/suppressions", {"email": "not an address"}).status_code == 400

    removed = api_client.delete(f"{API}/suppressions/{added.json()['id']}?reason=Asked+by+phone")
    assert removed.status_code == 204
    assert not Suppression.objects.filter(email="manual@example.com").exists()


def test_a_suppression_added_through_the_api_stops_the_next_fan_out(api_client):
    campaign = sendable_campaign(contacts=2)
    first = campaign.lists.get().contacts.order_by("pk").first()
    assert api_client.post(f"{API}/suppressions", {"email": first.email}).status_code == 201
    audience = api_client.get(f"{API}/campaigns/{campaign.pk}/dry-run").json()
    assert (audience["suppressed"], audience["sendable"]) == (1, 1)


def test_deleting_a_template_still_in_use_is_a_409_that_says_why(api_client):
    from tests.factories import CampaignStepFactory, TemplateFactory, TransactionalMessageFactory

    for user in (lambda template: CampaignStepFactory(template=template), None):
        template = TemplateFactory()
        if user is not None:
            user(template)
        else:
            TransactionalMessageFactory(template=template)
        response = api_client.delete(f"/api/v1/templates/{template.pk}")
        assert response.status_code == 409, response.content
        assert "still used by" in response.json()["error"]["message"]
    unused = TemplateFactory()
    assert api_client.delete(f"/api/v1/templates/{unused.pk}").status_code == 204


# --- Addresses (docs/api.md, "Addresses") -------------------------------------------------------

# Invisible characters the probe appended to a suppressed address: each was accepted as a new one.
INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200d"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_an_address_with_an_invisible_character_is_a_400_naming_it_on_every_audience_path(api_client, char):
    contact_list = ContactListFactory()
    ContactFactory(email="x@example.com")
    spelled = f"x@example.com{char}"
    says = f"U+{ord(char):04X}"

    contact = api_client.post(f"{API}/contacts", {"email": spelled})
    suppression = api_client.post(f"{API}/suppressions", {"email": spelled})
    members = api_client.post(f"{API}/lists/{contact_list.pk}/members/add", {"emails": [spelled]})
    bulk = api_client.post(
        f"{API}/contacts/bulk", {"contacts": [{"email": spelled}, {"email": "good@example.com"}]}
    )
    upload = SimpleUploadedFile("c.csv", f"email\n{spelled}\nfine@example.com\n".encode(), "text/csv")
    imported = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert contact.status_code == suppression.status_code == members.status_code == 400
    assert says in _fields(contact)["email"][0]
    assert says in _fields(suppression)["email"][0]
    assert "emails" in _fields(members)
    # In bulk, the bad row is reported with the reason and the good one is saved.
    assert (bulk.json()["created"], bulk.json()["failed"]) == (1, 1)
    assert says in bulk.json()["errors"][0]["errors"]["email"][0]
    assert (imported.json()["created"], imported.json()["failed"]) == (1, 1)
    assert says in imported.json()["errors"][0]["errors"]["email"][0]
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "fine@example.com",
        "good@example.com",
        "x@example.com",
    ]
    assert not Suppression.objects.exists()


def test_two_spellings_of_a_domain_are_one_contact_and_one_suppression(api_client):
    created = api_client.post(f"{API}/contacts", {"email": "Info@Bücher.de"})
    again = api_client.post(f"{API}/contacts", {"email": "info@xn--bcher-kva.de"})
    dotted = api_client.post(f"{API}/contacts", {"email": "x@example\u3002com"})
    bulk = api_client.post(
        f"{API}/contacts/bulk", {"contacts": [{"email": "x@example.com"}, {"email": "x@EXAMPLE\u3002com"}]}
    )
    suppressed = api_client.post(f"{API}/suppressions", {"email": "info@bücher.de"})

    assert created.json()["email"] == "info@xn--bcher-kva.de"
    assert again.status_code == 400
    assert "already exists" in _fields(again)["email"][0]
    assert dotted.json()["email"] == "x@example.com"
    assert (bulk.json()["updated"] + bulk.json()["unchanged"], bulk.json()["failed"]) == (1, 1)
    assert "Repeats row 0" in bulk.json()["errors"][0]["errors"]["email"][0]
    assert suppressed.json()["email"] == "info@xn--bcher-kva.de"
    assert Contact.objects.count() == 2


def test_a_non_ascii_local_part_is_a_400_saying_ses_cannot_take_it(api_client):
    response = api_client.post(f"{API}/contacts", {"email": "jöhn@example.com"})
    assert response.status_code == 400
    assert "must be ASCII" in _fields(response)["email"][0]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("from_email", "demo@campanile.test, attacker@evil.test", "names 2 addresses"),
        ("from_email", "e@evil.test,\u2028 <demo@campanile.test>", "U+2028"),
        ("from_email", "News\u200b <news@campanile.test>", "U+200B"),
        ("reply_to", "desk@campanile.test\u200b", "U+200B"),
    ],
)
def test_a_campaign_sender_or_reply_to_that_is_not_one_clean_mailbox_is_a_400(api_client, field, value, says):
    response = api_client.post(f"{API}/campaigns", _campaign_body(**{field: value}))
    assert response.status_code == 400
    assert says in _fields(response)[field][0]
    assert not Campaign.objects.exists()


def test_a_campaign_sender_is_stored_in_its_canonical_form(api_client):
    body = _campaign_body(from_email="Bücher News <News@Bücher.de>", reply_to="Desk@Bücher.de")
    created = api_client.post(f"{API}/campaigns", body).json()
    assert created["from_email"] == "Bücher News <news@xn--bcher-kva.de>"
    assert created["reply_to"] == "desk@xn--bcher-kva.de"


# --- Consent --------------------------------------------------------------------------------------


def _unsubscribed(**fields) -> Contact:
    from datetime import timedelta

    from django.utils import timezone

    return ContactFactory(
        status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now() - timedelta(days=3), **fields
    )


def test_a_patch_cannot_silently_undo_an_unsubscribe(api_client):
    contact = _unsubscribed(first_name="Old")
    left = contact.unsubscribed_at
    refused = api_client.patch(f"{API}/contacts/{contact.pk}", {"status": "subscribed", "first_name": "New"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "resubscribe_refused"
    assert '"resubscribe": true with a "reason"' in error["message"]
    contact.refresh_from_db()
    # Nothing of the refused request was saved.
    assert (contact.status, contact.unsubscribed_at, contact.first_name) == ("unsubscribed", left, "Old")
    assert not ConsentChange.objects.exists()

    for blank in ({}, {"reason": " \u200b\u2060 "}):  # None, or one a reader can't see.
        no_reason = api_client.patch(
            f"{API}/contacts/{contact.pk}", {"status": "subscribed", "resubscribe": True, **blank}
        )
        assert no_reason.status_code == 400
        assert "reason" in _fields(no_reason)
    contact.refresh_from_db()
    assert contact.status == "unsubscribed"


@pytest.mark.parametrize("again", ["create", "bulk"])
def test_deleting_a_contact_who_unsubscribed_keeps_the_opt_out_for_a_new_one(api_client, again):
    contact = _unsubscribed(email="leaver@example.com")
    assert api_client.delete(f"{API}/contacts/{contact.pk}").status_code == 204
    audience = ContactListFactory()
    if again == "create":
        created = api_client.post(f"{API}/contacts", {"email": "leaver@example.com"})
        assert created.status_code == 201, created.content
        added = api_client.post(f"{API}/lists/{audience.pk}/members/add", {"emails": ["leaver@example.com"]})
        assert added.json()["changed"] == 1
    else:
        body = {"contacts": [{"email": "leaver@example.com"}], "lists": [audience.pk]}
        assert api_client.post(f"{API}/contacts/bulk", body).json()["created"] == 1
    (kept,) = Suppression.objects.filter(email="leaver@example.com")
    assert kept.reason == Suppression.Reason.UNSUBSCRIBE
    assert "deleted" in kept.detail
    campaign = CampaignFactory()
    campaign.lists.add(audience)
    assert not campaign_audience(campaign=campaign).exists()  # No campaign mails the address again.


def test_a_kept_unsubscribe_can_be_made_a_full_suppression_through_the_api(api_client):
    SuppressionFactory(email="kept@example.com", reason=Suppression.Reason.UNSUBSCRIBE)
    response = api_client.post(f"{API}/suppressions", {"email": "kept@example.com", "reason": "manual"})
    assert response.status_code == 201, response.content
    assert Suppression.objects.get(email="kept@example.com").reason == Suppression.Reason.MANUAL


def test_changing_the_address_of_a_contact_who_unsubscribed_keeps_the_old_ones_opt_out(api_client):
    contact = _unsubscribed(email="optout@example.com")
    moved = api_client.patch(f"{API}/contacts/{contact.pk}", {"email": "renamed@example.com"})
    assert moved.status_code == 200, moved.content
    assert Suppression.objects.get(email="optout@example.com").reason == Suppression.Reason.UNSUBSCRIBE
    # The same contact keeps its own status; a new one under the old address is not mailed.
    assert api_client.post(f"{API}/contacts", {"email": "optout@example.com"}).status_code == 201
    subscribed = ContactFactory(email="kept@example.com")
    api_client.patch(f"{API}/contacts/{subscribed.pk}", {"email": "kept2@example.com"})
    assert not Suppression.objects.filter(email="kept@example.com").exists()


def test_a_resubscribe_with_the_flag_and_a_reason_is_audited_with_the_key(api_client, api_key):
    contact = _unsubscribed()
    body = {"status": "subscribed", "resubscribe": True, "reason": "Opted in again at checkout."}
    response = api_client.patch(f"{API}/contacts/{contact.pk}", body)
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["unsubscribed_at"]) == ("subscribed", None)
    assert not {"resubscribe", "reason"} & set(response.json())
    change = ConsentChange.objects.get()
    assert (change.by, change.via, change.reason) == ("api_key", "api", "Opted in again at checkout.")
    assert f"({api_key[0].prefix})" in change.actor


def test_an_unsubscribe_through_the_api_is_audited_and_shown_in_the_consent_history(api_client):
    contact = ContactFactory()
    api_client.patch(f"{API}/contacts/{contact.pk}", {"status": "unsubscribed", "reason": "Asked by email."})
    api_client.put(
        f"{API}/contacts/{contact.pk}",
        {"email": contact.email, "status": "subscribed", "resubscribe": True, "reason": "Asked back."},
    )
    history = api_client.get(f"{API}/contacts/{contact.pk}/consent")
    assert history.status_code == 200
    entries = [(e["from_status"], e["to_status"], e["via"], e["reason"]) for e in history.json()["results"]]
    assert entries == [
        ("unsubscribed", "subscribed", "api", "Asked back."),
        ("subscribed", "unsubscribed", "api", "Asked by email."),
    ]


def test_the_consent_history_needs_only_read():
    from rest_framework.test import APIClient

    from core.services import api_key_create

    contact = ContactFactory()
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=api_key_create(name="reader", scopes=["read"])[1])
    assert reader.get(f"{API}/contacts/{contact.pk}/consent").status_code == 200
    assert reader.patch(f"{API}/contacts/{contact.pk}", {"status": "unsubscribed"}).status_code == 403


def test_a_bulk_upsert_after_an_unsubscribe_keeps_it_and_reports_the_row(api_client):
    _unsubscribed(email="gone@example.com")
    rows = [
        {"email": "kept@example.com", "first_name": "Kept"},
        {"email": "gone@example.com", "first_name": "Renamed", "status": "subscribed"},
    ]
    result = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}).json()
    assert result["kept_unsubscribed"] == [{"row": 1, "email": "gone@example.com"}]
    assert (result["created"], result["updated"], result["failed"]) == (1, 1, 0)
    gone = Contact.objects.get(email="gone@example.com")
    assert (gone.status, gone.first_name) == ("unsubscribed", "Renamed")

    again = {"contacts": rows, "resubscribe": True, "reason": "Re-confirmed by double opt-in."}
    assert api_client.post(f"{API}/contacts/bulk", again).json()["kept_unsubscribed"] == []
    assert Contact.objects.get(email="gone@example.com").status == "subscribed"
    change = ConsentChange.objects.get()
    assert (change.via, change.reason) == ("api_bulk", "Re-confirmed by double opt-in.")
    refused = api_client.post(f"{API}/contacts/bulk", {"contacts": rows, "resubscribe": True})
    assert refused.status_code == 400
    assert "reason" in _fields(refused)


def test_a_csv_import_never_resubscribes_without_the_flag(api_client):
    _unsubscribed(email="gone@example.com")
    csv_text = "email,first_name,status\ngone@example.com,Renamed,subscribed\n"
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")
    result = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()
    assert result["kept_unsubscribed"] == [{"row": 2, "email": "gone@example.com"}]
    gone = Contact.objects.get(email="gone@example.com")
    assert (gone.status, gone.first_name) == ("unsubscribed", "Renamed")
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")
    body = {"file": upload, "resubscribe": "true", "reason": "Signed form on file."}
    assert (
        api_client.post(f"{API}/contacts/import", body, format="multipart").json()["kept_unsubscribed"] == []
    )
    assert ConsentChange.objects.get().via == "api_import"


@pytest.mark.parametrize("ordering", [None, "-id", "email", "created_at"])
def test_walking_the_pages_of_one_big_bulk_upsert_reaches_every_contact_once_and_ends(api_client, ordering):
    # One upsert stamps one time on every row: pages must not hinge on it.
    rows = [{"email": f"c{n:04d}@example.com"} for n in range(2100)]
    assert api_client.post(f"{API}/contacts/bulk", {"contacts": rows}).json()["created"] == 2100
    seen: list[int] = []
    page = api_client.get(
        f"{API}/contacts", {"page_size": 500, **({"ordering": ordering} if ordering else {})}
    )
    for _ in range(10):
        seen += [contact["id"] for contact in page.json()["results"]]
        if not page.json()["next"]:
            break
        page = api_client.get(page.json()["next"])
    assert len(seen) == len(set(seen)) == 2100
    assert not page.json()["next"]


@pytest.mark.parametrize(
    ("path", "position"),
    [
        *(
            (path, position)
            for path in ["/events", "/suppressions", "/contacts/{contact}/consent", "/contacts"]
            for position in ["p=abc", "p=\x00", "p=1.5"]
        ),
        # Any text is a position in a list ordered by a text field, but not one holding a NUL.
        ("/contacts?ordering=email", "p=\x00"),
        ("/contacts?ordering=-email", "p=a\x00b"),
    ],
)
def test_a_tampered_cursor_is_a_client_error_in_the_api_format(api_client, path, position):
    import base64

    path, _, ordering = path.partition("?ordering=")
    cursor = base64.b64encode(position.encode()).decode()
    query = {"cursor": cursor, **({"ordering": ordering} if ordering else {})}
    response = api_client.get(f"{API}{path.format(contact=ContactFactory().pk)}", query)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid cursor"


@pytest.mark.parametrize(
    ("path", "ordering"),
    [
        ("/lists/{list}/members", "name"),
        ("/lists/{list}/members", "-email"),
        ("/suppressions", "reason"),
        ("/events", "type"),
        ("/contacts/{contact}/consent", "to_status"),
    ],
)
def test_an_ordering_a_list_does_not_offer_is_ignored_never_a_500_or_an_endless_walk(
    api_client, path, ordering
):
    contact_list = ContactListFactory()
    for n in range(3):
        ListMembershipFactory(contact_list=contact_list)
        SuppressionFactory(email=f"s{n}@example.com", reason=Suppression.Reason.MANUAL)
    url = API + path.format(list=contact_list.pk, contact=ContactFactory().pk)
    response = api_client.get(url, {"ordering": ordering, "page_size": 1})
    assert response.status_code == 200, response.content
    ids = [row["id"] for row in response.json()["results"]]
    while response.json()["next"]:
        response = api_client.get(response.json()["next"])
        ids += [row["id"] for row in response.json()["results"]]
    assert ids == sorted(ids, reverse=True)  # Newest first, whatever was asked.


def test_errors_speak_the_language_asked_for_and_keep_their_code(api_client):
    english = api_client.post(f"{API}/contacts", {"email": "x@[192.0.2.1]"})
    german = api_client.post(f"{API}/contacts", {"email": "x@[192.0.2.1]"}, HTTP_ACCEPT_LANGUAGE="de")

    assert english.status_code == german.status_code == 400
    assert english.json()["error"]["code"] == german.json()["error"]["code"]
    assert "write a domain name, not an IP address" in english.json()["error"]["fields"]["email"][0]
    assert "schreiben Sie einen Domainnamen, keine IP-Adresse" in german.json()["error"]["fields"]["email"][0]


def test_a_csvs_row_limit_counts_rows_not_blank_lines_or_lines_within_a_cell(api_client, monkeypatch):
    from campaigns import imports

    monkeypatch.setattr(imports, "CSV_MAX_ROWS", 2)
    data = b"email,note\n" + b"\n" * 10 + b'a@example.com,"two\nlines"\n,,\nb@example.com,x\n'
    upload = SimpleUploadedFile("contacts.csv", data, content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2


def test_campaniles_own_export_maps_back_through_the_api_import(api_client):
    ContactFactory(email="ada@example.com", attributes={"city": "Paris", "plan": "free"})
    header = "email,first_name,last_name,external_id,timezone,status,unsubscribed_at,lists,created_at"
    row = "ada@example.com,Ada,,,,subscribed,,Demo list,2026-12-01,Berlin,gold"
    data = f"{header},attributes.city,attributes.plan\n{row}\n"
    upload = SimpleUploadedFile("export.csv", data.encode(), content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="ada@example.com").attributes == {"city": "Berlin", "plan": "gold"}


def _reimported(api_client, *, email: str):
    """Export a contact as the admin's action does, and import the file through the API."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(contact_export_rows(contacts=Contact.objects.filter(email=email)))
    upload = SimpleUploadedFile("export.csv", buffer.getvalue().encode(), content_type="text/csv")
    return api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")


def test_a_reimported_export_keeps_attributes_stored_as_numbers_flags_and_lists(api_client):
    stored = {"age": 42, "vip": True, "tags": ["a", "b"], "score": 1.5, "zip": "01234", "note": "7"}
    ContactFactory(email="typed@example.com", attributes=stored)
    response = _reimported(api_client, email="typed@example.com")

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="typed@example.com").attributes == stored
    assert response.json()["updated"] == 0


def test_a_reimported_export_changes_nothing_even_where_a_spreadsheet_would_run_a_cell(api_client):
    from core.exports import spreadsheet_cell

    attributes = {"phone": "+49 30 1234", "balance": -5, "f": -0.5, "note": "- dash", " city": "Köln"}
    attributes |= {"quote": "'quoted", "at": "@home", "eq": "=1+1", "tab": "\tx"}
    ContactFactory(
        email="f1@example.com", first_name="-Bob", last_name="+X", external_id="-123", attributes=attributes
    )
    buffer = io.StringIO()
    rows = contact_export_rows(contacts=Contact.objects.filter(email="f1@example.com"))
    csv.writer(buffer).writerows([[spreadsheet_cell(cell) for cell in row] for row in rows])
    assert "'+49 30 1234" in buffer.getvalue()  # The export's guard is there…
    upload = SimpleUploadedFile("export.csv", buffer.getvalue().encode(), content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert response.json()["updated"] == 0  # …and reading it back changes nothing.
    contact = Contact.objects.get(email="f1@example.com")
    assert (contact.first_name, contact.last_name, contact.external_id) == ("-Bob", "+X", "-123")
    assert contact.attributes == attributes


def test_a_cell_that_differs_from_the_stored_number_is_stored_as_its_text(api_client):
    ContactFactory(email="typed2@example.com", attributes={"age": 42})
    data = b"email,attributes.age\ntyped2@example.com,43\n"
    upload = SimpleUploadedFile("contacts.csv", data, content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="typed2@example.com").attributes == {"age": "43"}


def test_a_rows_checks_read_in_german_when_asked_for(api_client):
    rows = [{"email": "d2@example.com"}, {"email": "D2@example.com"}]

    response = api_client.post(
        f"{API}/contacts/bulk", {"contacts": rows}, format="json", HTTP_ACCEPT_LANGUAGE="de"
    )

    assert response.json()["errors"][0]["errors"]["email"] == ["Wiederholt Zeile 0."]


def test_a_semicolon_file_is_refused_by_the_api_saying_it_reads_commas(api_client):
    upload = SimpleUploadedFile(
        "contacts.csv", b"email;first_name\nc2@example.com;J\n", content_type="text/csv"
    )

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert "separated by commas" in str(response.json()["error"]["fields"])


def test_a_column_named_attributes_dot_alone_is_imported_as_nothing(api_client):
    upload = SimpleUploadedFile(
        "contacts.csv", b"email,attributes.\ne3@example.com,x\n", content_type="text/csv"
    )

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="e3@example.com").attributes == {}


def test_an_export_holding_a_contact_yet_to_confirm_reimports_changing_nothing(api_client):
    ContactFactory(email="pend1@example.com", status=Contact.Status.PENDING)
    response = _reimported(api_client, email="pend1@example.com")

    assert response.status_code == 200, response.content
    assert (response.json()["failed"], response.json()["updated"]) == (0, 0)
    assert Contact.objects.get(email="pend1@example.com").status == Contact.Status.PENDING


@pytest.mark.parametrize("given", ["08:00:00.5", "12:57:05+05:00", "12:57:05Z"])
def test_a_send_window_with_a_fraction_or_an_offset_is_a_400_never_dropped(api_client, given):
    refused = api_client.post(f"{API}/campaigns", {**_campaign_body(), "send_window_start": given})

    assert refused.status_code == 400
    assert "HH:MM or HH:MM:SS, with no offset" in _fields(refused)["send_window_start"][0]


def test_a_refused_send_window_is_told_in_the_language_the_request_asks_for(api_client):
    body = {**_campaign_body(), "send_window_start": "08:00+01:00"}

    refused = api_client.post(f"{API}/campaigns", body, HTTP_ACCEPT_LANGUAGE="de")

    assert refused.status_code == 400
    assert "Ortszeit" in _fields(refused)["send_window_start"][0]


def test_a_send_window_is_answered_as_the_schema_describes_it(api_client):
    from drf_spectacular.generators import SchemaGenerator

    body = {**_campaign_body(), "send_window_start": "08:00:30", "send_window_end": "17:00"}
    taken = api_client.post(f"{API}/campaigns", body).json()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    pattern = schema["components"]["schemas"]["Campaign"]["properties"]["send_window_start"]["pattern"]

    assert (taken["send_window_start"], taken["send_window_end"]) == ("08:00:30", "17:00:00")
    assert re.fullmatch(pattern.strip("^$"), taken["send_window_start"])


def test_the_consent_history_takes_no_contact_filter_so_none_hides_it(api_client):
    contact = ContactFactory(email="kept@example.com")
    api_client.patch(f"{API}/contacts/{contact.pk}", {"status": "unsubscribed", "reason": "Asked."})

    filtered = api_client.get(f"{API}/contacts/{contact.pk}/consent", {"email": "other@example.com"})

    assert filtered.status_code == 200
    assert [entry["to_status"] for entry in filtered.json()["results"]] == ["unsubscribed"]


def test_an_imported_address_after_an_apostrophe_is_refused_never_guessed(api_client):
    data = (
        b"email,first_name\n'+ann@example.com,Ann\n'-bob@example.com,'=Bob\nplain@example.com,'=Pat\n"
        b"\" '+cat@example.com\",Cat\n\t'-dan@example.com,Dan\n"
        b'"""\'+eve""@example.com",Eve\n\'fay@example.com,Fay\n'
    )
    upload = SimpleUploadedFile("theirs.csv", data, content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["failed"]) == (1, 6)  # Blanks or quotes around it alike.
    assert "apostrophe" in str(body["errors"])
    # Neither the address as written nor another's mailbox: nothing for any of those rows.
    assert list(Contact.objects.values_list("email", flat=True)) == ["plain@example.com"]
    assert Contact.objects.get(email="plain@example.com").first_name == "=Pat"  # Other cells read back.


@pytest.mark.parametrize("zone", ["localtime", "Factory"])
def test_a_zone_that_is_no_place_is_refused_one_by_one_and_in_bulk(api_client, zone):
    one = api_client.post(f"{API}/contacts", {"email": "one@example.com", "timezone": zone})
    assert one.status_code == 400
    assert "timezone" in _fields(one)
    rows = [{"email": "bad@example.com", "timezone": zone}, {"email": "ok@example.com", "timezone": "UTC"}]
    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}).json()
    assert (bulk["created"], bulk["failed"]) == (1, 1)
    assert list(bulk["errors"][0]["errors"]) == ["timezone"]
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.com"]


@pytest.mark.parametrize("cursor", ["cD0xMDA%3D%21%21", "cD0xMDA%3D%3D%3D", "cD0x%0AMDA%3D", "%20cD0xMDA%3D"])
def test_a_cursor_spelled_otherwise_than_the_api_spells_it_is_a_404_while_its_own_reads_on(
    api_client, cursor
):
    for n in range(3):
        ContactFactory(email=f"c{n}@example.com")
    first = api_client.get(f"{API}/contacts", {"page_size": 2}).json()
    assert [c["email"] for c in api_client.get(first["next"]).json()["results"]] == ["c0@example.com"]
    assert api_client.get(f"{API}/contacts?cursor=cD0xMDA%3D").status_code == 200  # p=100, as spelled.

    response = api_client.get(f"{API}/contacts?cursor={cursor}")  # The same p=100, altered.

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid cursor"


def test_a_bulk_rows_error_repeats_an_email_that_is_not_text_as_its_json(api_client):
    rows = [
        {"email": None},
        {"email": True},
        {"email": ["x@example.com"]},
        {"email": {"a": "é"}},
        {"email": 42},
    ]
    body = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}).json()
    assert [error["email"] for error in body["errors"]] == [
        "null",
        "true",
        '["x@example.com"]',
        '{"a": "é"}',
        "42",
    ]


def test_a_bulk_rows_error_cuts_a_long_email_not_given_as_text_to_an_addresss_length(api_client):
    body = api_client.post(f"{API}/contacts/bulk", {"contacts": [{"email": ["x" * 300]}]}).json()
    assert body["errors"][0]["email"] == '["' + "x" * 252


def test_an_import_keeps_two_attributes_whose_names_differ_only_by_a_leading_space(api_client):
    data = "email,attributes. plan,attributes.plan\nada@example.com,spaced,plain\n"
    upload = SimpleUploadedFile("contacts.csv", data.encode(), content_type="text/csv")

    response = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    assert Contact.objects.get(email="ada@example.com").attributes == {" plan": "spaced", "plan": "plain"}


@pytest.mark.parametrize("name", ["", "  ", "\t"])
def test_an_attribute_without_a_name_is_refused_one_by_one_and_in_bulk(api_client, name):
    one = api_client.post(f"{API}/contacts", {"email": "one@example.com", "attributes": {name: "x"}})
    assert one.status_code == 400
    assert _fields(one)["attributes"] == ["An attribute's name: none given."]
    rows = [{"email": "bad@example.com", "attributes": {name: "x"}}, {"email": "ok@example.com"}]
    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}).json()
    assert (bulk["created"], bulk["failed"]) == (1, 1)
    assert bulk["errors"][0]["errors"] == {"attributes": ["An attribute's name: none given."]}
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.com"]
