"""A link holding the email's unsubscribe URL is never tracked: no row keeps a recipient's token."""

import email
import hashlib
import re
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from campaigns import services as campaign_services
from core.models import ApiKey
from core.services import api_key_create
from delivery import compose as delivery_compose
from delivery import services as delivery_services
from delivery import tokens
from delivery.erasure import tracked_links_erase
from delivery.models import StepExecution, TrackedLink
from tests.conftest import sent_messages
from tests.factories import CampaignStepFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

HTML = (
    '<p><a href="https://shop.example/prefs?u={{ unsubscribe_url }}">Manage</a>, '
    '<a href="https://shop.example/out?next={{ unsubscribe_url|urlencode:"" }}">Leave</a>, '
    '<a href="https://shop.example/sale">Sale</a>.</p>'
)

TEXT = "Manage: https://shop.example/?u={{ unsubscribe_url }}\nSale: https://shop.example/sale\n"


def _send(*, text_body: str) -> tuple[StepExecution, str, str]:
    """Send the template to one contact; return its row and its sent HTML and text parts."""
    campaign = sendable_campaign(contacts=1)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=HTML, text_body=text_body)
    step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    (sent,) = sent_messages()
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in email.message_from_string(sent.raw_data).walk()
        if not part.is_multipart()
    }
    return StepExecution.objects.get(step__campaign=campaign), parts["text/html"], parts["text/plain"]


@pytest.mark.parametrize("text_body", [TEXT, ""], ids=["text-written", "text-made-from-html"])
def test_a_link_holding_the_unsubscribe_url_goes_out_as_written_and_is_never_stored(ses, text_body):
    row, html, text = _send(text_body=text_body)

    unsubscribe = re.escape(settings.PUBLIC_BASE_URL + "/u/") + r"[A-Za-z0-9_-]+"
    assert re.search(rf'href="https://shop\.example/prefs\?u={unsubscribe}"', html)
    encoded = re.escape(quote(settings.PUBLIC_BASE_URL + "/u/", safe="")) + r"[A-Za-z0-9_-]+"
    assert re.search(rf'href="https://shop\.example/out\?next={encoded}"', html)
    if text_body:
        assert re.search(rf"Manage: https://shop\.example/\?u={unsubscribe}\r?\n", text)
    else:
        assert re.search(rf"\(https://shop\.example/prefs\?u={unsubscribe}\)", text)
    # The other link is still tracked, in both parts.
    assert "https://shop.example/sale" not in html
    assert "https://shop.example/sale" not in text
    stored = set(TrackedLink.objects.filter(step=row.step).values_list("url", flat=True))
    assert stored == {"https://shop.example/sale", delivery_compose.honeypot_url()}


def test_the_stats_a_read_key_gets_list_no_unsubscribe_token(ses):
    row, _html, _text = _send(text_body=TEXT)
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=api_key_create(name="reader", scopes=[ApiKey.Scope.READ])[1])

    response = reader.get(f"/api/v1/campaigns/{row.step.campaign_id}/stats")

    assert response.status_code == 200
    assert [link["url"] for link in response.json()["links"]] == ["https://shop.example/sale"]
    assert "/u/" not in response.content.decode()


@pytest.mark.parametrize(
    "encode", [lambda url: url, lambda url: quote(url, safe="")], ids=["plain", "encoded"]
)
def test_erasure_writes_the_contacts_unsubscribe_token_out_of_a_link_stored_before_the_fix(encode):
    step = CampaignStepFactory()
    base = settings.PUBLIC_BASE_URL + "/u/"
    ada = tokens.unsubscribe_token(tracking_id=uuid.uuid4(), email="ada@example.com")
    bob = tokens.unsubscribe_token(tracking_id=uuid.uuid4(), email="bob@example.com")
    hers, his = (
        TrackedLink.objects.create(step=step, url=url, url_hash=hashlib.sha256(url.encode()).hexdigest())
        for url in ("https://shop.example/prefs?u=" + encode(base + token) for token in (ada, bob))
    )

    assert tracked_links_erase(emails={"Ada@example.com"}) == 1

    hers.refresh_from_db()
    his.refresh_from_db()
    assert ada not in hers.url
    assert hers.url.startswith("https://shop.example/prefs?u=")
    assert bob in his.url  # Another contact's link stays as it was.


def test_the_stats_mask_a_token_in_a_link_stored_before_such_links_went_untracked():
    from tracking.selectors import campaign_link_clicks

    campaign = sendable_campaign(contacts=0)
    stored = f"https://shop.example/prefs?u={settings.PUBLIC_BASE_URL}/u/gAAAAsecret-token_1&x=1"
    TrackedLink.objects.create(
        step=campaign.steps.get(), url=stored, url_hash=hashlib.sha256(stored.encode()).hexdigest()
    )

    (listed,) = campaign_link_clicks(campaign=campaign)

    assert "secret" not in listed["url"]
    assert listed["url"].startswith("https://shop.example/prefs?u=")
    assert listed["url"].endswith("/u/…&x=1")
