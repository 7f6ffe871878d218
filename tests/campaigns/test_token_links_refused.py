"""A link's address naming the unsubscribe URL is that variable alone: anything else is refused at save."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Template
from campaigns.rendering import template_validate
from campaigns.selectors import template_has_unsubscribe_link

pytestmark = pytest.mark.django_db

API = "/api/v1"
SAID = "Write the unsubscribe link's address as {{ unsubscribe_url }} alone:"


def _template(html_body: str = "", text_body: str = "") -> Template:
    return Template(name="t", subject="Hi", html_body=html_body, text_body=text_body)


@pytest.mark.parametrize(
    ("html_body", "text_body", "field"),
    [
        ("<a href=\"https://shop.example/s?u={{ unsubscribe_url|cut:'/' }}\">x</a>", "", "html_body"),
        ("<a href=\"https://shop.example/r?t={{ unsubscribe_url|slice:'25:' }}\">x</a>", "", "html_body"),
        ("<a href='https://shop.example/p?u={{ unsubscribe_url }}'>x</a>", "", "html_body"),
        ('<a href="{{ unsubscribe_url }}{{ contact.external_id }}">Unsubscribe</a>', "", "html_body"),
        ('<a href="{{ unsubscribe_url }}/">Unsubscribe</a>', "", "html_body"),
        (
            "<a href=\"https://shop.example/j?u={{ unsubscribe_url|make_list|join:'.' }}\">x</a>",
            "",
            "html_body",
        ),
        ('<a href="{% firstof unsubscribe_url %}">x</a>', "", "html_body"),
        (
            '<!--[if mso]><a href="https://x.example/?u={{ unsubscribe_url|upper }}">x</a><![endif]-->',
            "",
            "html_body",
        ),
        (
            "{% with u=unsubscribe_url %}<a href=\"https://shop.example/s?u={{ u|cut:'/' }}\">x</a>"
            "{% endwith %}",
            "",
            "html_body",
        ),
        (
            '{% firstof unsubscribe_url as u %}<a href="https://shop.example/s?u={{ u|urlencode }}">x</a>',
            "",
            "html_body",
        ),
        ("<p>Hi</p>", "Manage: https://shop.example/s?u={{ unsubscribe_url|cut:'/' }}", "text_body"),
        ("<p>Hi</p>", "Leave: {{ unsubscribe_url }}{{ contact.external_id }}", "text_body"),
        (
            "",
            "{% with u=unsubscribe_url %}Manage: https://shop.example/s?u={{ u|cut:'/' }}{% endwith %}",
            "text_body",
        ),
    ],
    ids=[
        "cut",
        "slice",
        "inside another address",
        "an external id after it",
        "a slash after it",
        "interleaved",
        "firstof in the href",
        "in an outlook comment",
        "aliased by with",
        "aliased by firstof",
        "text part cut",
        "text part external id after it",
        "text part aliased by with",
    ],
)
def test_a_link_made_from_the_unsubscribe_url_is_refused_with_a_clear_message(html_body, text_body, field):
    with pytest.raises(ValidationError) as refused:
        template_validate(template=_template(html_body, text_body))

    assert refused.value.message_dict[field][0].startswith(SAID)


@pytest.mark.parametrize(
    ("html_body", "text_body"),
    [
        ('<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>', ""),
        ('<p><a href=" {{unsubscribe_url}} ">Unsubscribe</a></p>', ""),
        ("<p><a href='{{ unsubscribe_url|safe }}'>Unsubscribe</a> {{ unsubscribe_url }}</p>", ""),
        (
            '{% if contact.first_name %}<a href="{{ unsubscribe_url }}">Leave</a>{% endif %}',
            "Leave: {{ unsubscribe_url }}.\n[Leave]({{ unsubscribe_url }}) <{{ unsubscribe_url }}>",
        ),
        ("", "{% if unsubscribe_url %}Leave: {{ unsubscribe_url }}{% endif %}"),
        ('<a href="https://shop.example/sale?id={{ contact.external_id }}">Sale</a>', ""),
    ],
    ids=["alone", "with blanks", "kept by safe and shown", "text part", "a condition", "no token"],
)
def test_the_unsubscribe_url_written_alone_is_accepted_and_shown(html_body, text_body):
    template = _template(html_body, text_body)

    template_validate(template=template)

    # Still counted as the email's unsubscribe link, but where a condition reads it (the check's own rule).
    shown = "unsubscribe_url" in html_body + text_body and "if unsubscribe_url" not in text_body
    assert template_has_unsubscribe_link(template=template) is shown


def test_the_api_refuses_a_template_whose_link_cuts_the_unsubscribe_url(api_client):
    response = api_client.post(
        f"{API}/templates",
        {
            "name": "leaky",
            "subject": "Hi",
            "html_body": "<a href=\"https://shop.example/s?u={{ unsubscribe_url|cut:'/' }}\">x</a>",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["html_body"][0].startswith(SAID)
    assert not Template.objects.filter(name="leaky").exists()


def test_the_api_accepts_the_unsubscribe_url_alone(api_client):
    response = api_client.post(
        f"{API}/templates",
        {"name": "fine", "subject": "Hi", "html_body": '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'},
        format="json",
    )

    assert response.status_code == 201
