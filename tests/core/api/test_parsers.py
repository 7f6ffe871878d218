"""The API's parsers: input too deeply nested to read, in another charset or naming a key twice is the
client's error, answered in the API's error shape."""

import pytest

from campaigns.models import Contact, ContactList


@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/contacts", "/api/v1/templates"])
def test_json_nested_too_deeply_is_a_400_not_a_500(api_client, path):
    body = "[" * 100_000 + "]" * 100_000
    response = api_client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize("charset", ["utf-7", "latin-1", "utf-16"])
def test_json_in_a_charset_other_than_utf8_is_a_415_and_saves_nothing(api_client, charset):
    body = '{"name": "News+ACE-"}'.encode(charset)
    response = api_client.post("/api/v1/lists", body, content_type=f"application/json; charset={charset}")

    assert response.status_code == 415
    assert "UTF-8 only" in response.json()["error"]["message"]
    assert not ContactList.objects.exists()


@pytest.mark.parametrize("charset", ["utf-7", "latin-1"])
def test_a_form_in_a_charset_other_than_utf8_is_a_415_and_saves_nothing(api_client, charset):
    body = (
        b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\ncs6+AC4-x@example.org\r\n'
        b'--x\r\nContent-Disposition: form-data; name="first_name"\r\n\r\n+ADw-b+AD4-Hi\r\n--x--\r\n'
    )
    response = api_client.post(  # The one endpoint that takes a form: it carries a file.
        "/api/v1/contacts/import", body, content_type=f"multipart/form-data; boundary=x; charset={charset}"
    )

    assert response.status_code == 415
    assert "UTF-8 only" in response.json()["error"]["message"]
    assert not Contact.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", None])
def test_json_in_utf8_named_or_not_is_read(api_client, charset):
    content_type = "application/json" + (f"; charset={charset}" if charset else "")
    body = '{"name": "Neuigkeiten für dich"}'.encode()
    response = api_client.post("/api/v1/lists", body, content_type=content_type)

    assert response.status_code == 201
    assert ContactList.objects.get().name == "Neuigkeiten für dich"


def test_a_body_over_djangos_limit_is_a_json_413_not_an_html_400(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_client.post("/api/v1/contacts", {"email": "x@example.com", "first_name": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    ("fields", "files"),
    [({f"f{n}": "1" for n in range(1_100)}, 0), ({}, 101)],
    ids=["too many fields", "too many files"],
)
def test_a_form_of_more_parts_than_django_reads_is_a_json_400_not_an_html_page(api_client, fields, files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    parts = {**fields, **{f"file{n}": SimpleUploadedFile(f"{n}.csv", b"email\n") for n in range(files)}}
    response = api_client.post("/api/v1/contacts/import", parts, format="multipart")

    assert response.status_code == 400
    assert "more form fields or files" in response.json()["error"]["fields"]["non_field_errors"][0]


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/api/v1/lists", '{"name": "News", "name": "Offers"}', '"name"'),
        ("/api/v1/contacts", '{"email": "ada@example.com", "email": "bob@example.com"}', '"email"'),
        (
            "/api/v1/contacts/bulk",
            '{"contacts": [{"email": "ada@example.com", "first_name": "A", "first_name": "B"}]}',
            '"first_name"',
        ),
        ("/api/v1/messages", '{"unique_code": "a", "unique_code": "b"}', '"unique_code"'),
    ],
    ids=["a list", "a contact", "a row of a bulk upsert", "a message"],
)
def test_json_naming_a_key_twice_in_one_object_is_a_400_naming_the_key_and_saves_nothing(
    api_client, path, body, key
):
    response = api_client.post(path, body, content_type="application/json")

    error = response.json()["error"]
    assert (response.status_code, error["status"], error["code"]) == (400, 400, "parse_error")
    assert key in error["message"]
    assert not ContactList.objects.exists()
    assert not Contact.objects.exists()


def test_json_naming_a_huge_key_twice_is_answered_with_the_key_cut_short(api_client):
    key = "k" * 100_000
    response = api_client.post(
        "/api/v1/lists", f'{{"{key}": 1, "{key}": 2}}', content_type="application/json"
    )

    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "parse_error")
    assert '"kkkk' in error["message"]
    assert len(error["message"]) < 1000


def test_json_whose_objects_share_keys_without_repeating_one_is_read(api_client):
    body = '{"contacts": [{"email": "ada@example.com", "first_name": "Ada"}, {"email": "bob@example.com"}]}'
    response = api_client.post("/api/v1/contacts/bulk", body, content_type="application/json")

    assert response.status_code == 200
    assert set(Contact.objects.values_list("email", flat=True)) == {"ada@example.com", "bob@example.com"}


@pytest.mark.parametrize("body", ['{"name": NaN}', '{"name": "News"', b'{"name": "\xff"}'])
def test_json_the_parser_cannot_read_is_still_a_400_parse_error(api_client, body):
    response = api_client.post("/api/v1/lists", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("JSON parse error")
    assert not ContactList.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/messages", "/api/v1/contacts", "/api/v1/campaigns", "/api/v1/contacts/bulk"]
)
def test_a_form_is_a_415_where_no_file_is_sent_as_a_form_would_change_what_was_meant(api_client, path):
    body = (
        b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@example.org\r\n'
        b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\nb@example.org\r\n--x--\r\n'
    )

    response = api_client.post(path, body, content_type="multipart/form-data; boundary=x")

    assert response.status_code == 415
    assert not Contact.objects.exists()
