"""The consumer of opens and clicks: hits that hold what the database refuses, and privacy proxies."""

import dataclasses
import json
import time

import pytest
from django.test import Client

from tests.tracking.test_opens_and_clicks import _paths, _send
from tracking import hits
from tracking.models import TrackingEvent, TrackingHit

pytestmark = pytest.mark.django_db

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"


@pytest.mark.parametrize(
    ("user_agent", "stored"),
    [("a\x00b", "ab"), ("a\udc80b", "a\\udc80b")],
    ids=["nul", "lone-surrogate"],
)
def test_a_hit_whose_user_agent_holds_a_nul_is_counted_and_never_stops_the_others(
    ses, hit_store, user_agent, stored
):
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel, HTTP_USER_AGENT=user_agent)
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    assert hits.tracking_hits_apply() == 2
    agents = TrackingEvent.objects.filter(step_execution=row, type="open").values_list("raw", flat=True)
    assert sorted(raw["user_agent"] for raw in agents) == sorted([stored, IPHONE])
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    assert hits.tracking_hits_apply() == 1


def test_a_batch_holding_a_hit_the_database_refuses_sets_it_aside_and_counts_the_rest(
    ses, redis_only, settings, caplog
):
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    # A hit a web process recorded before user agents were made storable: jsonb refuses its NUL.
    refused = ["0" * 32, "open", row.tracking_id.hex, None, time.time(), "GET", "a\x00b", ""]
    hits._redis().lpush(settings.TRACKING_HITS_REDIS_KEY, json.dumps(refused))
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)

    assert hits.tracking_hits_apply() == 3
    assert TrackingEvent.objects.filter(step_execution=row, type="open").count() == 2
    assert "set aside" in caplog.text
    assert not hits._redis().exists(f"{settings.TRACKING_HITS_REDIS_KEY}:processing")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    assert hits.tracking_hits_apply() == 1  # The next tick is not stuck on it.
    assert TrackingEvent.objects.filter(step_execution=row, type="open").count() == 3


def test_a_table_batch_holding_a_hit_the_database_refuses_sets_it_aside_and_counts_the_rest(
    ses, settings, monkeypatch, caplog
):
    settings.REDIS_URL = ""
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    bad = TrackingHit.objects.create(kind="open", tracking_id=row.tracking_id, method="GET")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE)
    real = hits._Hit

    def read_back(*args, **kwargs):
        # No row the views write holds what jsonb refuses: this one is read back with a NUL.
        hit = real(*args, **kwargs)
        return dataclasses.replace(hit, user_agent="a\x00b") if hit.uid == f"db{bad.pk}" else hit

    monkeypatch.setattr(hits, "_Hit", read_back)
    assert hits.tracking_hits_apply() == 3
    assert TrackingEvent.objects.filter(step_execution=row, type="open").count() == 2
    assert "set aside" in caplog.text
    assert not TrackingHit.objects.exists()


@pytest.mark.parametrize("mode", ["hash", "truncate"])
def test_apples_proxy_is_recognised_when_addresses_are_hashed(ses, hit_store, settings, mode):
    settings.TRACKING_IP_MODE = mode
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="17.58.101.12")  # Apple's prefetch
    Client().get(pixel, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="198.51.100.7")  # The reader
    assert hits.tracking_hits_apply() == 2
    events = TrackingEvent.objects.filter(step_execution=row, type="open").order_by("occurred_at")
    assert [(event.is_machine, event.kind) for event in events] == [(True, "prefetch"), (False, "")]
    assert [event.raw["ip"] for event in events] == [
        hits.ip_for_storage("17.58.101.12"),
        hits.ip_for_storage("198.51.100.7"),
    ]


def test_a_hit_recorded_before_the_proxy_flag_is_still_judged_by_its_address(ses, redis_only, settings):
    row, _html = _send()
    legacy = ["1" * 32, "open", row.tracking_id.hex, None, time.time(), "GET", IPHONE, "17.58.101.0"]
    hits._redis().lpush(settings.TRACKING_HITS_REDIS_KEY, json.dumps(legacy))
    assert hits.tracking_hits_apply() == 1
    assert TrackingEvent.objects.get(step_execution=row, type="open").kind == "prefetch"


def test_with_no_addresses_kept_apples_proxy_is_known_by_its_user_agent_alone(ses, hit_store, settings):
    settings.TRACKING_IP_MODE = "none"
    row, html = _send()
    (pixel,) = _paths(html, "o")
    Client().get(pixel, HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="17.58.101.12")
    hits.tracking_hits_apply()
    assert TrackingEvent.objects.get(step_execution=row, type="open").is_machine is False
