import email
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError, transaction
from django.test import Client
from django.utils import timezone
from psycopg.errors import DeadlockDetected

from campaigns import services as campaign_services
from campaigns.models import Contact
from delivery import compose as delivery_compose
from delivery import services as delivery_services
from delivery import tokens
from delivery.models import Engagement, StepExecution, TrackedLink
from tests.conftest import sent_messages
from tests.factories import StepExecutionFactory, TemplateFactory, sendable_campaign
from tests.utils import database_down
from tracking import hits
from tracking.models import TrackingEvent, TrackingHit
from tracking.views import PIXEL_GIF

pytestmark = pytest.mark.django_db


HTML = (
    '<p>Hi {{ contact.first_name }}, <a href="https://shop.example.com/sale?id={{ contact.external_id }}">'
    'sale</a> and <a href="https://blog.example.com/">blog</a>. '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


def _schedule_and_send(campaign) -> None:
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)


def _send(html_body: str = HTML, **campaign_fields):
    campaign = sendable_campaign(contacts=1, **campaign_fields)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body)
    step.save()
    _schedule_and_send(campaign)
    (sent,) = sent_messages()
    # As bytes: a part sent 8bit, read from a string, decodes to Latin-1's bytes, not UTF-8's.
    mime = email.message_from_bytes(sent.raw_data.encode())
    html = next(part for part in mime.walk() if part.get_content_type() == "text/html")
    return StepExecution.objects.get(step__campaign=campaign), html.get_payload(decode=True).decode()


def _paths(html: str, kind: str) -> list[str]:
    """Return the tracked URLs of a kind a reader can see (not the hidden honeypot link)."""
    visible = re.sub(r'<a [^>]*aria-hidden="true"[^>]*>', "", html)
    return ["/" + url.split("/", 3)[3] for url in re.findall(rf'"(https?://[^"]+/{kind}/[^"]+)"', visible)]


def _honeypot(html: str) -> str:
    (url,) = re.findall(r'<a href="(https?://[^"]+/c/[^"]+)"[^>]*aria-hidden="true"', html)
    return "/" + url.split("/", 3)[3]


def test_campaign_mail_has_signed_click_links_a_pixel_and_an_untouched_unsubscribe_link(ses):
    row, html = _send()
    (sent,) = sent_messages()
    text_part = (
        next(
            part
            for part in email.message_from_string(sent.raw_data).walk()
            if part.get_content_type() == "text/plain"
        )
        .get_payload(decode=True)
        .decode()
    )
    assert "shop.example.com" not in text_part  # The text part's links are tracked too…
    assert len(re.findall(r"https?://[^/]+/c/[^\s)]+", text_part)) == 2
    assert "/u/" in text_part  # …but not its unsubscribe link.
    clicks, pixels = _paths(html, "c"), _paths(html, "o")
    assert len(clicks) == 2
    assert len(pixels) == 1
    assert "/u/" in html  # The unsubscribe link is not sent through the redirect.
    assert "shop.example.com" not in html  # The target is kept server-side.
    links = dict(TrackedLink.objects.values_list("url", "step_id"))
    assert set(links) == {
        f"https://shop.example.com/sale?id={row.contact.external_id}",
        "https://blog.example.com/",
        delivery_compose.honeypot_url(),
    }


def test_the_pixel_always_answers_a_43_byte_gif_and_records_only_valid_tokens(ses, hit_store):
    _row, html = _send()
    (pixel,) = _paths(html, "o")
    client = Client()
    for path, method in (
        (pixel, "get"),
        (pixel, "head"),
        ("/o/forged-token", "get"),
        (pixel[:-2] + "xx", "get"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert "no-store" in response["Cache-Control"]
        assert "Set-Cookie" not in response.headers
        if method == "get":
            assert response.content == PIXEL_GIF
    assert len(PIXEL_GIF) == 43
    assert hits.tracking_hits_apply() == 2
    methods = sorted(event.raw["method"] for event in TrackingEvent.objects.filter(type="open"))
    assert methods == ["GET", "HEAD"]


def test_a_click_redirects_to_the_stored_target_and_a_tampered_token_is_404(ses, hit_store):
    row, html = _send()
    first, _second = _paths(html, "c")
    client = Client()
    response = client.get(first + "?url=https://evil.example.com")
    assert response.status_code == 302
    assert response["Location"] == f"https://shop.example.com/sale?id={row.contact.external_id}"
    token = first.rsplit("/", 1)[1]
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "nonsense",
        tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.OPEN),
    ):
        refused = client.get(f"/c/{bad}")
        assert refused.status_code == 404
        assert "Location" not in refused.headers
    assert hits.tracking_hits_apply() == 1


