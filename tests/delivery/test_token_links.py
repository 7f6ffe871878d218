"""A link holding a piece of the recipient's token, however a template's filters wrote it, is never
tracked, and the stats mask any token, or piece of one, in a link stored before."""

import email
import hashlib
import re
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from campaigns import services as campaign_services
from core.models import ApiKey
from core.services import api_key_create
from delivery import compose as delivery_compose
from delivery import services as delivery_services
from delivery import tokens
from delivery.links import html_track
from delivery.models import StepExecution, TrackedLink
from tests.conftest import sent_messages
from tests.factories import TemplateFactory, sendable_campaign
from tracking.selectors import campaign_link_clicks

pytestmark = pytest.mark.django_db

# The token's first character is always "g": what follows it is all a reader needs.
_TAIL = f"{len(settings.PUBLIC_BASE_URL + '/u/') + 1}:"

# The probe's links: each writes the token with no "//host/u/" before it.
FILTERED = {
    "cut": "https://shop.example/s?u={{ unsubscribe_url|cut:'/' }}",
    "slice": f"https://shop.example/r?t={{{{ unsubscribe_url|slice:'{_TAIL}' }}}}",
    "cut-scheme": "https://shop.example/p?u={{ unsubscribe_url|cut:'http://'|cut:'/' }}",
    "interleaved": 'https://shop.example/j?u={{ unsubscribe_url|make_list|join:"." }}',
    "upper": "https://shop.example/up?u={{ unsubscribe_url|upper|cut:'/' }}",
    "reversed": "https://shop.example/rev?u={{ unsubscribe_url|slice:'::-1'|cut:'/' }}",
}

SALE = "https://shop.example/sale"


def _send(*, html_body: str, text_body: str) -> tuple[StepExecution, str, str, str]:
    """Send the template to one contact; return its row, its sent HTML and text, and its token."""
    campaign = sendable_campaign(contacts=1)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body, text_body=text_body)
    step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    (sent,) = sent_messages()
    message = email.message_from_string(sent.raw_data)
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    unsubscribe = re.search(r"/u/([A-Za-z0-9_-]+)>", message["List-Unsubscribe"])
    assert unsubscribe is not None
    token = unsubscribe.group(1)
    row = StepExecution.objects.get(step__campaign=campaign)
    return row, parts["text/html"], parts["text/plain"], token


@pytest.mark.parametrize("name", list(FILTERED))
def test_a_link_holding_the_token_through_a_filter_goes_out_untracked_in_html_and_text(ses, name):
    link = FILTERED[name]
    html = f'<p><a href="{link}">Manage</a> <a href="{SALE}">Sale</a></p>'
    text = f"Manage: {link}\nSale: {SALE}\n"

    row, sent_html, sent_text, token = _send(html_body=html, text_body=text)

    assert tokens.unsubscribe_token_read(token) is not None  # The one its unsubscribe link carries.
    address = link.split("?", 1)[0]
    assert f'href="{address}?' in sent_html
    assert f"Manage: {address}?" in sent_text
    # The other link is still tracked.
    assert SALE not in sent_html
    assert SALE not in sent_text
    stored = set(TrackedLink.objects.filter(step=row.step).values_list("url", flat=True))
    assert stored == {SALE, delivery_compose.honeypot_url()}


def test_the_stats_a_read_key_gets_list_no_piece_of_a_token_written_through_filters(ses):
    html = (
        "".join(f'<a href="{link}">{name}</a>' for name, link in FILTERED.items()) + f'<a href="{SALE}">x</a>'
    )
    row, _html, _text, token = _send(html_body=html, text_body="")
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=api_key_create(name="reader", scopes=[ApiKey.Scope.READ])[1])

    response = reader.get(f"/api/v1/campaigns/{row.step.campaign_id}/stats")

    assert response.status_code == 200
    assert [link["url"] for link in response.json()["links"]] == [SALE]
    listed = tokens.token_cleaned(response.content.decode())
    assert tokens.token_cleaned(token[1:17]) not in listed


def test_a_link_sharing_no_run_of_the_token_is_still_tracked():
    token = tokens.unsubscribe_token(tracking_id=uuid.uuid4(), email="ada@example.com")
    tracked: list[str] = []

    def click_url(url: str) -> str:
        tracked.append(url)
        return "https://t.example/"

    html_track(
        f'<a href="https://shop.example/s?u={token[:15]}">a</a><a href="https://shop.example/t?u={token[1:17]}">b</a>',
        click_url=click_url,
        pixel_url=None,
        own_tokens=(token,),
    )

    assert tracked == [f"https://shop.example/s?u={token[:15]}"]


def _stored(campaign, url: str) -> None:
    TrackedLink.objects.create(
        step=campaign.steps.get(), url=url, url_hash=hashlib.sha256(url.encode()).hexdigest()
    )


@pytest.mark.parametrize(
    "written",
    [
        lambda base, token: f"https://shop.example/r?t={token[1:]}",
        lambda base, token: f"https://shop.example/s?u={(base + '/u/' + token).replace('/', '')}",
        lambda base, token: f"https://shop.example/up?u={token.upper()}&x=1",
        lambda base, token: f"https://shop.example/j?u={'.'.join(base + '/u/' + token)}",
        lambda base, token: f"https://shop.example/m?u={token[40:]}",
    ],
    ids=["sliced", "cut", "upper", "interleaved", "its last part"],
)
def test_the_stats_mask_a_token_or_a_piece_of_one_in_a_link_stored_before(written):
    campaign = sendable_campaign(contacts=0)
    token = tokens.unsubscribe_token(tracking_id=uuid.uuid4(), email="ada@example.com")
    _stored(campaign, written(settings.PUBLIC_BASE_URL, token))

    (listed,) = campaign_link_clicks(campaign=campaign)

    assert listed["url"].startswith("https://shop.example/")
    assert "…" in listed["url"]
    assert tokens.token_cleaned(token[41:57]) not in tokens.token_cleaned(listed["url"])


def test_the_stats_leave_ordinary_ids_of_a_link_as_they_are():
    campaign = sendable_campaign(contacts=0)
    url = (
        f"https://shop.example/blog/2024-10-how-we-ship-our-summer-collection-part-2?id={uuid.uuid4()}"
        f"&sha={hashlib.sha256(b'x').hexdigest()}&n=12345678901234567890123456789012345678901234"
    )
    _stored(campaign, url)

    (listed,) = campaign_link_clicks(campaign=campaign)

    assert listed["url"] == url
