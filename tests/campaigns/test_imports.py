"""The admin's contact import as a job: reading files, mapping columns, running in chunks."""

import codecs
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from campaigns import import_jobs, imports
from campaigns.exceptions import ImportFileUnreadable, ImportNotStartable
from campaigns.import_files import TableFormat, table_format_detect, table_read
from campaigns.import_workbooks import upload_prepare
from campaigns.models import ConsentChange, Contact, ContactConsent, ContactImport
from tests.factories import ContactFactory, ContactListFactory, StaffUserFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db

Target = ContactImport.Target


def _table(data: bytes, name: str = "contacts.csv") -> tuple[list[str], list[tuple[int, list[str]]]]:
    table_format, kept = upload_prepare(data=data, file_name=name)
    header, rows = table_read(stream=io.BytesIO(kept), table_format=table_format)
    return header, list(rows)


def test_a_german_excel_csv_is_read_with_its_semicolons_and_windows_encoding():
    data = "E-Mail;Vorname;Stadt\nmüller@example.de;Jürgen;Köln, Ehrenfeld\n".encode("cp1252")

    header, rows = _table(data)

    assert header == ["E-Mail", "Vorname", "Stadt"]
    assert rows == [(2, ["müller@example.de", "Jürgen", "Köln, Ehrenfeld"])]
    assert "Windows-1252" in table_format_detect(data=data, file_name="x.csv").describe()


def test_the_separator_is_found_on_the_header_line_after_blank_lines():
    data = b"\n\r\nemail;first_name;city\na1@example.com;Al;K\xc3\xb6ln\n"

    assert _table(data) == (["email", "first_name", "city"], [(4, ["a1@example.com", "Al", "Köln"])])


def test_an_import_keeps_the_attributes_its_file_leaves_empty_or_has_no_column_for():
    ContactFactory(email="rt5@example.com", first_name="Eve", attributes={"a": "1", "b": "2", "c": "3"})
    job = _started(data="email,first_name,a,b\nrt5@example.com,,9,\n")

    import_jobs.contact_import_run(job_id=job.pk)

    contact = Contact.objects.get(email="rt5@example.com")
    assert (contact.first_name, contact.attributes) == ("Eve", {"a": "9", "b": "2", "c": "3"})


def test_an_admin_import_never_confirms_a_signup_and_counts_each_row_once():
    ContactFactory(email="pend1@example.com", status=Contact.Status.PENDING)
    ContactFactory(email="pend2@example.com", status=Contact.Status.PENDING, first_name="Old")
    job = _started(data="email,first_name\npend1@example.com,\npend2@example.com,Bee\n", existing="keep")

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert set(Contact.objects.values_list("status", flat=True)) == {Contact.Status.PENDING}
    assert Contact.objects.get(email="pend2@example.com").first_name == "Old"
    assert (job.updated, job.kept_unsubscribed, job.kept_pending) == (0, 0, 2)
    assert job.updated + job.kept <= job.rows_total


def test_the_wizard_keeps_an_exports_attribute_name_as_it_is_written():
    from campaigns.admin_imports import MappingForm

    job = import_jobs.contact_import_create(
        file_name="export.csv", data=b"email,attributes. city\nc@example.com,Kyoto\n", user=None
    )
    guessed = MappingForm(instance=job)
    posted = {"target_0": "email", "target_1": "attribute", "attribute_1": guessed["attribute_1"].value()}
    form = MappingForm(posted, instance=job)
    form.is_valid()

    assert form.mapping()[1] == {"target": Target.ATTRIBUTE, "attribute": " city"}


def test_utf16_tab_separated_text_and_blank_lines_are_read():
    data = "email\tfirst_name\n\nada@example.com\tAda\n".encode("utf-16")

    assert _table(data) == (["email", "first_name"], [(3, ["ada@example.com", "Ada"])])


@pytest.mark.parametrize(
    ("data", "name", "said"),
    [
        (b"PK\x03\x04 not really a workbook", "x.xlsx", "not a readable Excel workbook"),
        (b"", "x.csv", "empty"),
        (b"\n\n", "x.csv", "empty"),
        (b"email\na@example.com\nb\x81@example.com\n", "x.csv", "^Line 3 is neither UTF-8 nor Windows-1252"),
    ],
)
def test_an_unreadable_file_is_refused_with_the_reason(data, name, said):
    with pytest.raises(ImportFileUnreadable, match=said):
        _table(data, name)