def test_a_link_stored_with_a_backslash_redirects_where_a_browser_would_have_gone(ses):
    from delivery.models import TrackedLink

    row, _html = _send()
    link = TrackedLink.objects.create(
        step=row.step, url="https://shop.example.com\\@evil.example/x", url_hash="x"
    )
    token = tokens.click_token(tracking_id=row.tracking_id, link_id=link.pk)

    response = Client().get(f"/c/{token}")

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/@evil.example/x"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        # A hash-routed page reads its route from `location.hash`, as the email's link wrote it.
        ("https://app.example/#/search?q={plan}|x^y", "https://app.example/#/search?q={plan}|x^y"),
        ("https://app.example/p?q={a}|b^c\\d`e#f|g`", "https://app.example/p?q={a}|b^c\\d`e#f|g`"),
        ("https://app.example/p?q=%7Bplan%7D&r=100%", "https://app.example/p?q=%7Bplan%7D&r=100%"),
        (
            'https://例え.jp/パス?q=ü a"<>',
            "https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?q=%C3%BC%20a%22%3C%3E",
        ),
    ],
    ids=["hash route", "query and fragment", "escapes", "unicode and blanks"],
)
def test_a_click_redirects_to_the_address_a_browser_would_request_for_the_emails_link(ses, target, location):
    row = StepExecutionFactory()
    link = TrackedLink.objects.create(step=row.step, url=target, url_hash="x")
    token = tokens.click_token(tracking_id=row.tracking_id, link_id=link.pk)

    response = Client().get(f"/c/{token}")

    assert response.status_code == 302
    assert response["Location"] == location
    assert "no-store" in response["Cache-Control"]


def test_a_campaign_whose_html_holds_turkish_capitals_tracks_and_counts_its_links(ses, api_client):
    # "İ".lower() is two characters: the links after it and a comment were read as none.
    html_body = (
        "<h1>İNDİRİM İÇİN İLK ADIM</h1><!--[if mso]><table><tr><td><![endif]-->"
        '<p><a href="https://shop.example.com/indirim">İndirim</a></p>'
        "<!--[if mso]></td></tr></table><![endif]-->"
        '<p><a href="https://blog.example.com/">Blog</a></p>'
    )
    row, html = _send(html_body)

    shop, _blog = _paths(html, "c")
    assert Client().get(shop)["Location"] == "https://shop.example.com/indirim"
    visible = re.sub(r'<a [^>]*aria-hidden="true"[^>]*></a>|<img [^>]*>', "", html)
    written_back = re.sub(r'href="https?://[^"]+/c/[^"]+"', 'href="TRACKED"', visible)
    assert written_back == re.sub(r'href="[^"]+"', 'href="TRACKED"', html_body)
    links = api_client.get(f"/api/v1/campaigns/{row.step.campaign_id}/stats").json()["links"]
    assert [link["url"] for link in links] == [
        "https://shop.example.com/indirim",
        "https://blog.example.com/",
    ]


def test_a_batch_of_hits_aborted_in_a_deadlock_waits_whole_for_the_next_tick(
    ses, hit_store, monkeypatch, caplog
):
    _row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel)
    Client().get(pixel)
    share_lock = hits._rows_share_lock

    def deadlocked(**kwargs):
        try:
            raise DeadlockDetected("deadlock detected")
        except DeadlockDetected as exc:
            raise OperationalError("deadlock detected") from exc

    monkeypatch.setattr(hits, "_rows_share_lock", deadlocked)
    assert hits.tracking_hits_apply() == 0
    assert not TrackingEvent.objects.exists()
    assert "applied on the next tick" in caplog.text
    monkeypatch.setattr(hits, "_rows_share_lock", share_lock)
    assert hits.tracking_hits_apply() == 2
    assert TrackingEvent.objects.filter(type="open").count() == 2


