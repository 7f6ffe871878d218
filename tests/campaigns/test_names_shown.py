"""Names staff and contacts read (campaigns, segments, signup forms, templates, contacts' own) hold no
bidi override or invisible space, as list names do not: such a name could read as another in every
message naming it."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns import import_jobs
from campaigns.models import Campaign, Contact, ContactImport, Segment, Signup
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    SegmentFactory,
    SignupFormFactory,
    TemplateFactory,
)
from tests.utils import role_client

pytestmark = pytest.mark.django_db

API = "/api/v1"
#: A right-to-left override, a zero-width space, an isolate, a byte-order mark.
REFUSED = ["\u202e", "\u200b", "\u2066", "\ufeff"]
DEFINITION = {"match": "all", "rules": [{"field": "email", "op": "is_set"}]}


@pytest.mark.parametrize("character", REFUSED)
def test_a_campaign_or_segment_name_holding_a_bidi_override_or_invisible_space_is_a_400_naming_it(
    api_client, character
):
    name = f"s2{character}evil"
    named = f"U+{ord(character):04X}"
    campaign = CampaignFactory(name="Spring sale")

    answers = {
        "campaign": api_client.post(
            f"{API}/campaigns", {"name": name, "from_email": "News <news@campanile.test>"}, format="json"
        ),
        "renamed campaign": api_client.patch(f"{API}/campaigns/{campaign.pk}", {"name": name}, format="json"),
        "segment": api_client.post(
            f"{API}/segments", {"name": name, "definition": DEFINITION}, format="json"
        ),
    }

    for what, answer in answers.items():
        assert answer.status_code == 400, what
        assert named in answer.json()["error"]["fields"]["name"][0], what
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Spring sale"]
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "made",
    [CampaignFactory.build, SegmentFactory.build, SignupFormFactory.build, TemplateFactory.build],
    ids=["campaign", "segment", "signup form", "template"],
)
def test_a_name_holding_a_bidi_override_fails_the_models_own_check(made):
    row = made(name="Spring\u202esale")

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert "name" in refused.value.message_dict


def test_a_campaign_or_segment_name_may_hold_the_marks_and_joiners_its_script_needs(api_client):
    names = ["\u05d7\u05d3\u05e9\u05d5\u05ea\u200f 2026", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]

    for name in names:
        campaign = {"name": name, "from_email": "News <news@campanile.test>"}
        assert api_client.post(f"{API}/campaigns", campaign, format="json").status_code == 201
        segment = {"name": name, "definition": DEFINITION}
        assert api_client.post(f"{API}/segments", segment, format="json").status_code == 201
    assert set(Campaign.objects.values_list("name", flat=True)) == set(names)
    assert set(Segment.objects.values_list("name", flat=True)) == set(names)


def _named(character: str) -> str:
    return f"U+{ord(character):04X}"


@pytest.mark.parametrize("character", [*REFUSED, "\x07"])
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_contacts_name_holding_a_control_bidi_override_or_invisible_space_is_a_400_naming_it(
    api_client, character, field
):
    contact = ContactFactory(first_name="Ada", last_name="Lovelace")
    name = f"Ada{character}evil"

    created = api_client.post(f"{API}/contacts", {"email": "new@example.com", field: name}, format="json")
    changed = api_client.patch(f"{API}/contacts/{contact.pk}", {field: name}, format="json")

    for answer in (created, changed):
        assert answer.status_code == 400
        assert _named(character) in answer.json()["error"]["fields"][field][0]
    assert not Contact.objects.filter(email="new@example.com").exists()
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Ada", "Lovelace")


@pytest.mark.parametrize("character", REFUSED)
def test_a_bulk_or_imported_row_whose_name_holds_a_bidi_override_fails_alone_naming_the_field(
    api_client, character
):
    rows = [
        {"email": "fine@example.com", "first_name": "Ada"},
        {"email": "bidi@example.com", "last_name": f"Love{character}lace"},
    ]
    csv_text = f"email,first_name\nfine2@example.com,Ada\nbidi2@example.com,A{character}da\n"
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")

    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()
    imported = api_client.post(f"{API}/contacts/import", {"file": upload}, format="multipart").json()

    # A bulk row by its index, a file's by its line (the header is line 1).
    for answer, field, failed in ((bulk, "last_name", 1), (imported, "first_name", 3)):
        assert (answer["created"], answer["failed"]) == (1, 1)
        (error,) = answer["errors"]
        assert error["row"] == failed
        assert _named(character) in error["errors"][field][0]
    assert set(Contact.objects.values_list("email", flat=True)) == {"fine@example.com", "fine2@example.com"}


def test_a_file_imported_in_the_admin_skips_a_row_whose_name_holds_a_bidi_override_and_says_why():
    client = role_client("Marketers")
    csv_text = "Email,First name\nada@example.com,Ada\nbidi@example.com,A\u202eda\n"
    upload = SimpleUploadedFile("leads.csv", csv_text.encode(), content_type="text/csv")
    client.post(reverse("admin:campaigns_contactimport_add"), {"file": upload})
    job = ContactImport.objects.get()
    start = {f"target_{n}": column["target"] for n, column in enumerate(job.mapping)}
    start |= {f"attribute_{n}": column["attribute"] for n, column in enumerate(job.mapping)}
    start |= {"consent_basis": "consent", "existing": "update", "unsubscribed": "keep", "_start": "1"}
    client.post(reverse("admin:campaigns_contactimport_change", args=[job.pk]), start)

    import_jobs.contact_import_run(job_id=job.pk)  # What the worker does.

    assert list(Contact.objects.values_list("email", flat=True)) == ["ada@example.com"]
    report = client.get(reverse("admin:campaigns_contactimport_errors", args=[job.pk]))
    assert "U+202E" in b"".join(report.streaming_content).decode()


@pytest.mark.parametrize("made", [ContactFactory.build, Signup], ids=["contact", "signup"])
def test_a_contacts_or_signups_name_holding_a_bidi_override_fails_the_models_own_check(made):
    row = made(email="ada@example.com", first_name="Ada", last_name="Love\u202elace")

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert "last_name" in refused.value.message_dict


def test_a_contacts_name_may_hold_the_marks_and_joiners_its_script_needs(api_client):
    names = ["\u05d7\u05d3\u05e9\u05d5\u05ea\u200f", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]

    answer = api_client.post(
        f"{API}/contacts",
        {"email": "rtl@example.com", "first_name": names[0], "last_name": names[1]},
        format="json",
    )
    rows = [{"email": "rtl2@example.com", "first_name": names[0], "last_name": names[1]}]
    bulk = api_client.post(f"{API}/contacts/bulk", {"contacts": rows}, format="json").json()

    assert answer.status_code == 201
    assert bulk["failed"] == 0
    assert set(Contact.objects.values_list("first_name", "last_name")) == {tuple(names)}
