"""The template editor: the live preview as a contact, the variables, the unsubscribe check, the
test send from the template's page, and who may see what."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from campaigns.models import Suppression, Template
from tests.conftest import sent_messages
from tests.factories import ContactFactory, TemplateFactory
from tests.utils import role_client

pytestmark = pytest.mark.django_db

PREVIEW = "admin:campaigns_template_preview"


def _form(**fields) -> dict:
    return {
        "name": "spring",
        "subject": "Hi {{ contact.first_name }}",
        "html_body": '<p>Your plan: {{ attributes.plan }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        "text_body": "",
        **fields,
    }


def test_the_preview_renders_the_form_as_typed_for_the_chosen_contact_with_its_variables(admin_client):
    ContactFactory(first_name="Zoe", email="zoe@example.com", attributes={"plan": "Basic"})
    ContactFactory(first_name="Ada", email="ada@shop.example", attributes={"plan": "Gold", "city": "Leeds"})

    page = admin_client.post(reverse(PREVIEW), _form(preview_as="ada@shop.example")).content.decode()

    assert 'id="template-subject">Hi Ada<' in page
    assert escape("<p>Your plan: Gold</p>") in page  # The email, in the sandboxed frame's srcdoc.
    assert "As ada@shop.example." in page
    for variable, value in (
        ("contact.first_name", "Ada"),
        ("attributes.city", "Leeds"),
        ("attributes.plan", "Gold"),
    ):
        assert f"<code>{{{{ {variable} }}}}</code></td><td>{value}</td>" in page, variable
    assert "Shows an unsubscribe link." in page
    assert "<html" not in page  # A fragment for htmx.


@pytest.mark.parametrize(
    ("html_body", "text_body", "shown"),
    [
        ("{# {{ unsubscribe_url }} #}<p>Hi</p>", "", False),
        ("{% comment %}<a href='{{ unsubscribe_url }}'>x</a>{% endcomment %}<p>Hi</p>", "", False),
        ("<!-- <a href='{{ unsubscribe_url }}'>x</a> --><p>Hi</p>", "", False),
        ("<p>Hi</p><a href=\"{{ unsubscribe_url|slice:':0' }}\">x</a>", "", False),
        ("", "Leave: {{ unsubscribe_url }}.", True),
        ("<p>Hi</p>", "Leave: {{ unsubscribe_url }}", False),
        ("", "Leave: {{ unsubscribe_url }}-now", False),
        ('<p>Hi</p><a href="{{ unsubscribe_url|safe }}">Leave</a>', "", True),
        ("{% if 0 %}<a href='{{ unsubscribe_url }}'>x</a>{% endif %}<p>Hi</p>", "", False),
        ("{% with unsubscribe_url='#' %}<a href='{{ unsubscribe_url }}'>x</a>{% endwith %}", "", False),
        ("{% for unsubscribe_url in '#' %}<a href='{{ unsubscribe_url }}'>x</a>{% endfor %}", "", False),
        ("{% filter upper %}<a href='{{ unsubscribe_url }}'>x</a>{% endfilter %}", "", False),
        ("{% if contact.first_name %}<a href='{{ unsubscribe_url }}'>x</a>{% endif %}", "", True),
        ('<a href="{{ unsubscribe_url }}/">Leave</a>', "", False),
        ('<a href="https://other.example/?next={{ unsubscribe_url }}">Leave</a>', "", False),
        ('<img src="{{ unsubscribe_url }}" alt="Leave"><p title="{{ unsubscribe_url }}">x</p>', "", False),
        ('<a href="{{ unsubscribe_url }}" hidden>Leave</a>', "", False),
        ('<div style="DISPLAY: none !important"><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        ('<div style="visibility:hidden"><a href="{{ unsubscribe_url }}">x</a></div>', "", False),
        (
            '<div style="visibility:hidden"><a style="visibility:visible" href="{{ unsubscribe_url }}">'
            "x</a></div>",
            "",
            True,
        ),
        ('<p style="display:none;display:block"><a href=" {{ unsubscribe_url }} ">Leave</a></p>', "", True),
        ('<div style="d\\isplay:n\\6f ne"><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        ('<div style="--x:none;display:var(--x)"><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        ('<div style="content-visibility:hidden"><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        (
            '<div style="font-family:\'a;display:none;\'"><a href="{{ unsubscribe_url }}">Leave</a></div>',
            "",
            True,
        ),
        ('<details><summary>More</summary><a href="{{ unsubscribe_url }}">Leave</a></details>', "", False),
        ('<details><summary><a href="{{ unsubscribe_url }}">Leave</a></summary>x</details>', "", True),
        (
            '<svg display="none"><foreignObject><a href="{{ unsubscribe_url }}">Leave</a>'
            "</foreignObject></svg>",
            "",
            False,
        ),
        ('<svg><desc><a href="{{ unsubscribe_url }}">Leave</a></desc></svg>', "", False),
        ('<a href="{{ unsubscribe_url }}"></a>', "", False),
        ('<video><a href="{{ unsubscribe_url }}">Leave</a></video>', "", False),
        ('<map name="m"><area href="{{ unsubscribe_url }}" alt="Leave"></map>', "", False),
        ('<div popover><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        ('<div inert><a href="{{ unsubscribe_url }}">Leave</a></div>', "", False),
        ('<p style="opacity:0"><a href="{{ unsubscribe_url }}">Leave</a></p>', "", False),
        ('<p>Hi</p><a href="{{ unsubscribe_url }}">&#8203;</a>', "", False),
        (
            '<svg><defs><foreignObject width="200" height="40"><a href="{{ unsubscribe_url }}">Leave</a>'
            "</foreignObject></defs></svg>",
            "",
            False,
        ),
        (
            '<details><summary>More</summary><summary><a href="{{ unsubscribe_url }}">Leave</a></summary>'
            "</details>",
            "",
            False,
        ),
        ('<p style="opacity:0.5"><a href="{{ unsubscribe_url }}"><img src="leave.png"></a></p>', "", True),
        (
            "{% if 'invalid' in unsubscribe_url %}<a href='{{ unsubscribe_url }}'>Leave</a>{% endif %}",
            "",
            False,
        ),
        (
            "{% if unsubscribe_url|length < 50 %}<a href='{{ unsubscribe_url }}'>Leave</a>{% endif %}",
            "",
            False,
        ),
        (
            "{% comment %}{% if unsubscribe_url %}{% endcomment %}<a href='{{ unsubscribe_url }}'>x</a>",
            "",
            True,
        ),
        (
            "<p style=\"{{ unsubscribe_url|cut:'campanile.invalid/unsubscribe-check'|cut:'https://'"
            '|yesno:\'display:none,\' }}"><a href="{{ unsubscribe_url }}">Leave</a></p>',
            "",
            False,
        ),
        (
            "<p style=\"{{ 'https://campanile.invalid/unsubscribe-check'|cut:unsubscribe_url"
            "|yesno:'display:none,' }}\">"
            '<a href="{{ unsubscribe_url }}">Leave</a></p>',
            "",
            False,
        ),
        ("<p><a href='{{ unsubscribe_url|safe }}'>Leave</a> {{ unsubscribe_url }}</p>", "", True),
    ],
    ids=[
        "template comment",
        "comment block",
        "html comment",
        "emptied by a filter",
        "text-only",
        "text part beside html",
        "text glued to more",
        "safe",
        "if false",
        "with",
        "for",
        "filter block",
        "if the contact has a name",
        "a longer address",
        "inside another address",
        "no link",
        "hidden link",
        "display none important",
        "visibility hidden",
        "visible inside hidden",
        "display none then block",
        "escaped css",
        "a custom property",
        "content visibility",
        "a semicolon in a string",
        "closed details",
        "in a closed details' summary",
        "svg display attribute",
        "svg desc",
        "empty link",
        "in a video",
        "an image map no image uses",
        "in a popover",
        "inert",
        "transparent",
        "a zero-width space",
        "in svg defs",
        "a closed details' second summary",
        "an image in a half-opaque block",
        "a condition on the address itself",
        "a condition on its length",
        "a tag in a comment block",
        "a filter chain on the address",
        "the address as a filter's argument",
        "the address shown plainly and kept by safe",
    ],
)
def test_the_unsubscribe_check_counts_only_a_link_the_email_shows(admin_client, html_body, text_body, shown):
    page = admin_client.post(
        reverse(PREVIEW), _form(html_body=html_body, text_body=text_body)
    ).content.decode()
    assert ("Shows an unsubscribe link." in page) is shown
    assert ("No visible unsubscribe link" in page) is not shown


def test_without_a_chosen_contact_the_preview_uses_the_first_subscribed_one(admin_client):
    ContactFactory(first_name="First", status="unsubscribed")
    ContactFactory(first_name="Second")
    page = admin_client.post(reverse(PREVIEW), _form()).content.decode()
    assert 'id="template-subject">Hi Second<' in page


def test_the_preview_warns_of_a_missing_unsubscribe_link_and_shows_a_broken_template_as_a_message(
    admin_client,
):
    missing = admin_client.post(reverse(PREVIEW), _form(html_body="<p>Hello</p>")).content.decode()
    assert "No visible unsubscribe link" in missing
    broken = admin_client.post(reverse(PREVIEW), _form(html_body="<p>{% if %}</p>"))
    assert broken.status_code == 200
    assert 'id="template-problem"' in broken.content.decode()


def test_the_preview_escapes_what_a_contact_holds(admin_client):
    ContactFactory(first_name="<script>alert(1)</script>", email="x@example.com")
    page = admin_client.post(reverse(PREVIEW), _form(preview_as="x@example.com")).content.decode()
    assert "<script>alert(1)</script>" not in page


def test_whoever_may_not_see_contacts_previews_as_the_sample_never_a_real_contact():
    from django.contrib.auth.models import Permission, User

    from tests.utils import staff_login

    ContactFactory(first_name="Real", email="real@example.com")
    writer = User.objects.create_user(username="writer", password="pw", is_staff=True)
    writer.user_permissions.add(*Permission.objects.filter(codename__in=["view_template", "change_template"]))
    from django.test import Client

    client = staff_login(Client(), writer)
    page = client.post(reverse(PREVIEW), _form(preview_as="real@example.com")).content.decode()
    assert 'id="template-subject">Hi Ada<' in page
    assert "real@example.com" not in page
    assert client.get(reverse(PREVIEW)).status_code == 405


def test_the_template_page_hosts_the_live_preview_and_the_test_send_for_a_marketer():
    template = TemplateFactory()
    page = role_client("Marketers").get(reverse("admin:campaigns_template_change", args=[template.pk]))
    html = page.content.decode()
    assert f'hx-post="{reverse(PREVIEW)}"' in html
    assert 'id="preview-mobile"' in html
    assert reverse("admin:campaigns_template_test_send") in html
    # The page frames the email: its inline styles and remote images are allowed there.
    assert "'unsafe-inline'" in page["Content-Security-Policy"].split("style-src")[1].split(";")[0]


def test_a_test_sends_the_template_as_typed_and_never_to_a_suppressed_address(ses, admin_client):
    ContactFactory(first_name="Ada", email="ada@shop.example", attributes={"plan": "Gold"})
    url = reverse("admin:campaigns_template_test_send")

    sent = admin_client.post(url, _form(preview_as="ada@shop.example", test_addresses="me@campanile.test"))

    assert "Test sent to me@campanile.test" in sent.content.decode()
    (message,) = sent_messages()
    assert "Subject: [Test] Hi Ada" in message.raw_data
    Suppression.objects.create(email="gone@campanile.test", reason=Suppression.Reason.COMPLAINT)
    refused = admin_client.post(url, _form(test_addresses="gone@campanile.test")).content.decode()
    assert "Nothing was sent" in refused
    assert "gone@campanile.test (Complaint)" in refused
    assert len(sent_messages()) == 1


def test_save_and_start_a_campaign_opens_a_new_campaign_whose_first_step_sends_the_template():
    client = role_client("Marketers")
    form = _form(_campaign="1")

    saved = client.post(reverse("admin:campaigns_template_add"), form)

    template = Template.objects.get(name="spring")
    assert saved["Location"] == reverse("admin:campaigns_campaign_add") + f"?template={template.pk}"
    page = client.get(saved["Location"]).content.decode()
    assert f'<option value="{template.pk}" selected>spring</option>' in page
    assert 'name="steps-0-order" value="1"' in page


def test_a_template_test_names_suppressed_addresses_only_to_who_may_see_the_list(ses):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from tests.utils import staff_login

    Suppression.objects.create(email="gone@campanile.test", reason=Suppression.Reason.COMPLAINT)
    writer = User.objects.create_user(username="writer", password="pw", is_staff=True)
    writer.user_permissions.add(*Permission.objects.filter(codename__in=["view_template", "change_template"]))
    client = staff_login(Client(), writer)

    said = client.post(
        reverse("admin:campaigns_template_test_send"), _form(test_addresses="gone@campanile.test")
    ).content.decode()

    assert "can never be mailed" in said
    assert "gone@campanile.test" not in said
    assert "complaint" not in said
    assert sent_messages() == []


def test_a_preview_as_a_number_too_long_for_an_id_finds_no_contact(admin_client):
    page = admin_client.post(reverse(PREVIEW), _form(preview_as="9" * 5000))
    assert page.status_code == 200
    assert "No contact" in page.content.decode()


def test_a_sent_template_keeps_its_form_in_the_admin_and_offers_save_as_new():
    from tests.factories import CampaignStepFactory

    step = CampaignStepFactory(campaign__name="Spring sale", campaign__status="completed")
    client = role_client("Marketers")
    url = reverse("admin:campaigns_template_change", args=[step.template.pk])

    page = client.get(url).content.decode()
    refused = client.post(url, _form(name=step.template.name, html_body="", text_body="Hi"))
    copied = client.post(url, _form(name="spring-text", html_body="", text_body="Hi", _saveasnew="1"))

    assert "Save as new" in page
    assert refused.status_code == 200  # The form again, with why.
    assert "Campaign “Spring sale” sent this template with HTML" in refused.content.decode()
    assert copied.status_code == 302
    assert Template.objects.get(name="spring-text").html_body == ""
    step.template.refresh_from_db()
    assert step.template.html_body != ""