def test_hits_become_events_in_bulk_with_machines_apart_and_nothing_twice(ses, hit_store):
    _row, html = _send()
    (pixel,), (click, _) = _paths(html, "o"), _paths(html, "c")
    client = Client()
    client.get(pixel, HTTP_USER_AGENT="Mozilla/5.0")  # Apple Mail Privacy Protection's prefetch
    client.get(click)  # Within seconds of sending: a link scanner.
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        client.get(pixel, HTTP_USER_AGENT="Mozilla/5.0 (Macintosh) AppleWebKit")
        client.get(click, HTTP_USER_AGENT="Mozilla/5.0 (Macintosh) AppleWebKit")
    StepExecutionFactory()  # Another row; and a hit whose row is gone:
    TrackingHit.objects.create(kind="open", tracking_id="00000000-0000-7000-8000-000000000000", method="GET")

    assert hits.tracking_hits_apply() == 5
    assert hits.tracking_hits_apply() == 0
    assert not TrackingHit.objects.exists()
    events = list(TrackingEvent.objects.order_by("occurred_at").values_list("type", "is_machine"))
    assert events == [("open", True), ("click", True), ("open", False), ("click", False)]
    human_click = TrackingEvent.objects.get(type="click", is_machine=False)
    assert human_click.raw["link_id"] == TrackedLink.objects.get(url__startswith="https://shop").pk


def test_tracking_can_be_switched_off_per_campaign(ses):
    _row, html = _send(track_opens=False, track_clicks=False)
    assert _paths(html, "o") == _paths(html, "c") == []
    assert "https://shop.example.com/sale" in html


@pytest.mark.parametrize(
    ("mode", "address", "stored"),
    [
        ("truncate", "203.0.113.77", "203.0.113.0"),
        ("truncate", "2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("none", "203.0.113.77", ""),
        ("truncate", "not an address", ""),
    ],
)
def test_ip_addresses_are_kept_only_as_the_setting_allows(settings, mode, address, stored):
    settings.TRACKING_IP_MODE = mode
    assert hits.ip_for_storage(address) == stored


def test_hashed_ip_addresses_are_stable_and_not_the_address(settings):
    settings.TRACKING_IP_MODE = "hash"
    hashed = hits.ip_for_storage("203.0.113.77")
    assert hashed == hits.ip_for_storage("203.0.113.77")
    assert "203" not in hashed
    assert len(hashed) == 32


def test_hits_a_dead_consumer_took_from_redis_are_applied_once(ses, redis_only, settings):
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel)
    Client().get(pixel)
    client, key = hits._redis(), settings.TRACKING_HITS_REDIS_KEY
    taken = client.eval(hits._TAKE_LUA, 2, key, f"{key}:processing", 1)  # A consumer took one…
    with transaction.atomic():
        hits._events_from_hits([hits._hit_parse(taken[0])])  # …wrote its event, and died.
    assert client.llen(f"{key}:processing") == 1

    lock = client.lock(f"{key}:lock", timeout=5)
    lock.acquire()
    assert hits.tracking_hits_apply() == 0  # Someone else holds the consumer's lock.
    lock.release()

    assert hits.tracking_hits_apply() == 1  # The leftover first, without a second event…
    assert hits.tracking_hits_apply() == 1  # …then the rest.
    assert hits.tracking_hits_apply() == 0
    assert TrackingEvent.objects.filter(step_execution=row, type="open").count() == 2
    counted = Engagement.objects.get(step_execution=row)
    assert counted.opens + counted.machine_opens == 2  # The replayed hit is not counted again.


def test_with_redis_down_links_and_the_pixel_still_answer_and_their_hits_wait_in_the_database(
    ses, redis_only, redis_down
):
    row, html = _send()
    (pixel,), (click, _) = _paths(html, "o"), _paths(html, "c")
    redis_down()
    client = Client()
    clicked = client.get(click)
    assert clicked.status_code == 302
    assert clicked["Location"] == f"https://shop.example.com/sale?id={row.contact.external_id}"
    opened = client.get(pixel)
    assert (opened.status_code, opened.content) == (200, PIXEL_GIF)
    assert TrackingHit.objects.count() == 2

    assert hits.tracking_hits_apply() == 2  # The consumer drains the table while Redis is away.
    kinds = sorted(TrackingEvent.objects.filter(step_execution=row).values_list("type", flat=True))
    assert kinds == ["click", "open"]


