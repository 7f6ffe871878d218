"""The root of the site: a newcomer who opens it, or clicks the admin's "View site", lands in the admin."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_root_leads_to_the_admin_home(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_view_site_in_the_admin_goes_somewhere_useful(admin_client):
    index = admin_client.get("/admin/").content.decode()
    (view_site,) = re.findall(r'<a href="([^"]*)"[^>]*>\s*View site\s*</a>', index)
    landed = admin_client.get(view_site, follow=True)
    assert landed.status_code == 200
    assert landed.redirect_chain[-1][0] == "/admin/"


@pytest.mark.parametrize("method", ["options", "post", "put", "patch", "delete", "trace"])
def test_the_api_docs_answer_other_methods_with_a_405_never_a_500(client, method):
    assert getattr(client, method)("/api/docs/").status_code == 405
    assert getattr(client, method)("/api/schema/").status_code in (200, 405)


def test_the_api_docs_load_their_start_up_script_as_a_file_not_inline(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    scripts = re.findall(r"<script([^>]*)>", page.content.decode())
    assert scripts
    assert all(" src=" in attributes for attributes in scripts)
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"] == "application/javascript"
    assert b"SwaggerUIBundle" in script.content


@pytest.mark.parametrize("version", ["\nSet-Cookie: a=b", "\r", "\x00", 'x"; filename="evil.html'])
def test_the_schema_keeps_its_own_version_whatever_the_query_says(client, version):
    # Taken from the query, it went into Content-Disposition unchecked: a 500, or a header forged.
    response = client.get("/api/schema/", {"version": version})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'inline; filename="Campanile API (1).yaml"'
