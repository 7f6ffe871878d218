"""Deleting a list or a campaign while a segment or a campaign being saved names it: one waits for
the other, so no segment names what is gone and no campaign is left mailing its segments alone."""

import json
import threading
import time
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import Campaign, ContactList, Segment
from core.models import ApiKey
from core.services import api_key_create
from tests.factories import CampaignFactory, ContactListFactory, SegmentFactory
from tests.utils import staff_login

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1"
PRO = {"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}


def _api() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(name="race", scopes=ApiKey.Scope.values)[1])
    return client


def _staff() -> Client:
    client = Client()
    staff_login(client, User.objects.create_superuser(username="boss", password="pw"))
    return client


def _not_on(contact_list: ContactList) -> dict:
    return {"match": "all", "rules": [{"list": contact_list.pk, "op": "not_in"}]}


def _opened(campaign: Campaign) -> dict:
    return {"match": "all", "rules": [{"engagement": "opened", "campaigns": [campaign.pk]}]}


def _second_while_first_is_uncommitted(first: Callable, second: Callable) -> tuple:
    """Run first in a transaction left open, then second in another thread; commit first after
    half a second. Return first's and second's answers, and whether second waited for the commit."""
    held, release, answers = threading.Event(), threading.Event(), {}

    def run_first():
        try:
            with transaction.atomic():
                answers["first"] = first()
                held.set()
                release.wait(10)
        finally:
            held.set()
            connection.close()

    def run_second():
        answers["second"] = second()
        connection.close()

    holder = threading.Thread(target=run_first)
    holder.start()
    held.wait(10)
    racer = threading.Thread(target=run_second)
    racer.start()
    time.sleep(0.5)
    waited = "second" not in answers
    release.set()
    holder.join(10)
    racer.join(10)
    return answers["first"], answers["second"], waited


def test_a_list_deleted_while_a_segment_naming_it_is_saved_waits_and_is_refused(postgres_only):
    hold = ContactListFactory(name="Legal hold")
    saver, deleter = _api(), _api()

    saved, deleted, waited = _second_while_first_is_uncommitted(
        lambda: saver.post(
            f"{API}/segments", {"name": "Mailable", "definition": _not_on(hold)}, format="json"
        ),
        lambda: deleter.delete(f"{API}/lists/{hold.pk}"),
    )

    assert saved.status_code == 201, saved.content
    assert waited
    assert deleted.status_code == 409
    assert "Mailable" in deleted.json()["error"]["message"]
    assert ContactList.objects.filter(pk=hold.pk).exists()


def test_a_segment_naming_a_list_being_deleted_waits_and_is_a_400(postgres_only):
    hold = ContactListFactory(name="Legal hold")
    segment = SegmentFactory(name="Everyone", definition=PRO)
    saver, deleter = _api(), _api()

    deleted, patched, waited = _second_while_first_is_uncommitted(
        lambda: deleter.delete(f"{API}/lists/{hold.pk}"),
        lambda: saver.patch(f"{API}/segments/{segment.pk}", {"definition": _not_on(hold)}, format="json"),
    )

    assert deleted.status_code == 204
    assert waited
    assert patched.status_code == 400
    assert f"No list {hold.pk}." in json.dumps(patched.json())
    segment.refresh_from_db()
    assert segment.definition == PRO


def test_a_campaign_deleted_while_a_segment_naming_it_is_saved_waits_and_is_refused(postgres_only):
    spring = CampaignFactory(name="Spring")
    saver, deleter = _api(), _api()

    saved, deleted, waited = _second_while_first_is_uncommitted(
        lambda: saver.post(
            f"{API}/segments", {"name": "Openers", "definition": _opened(spring)}, format="json"
        ),
        lambda: deleter.delete(f"{API}/campaigns/{spring.pk}"),
    )

    assert saved.status_code == 201, saved.content
    assert waited
    assert deleted.status_code == 409
    assert "Openers" in deleted.json()["error"]["message"]
    assert Campaign.objects.filter(pk=spring.pk).exists()


def test_a_segment_naming_a_campaign_being_deleted_waits_and_is_a_400(postgres_only):
    spring = CampaignFactory(name="Spring")
    saver, deleter = _api(), _api()

    deleted, saved, waited = _second_while_first_is_uncommitted(
        lambda: deleter.delete(f"{API}/campaigns/{spring.pk}"),
        lambda: saver.post(
            f"{API}/segments", {"name": "Openers", "definition": _opened(spring)}, format="json"
        ),
    )

    assert deleted.status_code == 204
    assert waited
    assert saved.status_code == 400
    assert "A campaign the rule names does not exist." in json.dumps(saved.json())
    assert not Segment.objects.exists()