# Forged and garbled tokens, machines and privacy proxies (docs/reliability.md).
def test_forged_unknown_or_swapped_click_tokens_are_404_and_record_nothing(ses):
    row, html = _send()
    first, _ = _paths(html, "c")
    other = StepExecutionFactory(step=row.step, status=StepExecution.Status.SENT)
    link_id = TrackedLink.objects.get(url__startswith="https://shop").pk
    valid_for_other = tokens.click_token(tracking_id=other.tracking_id, link_id=link_id)
    token = first.rsplit("/", 1)[1]
    own_value, signature = token.rsplit(":", 1)
    other_value = valid_for_other.rsplit(":", 1)[0]
    client = Client()
    for bad in (
        f"{other_value}:{signature}",  # Another recipient's ids under this token's signature.
        tokens.click_token(tracking_id=row.tracking_id, link_id=987654321)[:-3] + "abc",
        token[: len(token) // 2],  # Cut short by a scanner's rewrite.
        own_value,
        "",
    ):
        response = client.get(f"/c/{bad}?url=https://evil.com")
        assert response.status_code == 404, bad
        assert "Location" not in response.headers
    assert (
        client.get(f"/c/{tokens.click_token(tracking_id=row.tracking_id, link_id=987654321)}").status_code
        == 404
    )
    assert hits.tracking_hits_apply() == 0
    assert client.get(first).status_code == 302  # The genuine link still works.


def test_a_post_to_a_tracking_link_is_a_405_not_a_csrf_refusal():
    client = Client(enforce_csrf_checks=True)
    for link in (f"/c/{'x' * 20}", f"/o/{'x' * 20}.gif"):
        response = client.post(link)
        assert response.status_code == 405, link
        assert set(response["Allow"].split(", ")) == {"GET", "HEAD"}


def test_head_requests_and_link_bursts_are_machines_and_kept_out_of_human_metrics(ses):
    from tracking.selectors import campaign_stats

    row, html = _send()
    first, second = _paths(html, "c")
    client = Client()
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert client.head(first).status_code == 302
        client.get(first)
        client.get(second)  # Both links in the same instant: a security scanner.
    with time_machine.travel(timezone.now() + timedelta(minutes=9)):
        client.get(second)  # A person, later.
    hits.tracking_hits_apply()
    machine = list(
        TrackingEvent.objects.filter(type="click")
        .order_by("occurred_at", "pk")
        .values_list("is_machine", "kind")
    )
    assert machine == [(True, hits.SCANNER), (True, hits.SCANNER), (True, hits.SCANNER), (False, "")]
    stats = campaign_stats(campaign=row.step.campaign)
    assert (stats["clicks_unique"], stats["clicks_total"], stats["machine_clicks_total"]) == (1, 1, 3)


@pytest.mark.parametrize(
    ("user_agent", "ip", "kind"),
    [
        ("Mozilla/5.0", "17.58.101.12", "prefetch"),  # Apple Mail Privacy Protection
        ("Mozilla/5.0", "198.51.100.7", "prefetch"),  # The bare user agent alone
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
            "17.58.101.12",
            "prefetch",
        ),
        ("Apple Mail Privacy Protection", "198.51.100.7", "prefetch"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
            "198.51.100.7",
            "",
        ),
    ],
)
def test_apple_privacy_protection_opens_are_machine_opens(ses, user_agent, ip, kind):
    _row, html = _send()
    (pixel,) = _paths(html, "o")
    response = Client().get(pixel, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    hits.tracking_hits_apply()
    event = TrackingEvent.objects.get(type="open")
    assert (event.is_machine, event.kind) == (bool(kind), kind)


def test_stats_count_each_links_human_clicks_apart_from_machines(ses, api_client):
    row, html = _send()
    shop, _blog = _paths(html, "c")
    client = Client()
    client.head(shop)  # A scanner.
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        client.get(shop)
    with time_machine.travel(timezone.now() + timedelta(minutes=9)):
        client.get(shop)
    hits.tracking_hits_apply()
    links = api_client.get(f"/api/v1/campaigns/{row.step.campaign_id}/stats").json()["links"]
    assert links == [
        {
            "url": f"https://shop.example.com/sale?id={row.contact.external_id}",
            "step": 1,
            "clicks_unique": 1,
            "clicks_total": 2,
            "machine_clicks_total": 1,
        },
        {
            "url": "https://blog.example.com/",
            "step": 1,
            "clicks_unique": 0,
            "clicks_total": 0,
            "machine_clicks_total": 0,
        },
    ]


def test_whoever_follows_the_hidden_link_is_a_machine_and_so_are_its_clicks_around_it(ses):
    _row, html = _send()
    shop, _blog = _paths(html, "c")
    trap = _honeypot(html)
    assert 'style="display:none' in html.split(trap.rsplit("/", 1)[1])[1].split(">")[0]
    client = Client()
    later = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        client.get(shop)
    with time_machine.travel(later + timedelta(seconds=3), tick=False):
        client.get(trap)  # The scanner's crawl reaches the hidden link.
    with time_machine.travel(later + timedelta(minutes=10)):
        client.get(shop)  # A person, much later.
    hits.tracking_hits_apply()
    clicks = TrackingEvent.objects.filter(type="click").order_by("occurred_at")
    assert [event.is_machine for event in clicks] == [True, True, False]


def test_a_burst_split_between_two_consumer_runs_is_still_a_machine(ses, hit_store):
    _row, html = _send()
    shop, blog = _paths(html, "c")
    client = Client()
    later = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        client.get(shop)
    hits.tracking_hits_apply()  # The first click is written alone, and looks human…
    assert TrackingEvent.objects.get(type="click").is_machine is False
    with time_machine.travel(later + timedelta(milliseconds=400), tick=False):
        client.get(blog)
    hits.tracking_hits_apply()  # …until the next one, 0.4 s later on another link.
    assert list(TrackingEvent.objects.filter(type="click").values_list("is_machine", "kind")) == [
        (True, hits.SCANNER),
        (True, hits.SCANNER),
    ]


@pytest.mark.parametrize(
    ("order", "machine"),
    [
        ("ABAA", [True, True, True, True]),  # A repeat after the burst is the scanner's too.
        ("ABB", [True, True, True]),
        ("AA", [False, False]),  # One link twice: a person's double click.
    ],
)
def test_every_click_near_a_click_on_another_link_of_the_email_is_a_machines(ses, order, machine):
    _row, html = _send()
    shop, blog = _paths(html, "c")
    client = Client()
    later = timezone.now() + timedelta(minutes=5)
    for n, link in enumerate(order):
        with time_machine.travel(later + timedelta(milliseconds=3 * n), tick=False):
            client.get(shop if link == "A" else blog)
    hits.tracking_hits_apply()

    clicks = TrackingEvent.objects.filter(type="click").order_by("occurred_at", "pk")
    assert [event.is_machine for event in clicks] == machine


def test_behind_a_trusted_load_balancer_the_apple_rule_sees_the_readers_address(ses, settings):
    import ipaddress

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.TRUSTED_PROXY_NETWORKS = (ipaddress.ip_network("10.0.0.0/8"),)
    _row, html = _send()
    (pixel,) = _paths(html, "o")
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
    # Apple's prefetch, forwarded by the balancer: the machine is recognised by its own address.
    Client().get(pixel, HTTP_USER_AGENT=iphone, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="17.58.101.12")
    hits.tracking_hits_apply()
    assert TrackingEvent.objects.get(type="open").is_machine is True


@pytest.mark.parametrize(
    "proxy",
    [
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    ],
)
def test_gmail_and_yahoo_proxy_opens_are_a_persons_open_once_per_email(ses, proxy):
    row, html = _send()
    (pixel,), (click, _) = _paths(html, "o"), _paths(html, "c")
    client = Client()
    client.get(pixel, HTTP_USER_AGENT=proxy)  # The reader opens it in Gmail or Yahoo Mail.
    hits.tracking_hits_apply()
    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        client.get(pixel, HTTP_USER_AGENT=proxy)  # The proxy again: its cache, or a refresh.
        client.get(click, HTTP_USER_AGENT=proxy)  # A proxy clicks nothing a person chose.
    hits.tracking_hits_apply()

    opens = TrackingEvent.objects.filter(type="open").order_by("occurred_at")
    opens = list(opens.values_list("is_machine", "kind"))
    assert opens == [(False, hits.VIA_PROXY), (True, hits.VIA_PROXY)]
    assert TrackingEvent.objects.get(type="click").is_machine is True
    from tracking.selectors import campaign_stats

    stats = campaign_stats(campaign=row.step.campaign)
    assert (stats["opens_unique"], stats["opens_total"], stats["machine_opens_total"]) == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_a_served_link_still_redirects_and_another_answers_503(ses, redis_only):
    _row, html = _send()
    first, second = _paths(html, "c")
    client = Client()
    assert client.get(first).status_code == 302  # This process now knows where it leads.
    with database_down():
        again, other = client.get(first), client.get(second)
    assert again.status_code == 302
    assert other.status_code == 503


def test_an_email_with_more_links_than_the_limit_fails_alone_with_the_reason(ses, settings):
    settings.TRACKING_MAX_LINKS = 5
    campaign = sendable_campaign(contacts=2)
    step = campaign.steps.get()
    step.template = TemplateFactory(
        html_body='{% for n in attributes.links %}<a href="https://example.org/{{ n }}">x</a>{% endfor %}'
    )
    step.save()
    greedy, modest = campaign.lists.get().contacts.order_by("pk")
    greedy.attributes, modest.attributes = {"links": [1, 2, 3, 4, 5]}, {"links": [1, 2, 1, 2]}
    greedy.save()
    modest.save()
    _schedule_and_send(campaign)
    (sent,) = sent_messages()
    assert modest.email in sent.destinations
    failed = StepExecution.objects.get(step=step, contact=greedy)
    assert failed.status == StepExecution.Status.FAILED
    assert "more than 5 distinct links to track" in failed.last_error  # Five, and the hidden one.


@pytest.mark.parametrize(
    ("html_body", "said"),
    [
        # Nothing shows for a contact without a first name: it would go out as text only.
        ("{% if contact.first_name %}<p>Hi {{ contact.first_name }}</p>{% endif %}", "shows nothing"),
        # A contact's data prints what swallows the rest of the email, the pixel with it.
        ("<p>Hi {{ contact.first_name }}</p>{{ attributes.footer|safe }}", "open pixel"),
    ],
)
def test_an_email_whose_html_would_carry_no_pixel_for_its_contact_fails_alone_with_the_reason(
    ses, html_body, said
):
    campaign = sendable_campaign(contacts=2)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body, text_body="Hi")
    step.save()
    hidden, shown = campaign.lists.get().contacts.order_by("pk")
    hidden.first_name, hidden.attributes = "", {"footer": "<template><plaintext>Sent by Acme"}
    shown.first_name, shown.attributes = "Bea", {"footer": "<p>Sent by Acme</p>"}
    hidden.save()
    shown.save()
    _schedule_and_send(campaign)

    (sent,) = sent_messages()
    assert shown.email in sent.destinations
    mime = email.message_from_string(sent.raw_data)
    html = next(part for part in mime.walk() if part.get_content_type() == "text/html")
    assert len(_paths(html.get_payload(decode=True).decode(), "o")) == 1
    failed = StepExecution.objects.get(step=step, contact=hidden)
    assert failed.status == StepExecution.Status.FAILED
    assert said in failed.last_error
    # It never counts among the emails the open rate is over.
    from tracking.selectors import campaign_stats

    assert campaign_stats(campaign=campaign)["opened_over"]["sent"] == 1