def test_an_upload_is_refused_before_anything_is_kept_when_it_has_too_many_rows(monkeypatch):
    monkeypatch.setattr(import_jobs, "IMPORT_MAX_ROWS", 3)
    data = b"email\n" + b"".join(b"p%d@example.com\n" % n for n in range(4))

    with pytest.raises(ImportFileUnreadable, match="more than 3 rows"):
        import_jobs.contact_import_create(file_name="big.csv", data=data, user=None)
    with pytest.raises(ImportFileUnreadable, match="no rows"):
        import_jobs.contact_import_create(file_name="head.csv", data=b"email\n", user=None)
    assert not ContactImport.objects.exists()


def test_columns_are_guessed_by_their_usual_names_then_as_the_last_import_mapped_them():
    header = ["E-Mail-Adresse", "Vorname", "Surname", "Plan", "", "campanile_problem"]

    guessed = imports.mapping_guess(header)

    assert [column["target"] for column in guessed] == [
        Target.EMAIL,
        Target.FIRST_NAME,
        Target.LAST_NAME,
        Target.ATTRIBUTE,
        Target.SKIP,
        Target.SKIP,
    ]
    assert guessed[3]["attribute"] == "Plan"
    ContactImport.objects.create(
        file_name="last.csv",
        header=["Plan"],
        mapping=[{"target": Target.ATTRIBUTE, "attribute": "tier"}],
        status=ContactImport.Status.DONE,
    )
    assert imports.mapping_guess(header)[3] == {"target": Target.ATTRIBUTE, "attribute": "tier"}


@pytest.mark.parametrize(
    ("mapping", "said"),
    [
        ([{"target": "first_name", "attribute": ""}], "holds the email addresses"),
        ([{"target": "email", "attribute": ""}, {"target": "email", "attribute": ""}], "Only one column"),
        (
            [{"target": "email", "attribute": ""}, {"target": "attribute", "attribute": " "}],
            "Give every attribute",
        ),
        (
            [
                {"target": "email", "attribute": ""},
                {"target": "attribute", "attribute": "plan"},
                {"target": "attribute", "attribute": "plan"},
            ],
            "Two columns are the attribute “plan”",
        ),
    ],
)
def test_a_mapping_with_problems_says_each(mapping, said):
    assert any(said in problem for problem in imports.mapping_problems(mapping))


CSV = (
    "Email,First name,Plan,Phone\n"
    "known@example.com,Known,pro,\n"
    "not-an-address,Nope,free,=1+1\n"
    "fresh@example.com,Fresh,,\n"
    "left@example.com,Left,free,\n"
    "shifted@example.com,Ship,pro,1,extra\n"
)


def _started(user=None, *, data: str = CSV, **options) -> ContactImport:
    job = import_jobs.contact_import_create(file_name="leads.csv", data=data.encode(), user=user)
    options = {"consent_basis": ContactConsent.Basis.CONSENT, "consent_note": "Trade fair 2026"} | options
    lists = options.pop("lists", [])
    import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=lists, **options)
    return job


def test_an_import_writes_good_rows_reports_bad_ones_and_records_consent(django_capture_on_commit_callbacks):
    user = StaffUserFactory(username="ada")
    ContactFactory(email="known@example.com", first_name="Old", attributes={"plan": "free", "since": "2020"})
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    fair = ContactListFactory(name="Fair")
    with django_capture_on_commit_callbacks() as queued:
        job = _started(user, lists=[fair])
    assert len(queued) == 1  # A worker is asked to run it once the start commits.

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ContactImport.Status.DONE
    assert (job.created, job.updated, job.failed, job.kept_unsubscribed) == (1, 2, 2, 1)
    assert (job.rows_done, job.rows_total) == (5, 5)
    assert bytes(job.data) == b""  # The file held personal data the contacts now hold.
    known = Contact.objects.get(email="known@example.com")
    # Named as the column; what the file says nothing of (no column, an empty cell) is kept.
    assert (known.first_name, known.attributes) == ("Known", {"plan": "free", "since": "2020", "Plan": "pro"})
    assert set(fair.contacts.values_list("email", flat=True)) == {
        "known@example.com",
        "fresh@example.com",
        "left@example.com",
    }
    assert Contact.objects.get(email="left@example.com").status == Contact.Status.UNSUBSCRIBED
    assert [(error["row"], error["cells"][0]) for error in job.errors] == [
        (3, "not-an-address"),
        (5, "left@example.com"),
        (6, "shifted@example.com"),
    ]
    consents = ContactConsent.objects.order_by("contact__email")
    assert [consent.contact.email for consent in consents] == ["fresh@example.com", "known@example.com"]
    assert {consent.detail for consent in consents} == {f"Import {job.pk} (leads.csv): Trade fair 2026"}
    report = list(import_jobs.contact_import_report_rows(job=job))
    assert report[0] == ["Email", "First name", "Plan", "Phone", "campanile_line", "campanile_problem"]
    assert report[1][:4] == ["not-an-address", "Nope", "free", "=1+1"]
    assert report[1][4] == 3
    assert "Email:" in report[1][5]


