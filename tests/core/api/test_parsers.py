"""The API's JSON parser: input too deeply nested to read is the client's error, a 400."""

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
    response = api_client.post(
        "/api/v1/contacts", body, content_type=f"multipart/form-data; boundary=x; charset={charset}"
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