def test_an_emails_links_are_looked_up_in_one_query_however_many_it_has(ses, django_assert_max_num_queries):
    source = '{% for n in numbers %}<a href="https://example.org/{{ n }}">{{ n }}</a>{% endfor %}'
    row = StepExecutionFactory(step__campaign__track_clicks=True, step__template__html_body=source)
    html = "".join(f'<a href="https://example.org/{n}">{n}</a>' for n in range(200))
    rendered = delivery_compose.RenderedEmail(subject="Hi", html=html, text="see https://example.org/7 now")
    with django_assert_max_num_queries(4):
        tracked = delivery_compose.step_execution_track(execution=row, rendered=rendered)
    assert TrackedLink.objects.filter(step=row.step).count() == 201  # With the hidden link.
    paths = _paths(tracked.html, "c")
    assert len(paths) == 200
    assert "example.org" not in tracked.html + tracked.text
    target = Client().get(paths[7])
    assert target["Location"] == "https://example.org/7"


def test_an_email_nested_thousands_of_levels_deep_goes_out_whole_and_tracked(ses):
    _row, body = _send(
        '{% for i in ""|ljust:3000 %}<span>{% endfor %}<p><a href="https://example.org/">x</a> '
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a> 1 Main St</p>'
    )
    assert "1 Main St" in body
    assert "/u/" in body
    assert len(_paths(body, "c")) == 1
    assert len(_paths(body, "o")) == 1