def test_an_import_reports_its_problems_in_the_language_of_whoever_started_it():
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    with translation.override("de"):
        job = _started()

    import_jobs.contact_import_run(job_id=job.pk)  # A worker: no language of its own.

    job.refresh_from_db()
    problems = {error["cells"][0]: error["errors"] for error in job.errors}
    assert problems["left@example.com"] == {"status": ["Abgemeldet: so belassen und nicht angeschrieben."]}
    assert problems["not-an-address"] == {"email": ["'not-an-address' ist keine gültige Adresse."]}
    with translation.override("en"):  # Downloaded by someone reading English: one language still.
        report = list(import_jobs.contact_import_report_rows(job=job))
    assert report[1][5] == "E-Mail: 'not-an-address' ist keine gültige Adresse."


def test_an_import_that_keeps_existing_contacts_changes_none_but_adds_them_to_the_lists():
    ContactFactory(email="known@example.com", first_name="Old")
    fair = ContactListFactory()
    job = _started(lists=[fair], existing=ContactImport.Existing.KEEP)

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.created, job.updated, job.kept) == (2, 0, 1)
    assert Contact.objects.get(email="known@example.com").first_name == "Old"
    assert fair.contacts.filter(email="known@example.com").exists()


def test_an_import_subscribes_again_only_when_asked_with_a_reason():
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    data = "email,status\nleft@example.com,Subscribed\n"
    with pytest.raises(ImportNotStartable, match="Say why"):
        _started(data=data, unsubscribed=ContactImport.Unsubscribed.RESUBSCRIBE, resubscribe_reason=" ")

    job = _started(
        StaffUserFactory(username="grace"),
        data=data,
        unsubscribed=ContactImport.Unsubscribed.RESUBSCRIBE,
        resubscribe_reason="Signed up again at the fair",
    )
    import_jobs.contact_import_run(job_id=job.pk)

    assert Contact.objects.get(email="left@example.com").status == Contact.Status.SUBSCRIBED
    change = ConsentChange.objects.get()
    assert (change.via, change.actor, change.reason) == (
        "admin_import",
        "grace",
        "Signed up again at the fair",
    )


def test_an_import_cannot_start_twice_nor_without_an_email_column_or_a_consent_basis():
    job = import_jobs.contact_import_create(
        file_name="x.csv", data=b"email,name\na@example.com,A\n", user=None
    )
    no_email = [{"target": "skip", "attribute": ""}, {"target": "first_name", "attribute": ""}]
    with pytest.raises(ImportNotStartable, match="email addresses"):
        import_jobs.contact_import_start(job=job, mapping=no_email, lists=[], consent_basis="consent")
    with pytest.raises(ImportNotStartable, match="why you may email"):
        import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=[], consent_basis="")
    import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=[], consent_basis="contract")
    with pytest.raises(ImportNotStartable, match="already started"):
        import_jobs.contact_import_start(job=job, mapping=job.mapping, lists=[], consent_basis="contract")


def test_a_job_resumes_after_its_last_committed_chunk_and_a_second_runner_writes_nothing(monkeypatch):
    monkeypatch.setattr(import_jobs, "CONTACT_BULK_MAX", 2)
    data = "email\n" + "".join(f"p{n}@example.com\n" for n in range(5))
    job = _started(data=data)
    ContactImport.objects.filter(pk=job.pk).update(status=ContactImport.Status.RUNNING)
    job.refresh_from_db()
    _header, rows = import_jobs._rows_of(job)
    first = [next(rows), next(rows)]
    assert import_jobs._chunk_commit(job, start=0, chunk=first)  # Then its worker died.
    assert not import_jobs._chunk_commit(job, start=0, chunk=first)  # A runner a chunk behind stops.

    assert import_jobs.contact_imports_resume() == []  # Moving: not stale yet.
    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.created, job.rows_done) == (ContactImport.Status.DONE, 5, 5)
    assert Contact.objects.count() == 5


