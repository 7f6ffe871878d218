"""The template editor's variables: it lists only what a template can write, each with the value a
template renders, and apart the attributes whose names a template cannot write."""

import html
import re

import pytest
from django.urls import reverse

from campaigns.exceptions import TemplateRenderError
from campaigns.rendering import template_compile, template_render
from campaigns.template_variables import attribute_key_writable, template_variables
from tests.factories import ContactFactory, TemplateFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:campaigns_template_preview"

#: Keys an import or the API stores, some of which no `{{ attributes.<key> }}` reads as themselves.
ATTRIBUTES = {
    "plan": "Gold",
    "Zip Code": "LS1",
    "customer-tier": "vip",
    "first name": "Ada",
    "_x": "hidden",
    "a": {"b": "OTHER"},
    "a.b": "v2",
    "2024": "year",
    "prénom": "Zoé",
    "x_1": "under",
}
WRITABLE = ["2024", "a", "plan", "prénom", "x_1"]
UNWRITABLE = ["Zip Code", "_x", "a.b", "customer-tier", "first name"]

# A listed variable and its value, as the preview's table shows them.
_LISTED = re.compile(r"<code>\{\{ (attributes\.[^<]*?) \}\}</code></td><td>([^<]*)</td>")


def _rendered(variable: str, contact) -> str:
    """Return what `{{ variable }}` renders for `contact` in an email's text, or why it cannot."""
    template = TemplateFactory(subject="s", html_body="", text_body=f"{{{{ {variable} }}}}")
    try:
        return template_render(compiled=template_compile(template=template), contact=contact).text
    except TemplateRenderError as exc:
        return f"not rendered: {exc}"


def _preview(client, contact) -> str:
    form = {
        "name": "n",
        "subject": "s",
        "html_body": "<p>Hi</p>",
        "text_body": "",
        "preview_as": contact.email,
    }
    return client.post(reverse(PREVIEW), form).content.decode()


def test_the_panel_lists_as_variables_only_the_attributes_a_template_can_write():
    contact = ContactFactory(attributes={**ATTRIBUTES, "": "no name"})

    variables = template_variables(contact=contact)

    names = [name for name, _value in variables.writable]
    assert [name for name in names if name.startswith("attributes.")] == [f"attributes.{k}" for k in WRITABLE]
    assert names[-1] == "unsubscribe_url"
    assert dict(variables.writable)["attributes.a"] == '{"b": "OTHER"}'
    assert variables.unwritable == sorted([(key, ATTRIBUTES[key]) for key in UNWRITABLE] + [("", "no name")])


@pytest.mark.parametrize("key", [*WRITABLE, *UNWRITABLE, "None", "items", "1e5", "a__b"])
def test_a_key_is_writable_exactly_when_a_template_reads_it_as_itself(key):
    attributes = {key: "itself", "a": {"b": "OTHER"}} if key != "a" else {"a": "itself"}
    contact = ContactFactory(attributes=attributes)

    assert (_rendered(f"attributes.{key}", contact) == "itself") is attribute_key_writable(key)


def test_every_variable_the_preview_lists_renders_the_value_it_shows(admin_client):
    contact = ContactFactory(email="ada@shop.example", attributes=ATTRIBUTES)

    listed = {
        html.unescape(name): html.unescape(value)
        for name, value in _LISTED.findall(_preview(admin_client, contact))
    }

    assert listed
    assert {name: _rendered(name, contact) for name in listed} == listed


def test_the_preview_lists_unwritable_attributes_apart_after_the_variables_with_a_note(admin_client):
    contact = ContactFactory(email="ada@shop.example", attributes=ATTRIBUTES)

    page = _preview(admin_client, contact)

    apart = page[page.index('id="template-unwritable"') :]
    assert page.rindex("{{ unsubscribe_url }}") < page.index('id="template-unwritable"')
    assert "Attributes a template cannot write" in apart
    assert "Rename these" in apart
    for key in UNWRITABLE:
        assert f"<code>{html.escape(key)}</code></td><td>{ATTRIBUTES[key]}</td>" in apart, key
        assert f"{{{{ attributes.{html.escape(key)} }}}}" not in page, key