def test_a_stored_link_django_will_not_redirect_to_is_a_400_and_counts_no_click(ses, hit_store):
    row = StepExecutionFactory()
    link = TrackedLink.objects.create(step=row.step, url="https://example.org/" + "a" * 16_400, url_hash="x")
    token = tokens.click_token(tracking_id=row.tracking_id, link_id=link.pk)
    assert Client().get(f"/c/{token}").status_code == 400
    assert hits.tracking_hits_apply() == 0


def _send_to_two(html_body: str, *, text_body: str = "Hi", first_attributes: dict | None = None):
    campaign = sendable_campaign(contacts=2)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body, text_body=text_body)
    step.save()
    first = campaign.lists.get().contacts.order_by("pk").first()
    first.attributes = first_attributes or {}
    first.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=30)
    return list(StepExecution.objects.filter(step=step).order_by("contact_id"))


def test_an_email_opening_with_many_comments_is_tracked_and_sent(ses):
    rows = _send_to_two("<!--x-->" * 60 + '<p><a href="https://example.org/a">a</a></p>')
    assert [row.status for row in rows] == [StepExecution.Status.SENT] * 2
    assert TrackedLink.objects.filter(url="https://example.org/a").exists()


def test_html_that_costs_tracking_more_than_a_render_may_fails_alone_and_the_sender_carries_on(ses):
    # libxml2 checks each attribute's name against the element's others: tens of thousands of
    # distinct names take it seconds, in the render process, which the kernel ends.
    names = " ".join(f"x{n}" for n in range(60_000))
    greedy, modest = _send_to_two(
        f"{{% if attributes.greedy %}}<p {names}>Hi</p>{{% endif %}}<p>Hello</p>",
        first_attributes={"greedy": True},
    )
    assert greedy.status == StepExecution.Status.FAILED
    assert "to render" in greedy.last_error
    assert modest.status == StepExecution.Status.SENT