def test_an_address_repeated_in_a_later_chunk_is_refused_naming_its_first_row(monkeypatch):
    monkeypatch.setattr(import_jobs, "CONTACT_BULK_MAX", 2)
    data = (
        "email,first_name\ndup@example.com,First\na@example.com,A\nb@example.com,B\nDUP@example.com,Second\n"
    )
    job = _started(data=data)

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.created, job.failed) == (3, 1)
    (error,) = job.errors
    assert (error["row"], error["errors"]) == (5, {"email": ["Repeats row 2."]})
    assert Contact.objects.get(email="dup@example.com").first_name == "First"


def test_a_resumed_job_still_refuses_a_repeat_of_a_row_an_earlier_run_committed(monkeypatch):
    monkeypatch.setattr(import_jobs, "CONTACT_BULK_MAX", 2)
    data = (
        "email,first_name\ndup@example.com,First\na@example.com,A\nb@example.com,B\ndup@example.com,Second\n"
    )
    job = _started(data=data)
    ContactImport.objects.filter(pk=job.pk).update(status=ContactImport.Status.RUNNING)
    job.refresh_from_db()
    _header, rows = import_jobs._rows_of(job)
    assert import_jobs._chunk_commit(job, start=0, chunk=[next(rows), next(rows)])  # Then its worker died.

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.created, job.failed) == (ContactImport.Status.DONE, 3, 1)
    assert job.errors[0]["errors"] == {"email": ["Repeats row 2."]}
    assert Contact.objects.get(email="dup@example.com").first_name == "First"


def test_a_stale_job_is_queued_again(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    queued = []
    monkeypatch.setattr(import_jobs, "_enqueue", queued.append)
    job = _started()
    ContactImport.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    assert import_jobs.contact_imports_resume() == [job.pk]
    assert queued == [job.pk]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"email,na\x00me\nx@example.com,a\n", 1),
        (b"email,name\nok@example.com,fine\nbad@example.com,a\x00b\n", 3),
    ],
)
def test_a_file_holding_a_nul_is_refused_at_upload_naming_its_line(data, line):
    with pytest.raises(ImportFileUnreadable, match=f"Line {line} holds a NUL character"):
        import_jobs.contact_import_create(file_name="damaged.csv", data=data, user=None)
    assert not ContactImport.objects.exists()


def test_a_cell_past_the_csv_limit_is_named_on_its_own_line():
    data = b"email,name\nx@example.com," + b"a" * 200_000 + b"\n"
    with pytest.raises(ImportFileUnreadable, match="Line 2 cannot be read"):
        import_jobs.contact_import_create(file_name="long.csv", data=data, user=None)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        # Far past the reader's first buffer, which is where the decoder used to stop.
        (
            b"email\n"
            + b"".join(b"p%d@example.com\n" % n for n in range(2, 3000))
            + b"bad\xff@example.com\n",
            3000,
        ),
        (b'email,note\na@example.com,"first line\nsecond \xff line"\nb@example.com,x\n', 3),
        (b"email\nq@example.com\r\nbad\x81@example.com\r\n", 3),
    ],
)
def test_bytes_that_do_not_decode_are_named_on_their_own_line(data, line):
    with pytest.raises(ImportFileUnreadable, match=f"^Line {line} holds bytes that are not UTF-8 text"):
        list(table_read(stream=io.BytesIO(data), table_format=TableFormat())[1])