def test_a_list_deleted_while_a_campaign_is_narrowed_with_segments_waits_and_is_refused(postgres_only):
    vips = ContactListFactory(name="VIP small")
    campaign = CampaignFactory(name="VIP offer")
    campaign.lists.add(vips)
    pro = SegmentFactory(definition=PRO)
    editor, deleter = _api(), _api()

    patched, deleted, waited = _second_while_first_is_uncommitted(
        lambda: editor.patch(
            f"{API}/campaigns/{campaign.pk}", {"lists": [vips.pk], "segments": [pro.pk]}, format="json"
        ),
        lambda: deleter.delete(f"{API}/lists/{vips.pk}"),
    )

    assert patched.status_code == 200, patched.content
    assert waited
    assert deleted.status_code == 409
    assert "VIP offer" in deleted.json()["error"]["message"]
    assert list(campaign.lists.all()) == [vips]


def test_a_campaign_narrowed_with_segments_while_its_list_is_deleted_waits_and_is_a_400(postgres_only):
    vips = ContactListFactory(name="VIP small")
    campaign = CampaignFactory(name="VIP offer")
    campaign.lists.add(vips)
    pro = SegmentFactory(definition=PRO)
    editor, deleter = _api(), _api()

    deleted, patched, waited = _second_while_first_is_uncommitted(
        lambda: deleter.delete(f"{API}/lists/{vips.pk}"),
        lambda: editor.patch(
            f"{API}/campaigns/{campaign.pk}", {"lists": [vips.pk], "segments": [pro.pk]}, format="json"
        ),
    )

    assert deleted.status_code == 204
    assert waited
    assert patched.status_code == 400
    assert f"No list {vips.pk}." in json.dumps(patched.json())
    assert not campaign.segments.exists()  # Never its segments alone: everyone in them.


def test_a_list_deleted_on_its_admin_page_while_a_segment_naming_it_is_saved_is_refused(postgres_only):
    hold = ContactListFactory(name="Legal hold")
    saver, staff = _api(), _staff()
    delete = reverse("admin:campaigns_contactlist_delete", args=[hold.pk])

    saved, deleted, waited = _second_while_first_is_uncommitted(
        lambda: saver.post(
            f"{API}/segments", {"name": "Mailable", "definition": _not_on(hold)}, format="json"
        ),
        lambda: staff.post(delete, {"post": "yes"}),
    )

    assert saved.status_code == 201, saved.content
    assert waited
    assert deleted.status_code == 403
    assert ContactList.objects.filter(pk=hold.pk).exists()


def test_a_list_deleted_while_the_admin_saves_a_segment_naming_it_waits_and_is_refused(postgres_only):
    hold = ContactListFactory(name="Legal hold")
    staff, deleter = _staff(), _api()
    add = reverse("admin:campaigns_segment_add")

    saved, deleted, waited = _second_while_first_is_uncommitted(
        lambda: staff.post(add, {"name": "Mailable", "definition": json.dumps(_not_on(hold))}),
        lambda: deleter.delete(f"{API}/lists/{hold.pk}"),
    )

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert waited
    assert deleted.status_code == 409
    assert ContactList.objects.filter(pk=hold.pk).exists()


def test_a_list_deleted_while_the_admin_narrows_a_campaign_with_segments_waits_and_is_refused(postgres_only):
    vips = ContactListFactory(name="VIP small")
    campaign = CampaignFactory(name="VIP offer")
    campaign.lists.add(vips)
    pro = SegmentFactory(definition=PRO)
    staff, deleter = _staff(), _api()
    page = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = {
        "name": campaign.name,
        "from_email": "News <news@campanile.test>",
        "lists": [vips.pk],
        "segments": [pro.pk],
        "audience_mode": "fixed",
        "timezone": "UTC",
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
    }

    saved, deleted, waited = _second_while_first_is_uncommitted(
        lambda: staff.post(page, data), lambda: deleter.delete(f"{API}/lists/{vips.pk}")
    )

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert waited
    assert deleted.status_code == 409
    assert list(campaign.lists.all()) == [vips]