def test_an_email_its_tracked_links_would_grow_past_the_output_limit_fails_alone(ses, settings):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 5_000
    many = "{% if attributes.greedy %}" + "http://a.example " * 200 + "{% endif %}"
    greedy, modest = _send_to_two("<p>Hi</p>", text_body=many, first_attributes={"greedy": True})
    assert greedy.status == StepExecution.Status.FAILED
    assert "with its links tracked" in greedy.last_error
    assert modest.status == StepExecution.Status.SENT


@pytest.mark.parametrize("part", ["html", "text"])
def test_an_email_that_renders_a_lone_surrogate_fails_alone_and_the_others_are_sent(ses, part):
    surrogate = '{% if attributes.greedy %}{{ 55296|stringformat:"c" }}{% endif %}'
    html = f'<p><a href="https://a.example/x{surrogate}y">a</a></p><p>More</p>'
    text = f"hello {surrogate}"
    greedy, modest = _send_to_two(
        html if part == "html" else "<p>Hi</p>",
        text_body=text if part == "text" else "Hi",
        first_attributes={"greedy": True},
    )
    assert greedy.status == StepExecution.Status.FAILED
    assert "lone surrogate" in greedy.last_error
    assert modest.status == StepExecution.Status.SENT


def test_a_text_part_made_from_html_tracks_an_address_with_an_unbalanced_parenthesis_whole(ses):
    row, _ = _send('<p><a href="https://shop.example.com/a)b">sale</a></p>')
    (sent,) = sent_messages()
    (text_part,) = [
        part.get_payload(decode=True).decode()
        for part in email.message_from_string(sent.raw_data).walk()
        if part.get_content_type() == "text/plain"
    ]
    urls = set(TrackedLink.objects.filter(step=row.step).values_list("url", flat=True))
    assert "https://shop.example.com/a)b" in urls
    assert "https://shop.example.com/a" not in urls
    # The whole address went through the redirect: no piece of it is left behind.
    assert re.fullmatch(r"\[sale\]\(https?://[^/]+/c/[^\s)]+\)", text_part.strip()), text_part


def _text_part_sent_to(*, first_name: str, html_body: str, text_body: str) -> str:
    """Send a one-contact campaign to a contact of this first name; return the text part it got."""
    campaign = sendable_campaign(contacts=1)
    Contact.objects.filter(lists__campaigns=campaign).update(first_name=first_name)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body, text_body=text_body)
    step.save()
    _schedule_and_send(campaign)
    (sent,) = sent_messages()
    (text_part,) = [
        part.get_payload(decode=True).decode()
        for part in email.message_from_string(sent.raw_data).walk()
        if part.get_content_type() == "text/plain"
    ]
    return text_part