def _lines(n: int, text: str = "p{}@example.com,Ren\u00e9") -> list[str]:
    return [text.format(number) for number in range(n)]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        # UTF-16: its bytes hold 0x0A inside letters (\u4e0a), which are no line ends.
        (
            codecs.BOM_UTF16_LE
            + ("\n".join(["email,name", *_lines(8, "u{}@example.com,\u4e0a")]) + "\n").encode("utf-16-le")
            + b"\x00\xd8,\x00\n\x00",
            "^Line 10 is not UTF-16 text",
        ),
        # Classic Mac line ends (CR alone), as the CSV reader counts them.
        (
            "\r".join(["email", *_lines(4998, "m{}@example.com")]).encode() + b"\rbad\x81@x.com\r",
            "^Line 5000 is neither",
        ),
        # Windows-1252 with "René" early on: the line named is the one Windows-1252 cannot read.
        (
            "\n".join(["email,name", *_lines(4998)]).encode("cp1252") + b"\nbad\x81@x.com,a\n",
            "^Line 5000 is neither",
        ),
        # A short UTF-8 file with a line written by Windows-1252 is not read as Windows-1252 either.
        (
            "\n".join(
                [
                    "email,name",
                    *(
                        f"p{n}@x.com,{name}"
                        for n, name in enumerate(
                            ["Jos\u00e9", "Zo\u00eb", "Ren\u00e9e", "Andr\u00e9", "M\u00e1ty\u00e1s"]
                        )
                    ),
                ]
            ).encode()
            + "\nh@x.com,H\u00e9l\u00e8ne\n".encode("cp1252"),
            "^Line 7 is not UTF-8 text, though the rest of the file is",
        ),
        # A byte-order mark says UTF-8, however few its letters.
        (
            b"\xef\xbb\xbfemail,first_name\r\nb1@x.com,Ren\xe9\r\nb2@x.com,Ann\r\n",
            "^Line 2 is not UTF-8 text",
        ),
        # A UTF-8 file with one stray Windows-1252 byte is not read as Windows-1252 throughout.
        (
            "\n".join(["email,name", *_lines(4998)]).encode() + b"\nj@x.com,J\xfcrgen\n",
            "^Line 5000 is not UTF-8 text, though the rest of the file is",
        ),
    ],
)
def test_a_file_that_is_no_text_in_one_encoding_is_refused_naming_the_line_at_fault(data, said):
    with pytest.raises(ImportFileUnreadable, match=said):
        table_format_detect(data=data, file_name="contacts.csv")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b'email,name\nfirst@example.com,"Jo\n' + b"".join(b"r%d@example.com,x\n" % n for n in range(50)),
            "^Line 2 cannot be read \\(a quote opened on it is never closed",
        ),
        (
            b'email,name\nfirst@example.com,"Jo\n'
            + b"".join(b"r%d@example.com,x\n" % n for n in range(20_000)),
            "^Line 2 cannot be read \\(a cell is longer than",
        ),
        (b'email,note\na@example.com,"one\ntwo\x00"\n', "^Line 3 holds a NUL"),
    ],
)
def test_a_row_that_cannot_be_read_is_named_by_the_line_it_starts_on_or_holds_the_fault(data, said):
    with pytest.raises(ImportFileUnreadable, match=said):
        list(table_read(stream=io.BytesIO(data), table_format=TableFormat())[1])


def test_a_windows_1252_file_whose_bytes_look_like_a_utf8_letter_here_and_there_is_read_as_windows_1252():
    data = "email,company\r\na@example.com,Wei\u00df\u00a0GmbH\r\nb@example.com,M\u00fcller\r\n".encode(
        "cp1252"
    )

    _header, rows = _table(data)

    assert [cells[1] for _number, cells in rows] == ["Wei\u00df\u00a0GmbH", "M\u00fcller"]


def test_a_nul_in_a_cell_spanning_classic_mac_lines_is_named_on_its_own_line():
    with pytest.raises(ImportFileUnreadable, match=r"^Line 3 holds a NUL"):
        _table(b'email,note\ra@example.com,"one\rtwo\x00three"\r')


def test_rows_are_numbered_by_the_line_they_start_on():
    data = b'email,note\nok@example.com,"two\nlines"\nbad-address,x\n'
    _header, rows = table_read(stream=io.BytesIO(data), table_format=TableFormat())
    assert [number for number, _cells in rows] == [2, 4]


def test_a_quote_left_open_refuses_the_file_rather_than_swallowing_the_lines_after_it():
    data = b'email,name\na@x.example.com,"Smith\nb@x.example.com,2\nc@x.example.com,3\n'
    with pytest.raises(ImportFileUnreadable, match="cannot be read"):
        import_jobs.contact_import_create(file_name="quote.csv", data=data, user=None)


