"""The admin's sidebar (navigation by task) and what each role may reach through it."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.utils import role_client

pytestmark = pytest.mark.django_db

ENGINE_INTERNALS = [
    "admin:campaigns_campaignstep_changelist",
    "admin:campaigns_listmembership_changelist",
    "admin:delivery_sendinghold_changelist",
    "admin:tracking_snsmessage_changelist",
    "admin:tracking_softbouncestreak_changelist",
    "admin:tracking_sendeventscheck_changelist",
    "admin:loadtest_loadtestrun_changelist",
    "admin:django_celery_beat_periodictask_changelist",
    "admin:django_celery_beat_crontabschedule_changelist",
    "admin:django_celery_beat_intervalschedule_changelist",
    "admin:django_celery_beat_clockedschedule_changelist",
    "admin:django_celery_beat_solarschedule_changelist",
    "admin:axes_accessattempt_changelist",
    "admin:otp_totp_totpdevice_changelist",
    "admin:core_apikey_changelist",
    "admin:auth_user_changelist",
]


def _sidebar(page: str) -> tuple[list[str], list[str]]:
    """Return the sidebar's group titles and its links, as the page shows them."""
    sidebar = page[page.index('id="nav-sidebar-apps"') : page.index('id="main"')]
    groups = [title.strip() for title in re.findall(r"<h2[^>]*>\s*([^<]+?)\s*<", sidebar)]
    return groups, re.findall(r'<a href="(/admin/[^"]*)"', sidebar)


def _sidebar_of(role: str, *, shows: tuple[str, ...]) -> tuple[Client, list[str], list[str]]:
    """Return a client of this role and its sidebar's groups and links, after checking the sidebar
    shows these pages and that every page it offers opens for that role."""
    client = role_client(role)
    groups, hrefs = _sidebar(client.get(reverse("admin:index")).content.decode())
    for url_name in shows:
        assert reverse(url_name) in hrefs
    for href in set(hrefs):
        assert client.get(href).status_code == 200, href
    return client, groups, hrefs


@pytest.mark.parametrize("url_name", ENGINE_INTERNALS)
def test_a_marketer_reaches_no_engine_internal_nor_beats_schedule(url_name):
    assert role_client("Marketers").get(reverse(url_name)).status_code == 403


def test_the_sidebar_groups_pages_by_task_and_shows_a_marketer_only_what_a_marketer_opens():
    _client, groups, hrefs = _sidebar_of(
        "Marketers",
        shows=(
            "admin:index",
            "admin:campaigns_campaign_changelist",
            "admin:delivery_stepexecution_changelist",
            "admin:campaigns_contact_changelist",
            "admin:campaigns_contactlist_changelist",
            "admin:campaigns_template_changelist",
            "admin:tracking_alert_changelist",
        ),
    )
    assert groups == ["Campaigns", "Audience", "Content", "Deliverability", "Settings"]
    for url_name in ENGINE_INTERNALS:
        assert reverse(url_name) not in hrefs


def test_operators_find_the_engine_under_deliverability_and_settings_and_beat_stays_read_only():
    client, _groups, _hrefs = _sidebar_of(
        "Administrators",
        shows=(
            "admin:delivery_sendinghold_changelist",
            "admin:tracking_snsmessage_changelist",
            "admin:tracking_softbouncestreak_changelist",
            "admin:tracking_sendeventscheck_changelist",
            "admin:loadtest_loadtestrun_changelist",
            "admin:django_celery_beat_periodictask_changelist",
            "admin:core_apikey_changelist",
        ),
    )
    page = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert reverse("admin:django_celery_beat_periodictask_add") not in page.content.decode()


def test_operators_follow_a_beat_entry_to_its_schedule_and_change_neither():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="apply bounces", task="x.y", interval=every)
    client = role_client("Administrators")

    entry = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    schedule_url = reverse("admin:django_celery_beat_intervalschedule_change", args=[every.pk])
    schedule = client.get(schedule_url)
    changed = client.post(schedule_url, {"every": 1, "period": IntervalSchedule.SECONDS})

    assert entry.status_code == 200
    assert schedule.status_code == 200
    assert 'name="_save"' not in schedule.content.decode()
    assert changed.status_code == 403
    every.refresh_from_db()
    assert (every.every, every.period) == (5, IntervalSchedule.MINUTES)


@pytest.mark.parametrize("page", ["abc", "0", "99", "-1", "٣", "9" * 5000])
def test_a_search_page_the_results_do_not_have_is_a_404_never_a_500(page):
    client = role_client("Marketers")

    odd = client.get("/admin/search/", {"s": "camp", "page": page})
    first = client.get("/admin/search/", {"s": "camp", "page": "1"})

    assert odd.status_code == 404
    assert first.status_code == 200