@pytest.mark.parametrize(
    "text_body",
    [
        "",
        "Hello {{ contact.first_name }}",
        "Hello {{ contact.first_name }}, more at https://evil.example/acme",
    ],
    ids=["derived", "written", "written, with a link to the same host"],
)
def test_an_address_in_a_contacts_data_is_never_made_a_tracked_redirect(ses, text_body):
    text_part = _text_part_sent_to(
        first_name="https://evil.example/phish",
        html_body="<p>Hi {{ contact.first_name }}, welcome.</p>",
        text_body=text_body,
    )
    assert "https://evil.example/phish" in text_part  # Shown as the contact's text, as in the HTML…
    assert not TrackedLink.objects.filter(url__contains="phish").exists()  # …never redirected to.


def test_a_contacts_data_naming_the_honeypot_stays_plain_text_in_the_text_part(ses):
    text_part = _text_part_sent_to(
        first_name=delivery_compose.honeypot_url(),
        html_body='<p><a href="https://shop.example.com/">Shop</a></p>',
        text_body="Hi {{ contact.first_name }}",
    )
    # The hidden trap is the HTML's: a reader clicking it in the text would count as a machine.
    assert f"Hi {delivery_compose.honeypot_url()}" in text_part


def test_a_link_whose_text_is_its_own_address_is_sent_tracked(ses):
    row, _ = _send('<p><a href="https://shop.example.com/">https://shop.example.com/</a></p>')
    assert StepExecution.objects.get(pk=row.pk).status == StepExecution.Status.SENT
    assert "https://shop.example.com/" in TrackedLink.objects.values_list("url", flat=True)


@pytest.mark.parametrize(
    ("html_body", "first_name"),
    [
        (
            '<a {% if contact.first_name %}title={{ contact.first_name }}{% endif %} href="https://shop.example.com/">S</a>',
            "x href=https://evil.example/phish",
        ),
        ('<a href="{{ contact.first_name }}">Your site</a>', "https://evil.example/phish"),
        ('<a href="https://shop.example.com{{ contact.first_name }}">S</a>', ".evil.example/phish"),
        (
            '<img src="https://evil.example/logo.png"><a href="{{ contact.first_name }}">Your site</a>',
            "https://evil.example/phish",
        ),
        (
            '{# https://evil.example/ #}<a title={{ contact.first_name }}>x</a><a href="https://evil.example/">E</a>',
            "x href=https://evil.example/phish",
        ),
    ],
    ids=[
        "attribute added through an unquoted value",
        "a whole href",
        "a host the data ends",
        "a host written in an image",
        "a host written in a comment and a whole link",
    ],
)
def test_an_html_link_a_contacts_data_chose_is_never_a_tracked_redirect(ses, html_body, first_name):
    campaign = sendable_campaign(contacts=1)
    Contact.objects.filter(lists__campaigns=campaign).update(first_name=first_name)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body=html_body, text_body="")
    step.save()
    _schedule_and_send(campaign)
    assert len(sent_messages()) == 1
    assert not TrackedLink.objects.filter(url__contains="phish").exists()


def test_an_email_a_persons_click_opened_counts_an_open_in_the_totals_too(ses, api_client):
    from tracking.selectors import campaign_stats

    row, html = _send()
    (pixel,), (click, _) = _paths(html, "o"), _paths(html, "c")
    browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"
    client = Client()
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        client.get(click, HTTP_USER_AGENT=browser)  # Images blocked: the pixel never loads.
    hits.tracking_hits_apply()
    url = f"/api/v1/campaigns/{row.step.campaign_id}/stats"

    body = api_client.get(url).json()
    for figures in (body, body["opened_over"]):
        assert figures["opens_unique"] == figures["opens_total"] == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=9)):
        client.get(pixel, HTTP_USER_AGENT=browser)  # Images shown later: the open the click implied.
    hits.tracking_hits_apply()
    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        client.get(pixel, HTTP_USER_AGENT=browser)  # Read again.
    hits.tracking_hits_apply()

    body = api_client.get(url).json()
    pixel_opens = TrackingEvent.objects.filter(type="open", is_machine=False).count()
    for figures in (body, body["opened_over"]):
        assert (figures["opens_unique"], figures["opens_total"]) == (1, pixel_opens)
    assert campaign_stats(campaign=row.step.campaign)["opens_total"] == pixel_opens