def test_the_error_report_keeps_line_and_problem_under_their_headings_for_a_row_too_wide():
    job = _started(data="email,name\nwide@example.com,Wide,extra\n")
    import_jobs.contact_import_run(job_id=job.pk)
    job.refresh_from_db()

    header, row = list(import_jobs.contact_import_report_rows(job=job))
    assert len(row) == len(header)
    assert dict(zip(header, row, strict=True))["campanile_line"] == 2


def test_a_line_of_more_separators_than_a_row_may_hold_is_refused_at_upload_naming_it():
    wide = b"email,first_name\nada@example.com,Ada\nvictim@example.org,x" + b"," * 20_000 + b"\n"

    with pytest.raises(ImportFileUnreadable, match=r"^Line 3 holds more than 10,000 separators"):
        import_jobs.contact_import_create(file_name="wide.csv", data=wide, user=None)
    # Separators quoted in a cell count too, with room to spare for them.
    listed = b'email,note\nbo@example.com,"' + b"a, " * 300 + b'"\n'
    assert _table(listed)[1][0][1][0] == "bo@example.com"


def test_a_row_spread_over_lines_by_quoted_line_breaks_counts_its_separators_over_all_of_them():
    # Each line holds one separator; the quotes join them into one row of 20,000 cells.
    spread = b'email,first_name\nada@example.com,Ada\nvictim@example.org,"x' + b'","\n' * 20_000 + b'"\n'

    with pytest.raises(ImportFileUnreadable, match=r"^Line 3 holds more than 10,000 separators"):
        import_jobs.contact_import_create(file_name="spread.csv", data=spread, user=None)
    # A row over many lines with few separators reads as ever, and so does the next one.
    noted = b'email,note\nbo@example.com,"line one\nline two"\ncy@example.com,x\n'
    assert [row[1][0] for row in _table(noted)[1]] == ["bo@example.com", "cy@example.com"]


def test_an_import_counts_those_awaiting_confirmation_apart_from_those_who_unsubscribed():
    ContactFactory(email="waiting@example.com", status=Contact.Status.PENDING)
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    data = "email,first_name\nwaiting@example.com,Wanda\nleft@example.com,Lee\nnew@example.com,Ned\n"
    job = _started(data=data)

    import_jobs.contact_import_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.created, job.kept_unsubscribed, job.kept_pending) == (1, 1, 1)
    statuses = dict(Contact.objects.values_list("email", "status"))
    assert statuses["waiting@example.com"] == Contact.Status.PENDING
    assert statuses["left@example.com"] == Contact.Status.UNSUBSCRIBED
    said = {error["email"]: " ".join(error["errors"]["status"]) for error in job.errors}
    assert "confirm" in said["waiting@example.com"]
    assert said["waiting@example.com"] != said["left@example.com"]


def test_the_import_page_shows_how_many_were_kept_awaiting_confirmation():
    ContactFactory(email="waiting@example.com", status=Contact.Status.PENDING)
    job = _started(data="email\nwaiting@example.com\n")
    import_jobs.contact_import_run(job_id=job.pk)

    page = role_client("Marketers").get(reverse("admin:campaigns_contactimport_change", args=[job.pk]))

    html = page.content.decode()
    pending = re.search(r'id="import-kept-pending">(\d+)<', html)
    unsubscribed = re.search(r'id="import-kept-unsubscribed">(\d+)<', html)
    assert (pending and pending.group(1), unsubscribed and unsubscribed.group(1)) == ("1", "0")


def test_an_import_names_whose_an_external_id_is_only_if_its_starter_may_still_see_contacts():
    ContactFactory(email="owner@example.com", external_id="crm-17")
    data = "email,external_id\nnewcomer@example.com,crm-17\n"
    sees = StaffUserFactory()
    sees.user_permissions.add(
        Permission.objects.get(codename="view_contact", content_type__app_label="campaigns")
    )
    # Its starter's rights were taken away before the worker ran it.
    no_longer = StaffUserFactory()
    jobs = {who: _started(user, data=data) for who, user in (("sees", sees), ("no longer", no_longer))}

    for job in jobs.values():
        import_jobs.contact_import_run(job_id=job.pk)

    problems = {}
    for who, job in jobs.items():
        job.refresh_from_db()
        problems[who] = [error["errors"] for error in job.errors]
    assert problems == {
        "sees": [{"external_id": ["Belongs to another contact (owner@example.com)."]}],
        "no longer": [{"external_id": ["Taken by another contact."]}],
    }
    assert not Contact.objects.filter(email="newcomer@example.com").exists()
