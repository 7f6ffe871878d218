"""A real browser through removing a suppression: an administrator takes an address off the list,
saying why, and finds the removal on record. Screenshots go to var/screenshots/."""

import pytest
from django.contrib.auth.models import Group, User

from campaigns.models import Suppression, SuppressionRemoval
from tests.browser.pages import PASSWORD, click, enrol, log_in, shot
from tests.factories import SuppressionFactory


def _log_in_as_an_administrator(page, live_server) -> None:
    admin = User.objects.create_user("operator", "operator@campanile.test", PASSWORD, is_staff=True)
    admin.groups.add(Group.objects.get(name="Administrators"))
    log_in(page, live_server.url, "operator", PASSWORD)
    enrol(page)
    page.wait_for_selector("#campanile-home")


def _remove_the_first_listed(page) -> None:
    """Choose "Remove from the suppression list…" for the first row listed; wait for its page."""
    click(page, "#result_list input.action-select >> nth=0")
    page.select_option("select[name=action]", "remove_suppressions")
    click(page, "#changelist-actions button[name=index]")
    page.wait_for_selector("#suppression-remove-form")


@pytest.mark.django_db(transaction=True)
def test_an_administrator_removes_a_suppression_saying_why_and_finds_it_on_record(browser, live_server):
    page = browser
    SuppressionFactory(email="fixed@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    SuppressionFactory(email="kept@example.com", reason=Suppression.Reason.COMPLAINT)
    _log_in_as_an_administrator(page, live_server)

    page.goto(f"{live_server.url}/admin/campaigns/suppression/?q=fixed")
    _remove_the_first_listed(page)
    assert "1 address selected. fixed@example.com." in page.inner_text("#main")
    page.fill("#id_reason", "Their IT fixed the mailbox; they asked by phone")
    shot(page, "26-suppression-remove")
    click(page, "#suppression-remove-form input[name=apply]")
    page.wait_for_selector("text=1 address removed from the list.")

    page.goto(f"{live_server.url}/admin/campaigns/suppression/")
    listed = page.inner_text("#result_list")
    assert "kept@example.com" in listed
    assert "fixed@example.com" not in listed
    click(page, "text=Removed")
    page.wait_for_selector("text=Suppressions removed")
    record = page.inner_text("#result_list")
    shot(page, "27-suppressions-removed")

    assert "fixed@example.com" in record
    assert "Their IT fixed the mailbox" in record
    assert "operator" in record
    assert list(Suppression.objects.values_list("email", flat=True)) == ["kept@example.com"]
    assert SuppressionRemoval.objects.get().reason.startswith("Their IT")


@pytest.mark.django_db(transaction=True)
def test_an_administrator_lifting_a_bounce_whose_owner_opted_out_is_told_the_opt_out_stays(
    browser, live_server
):
    page = browser
    SuppressionFactory(email="both@example.com", reason=Suppression.Reason.HARD_BOUNCE, opted_out=True)
    _log_in_as_an_administrator(page, live_server)

    page.goto(f"{live_server.url}/admin/campaigns/suppression/?q=both")
    _remove_the_first_listed(page)
    asked = page.inner_text("#main")
    assert "1 of them had opted out too" in asked
    assert "Campaigns may mail them again" not in asked  # Not this one: its opt-out stays.
    page.fill("#id_reason", "The mailbox works again")
    shot(page, "28-suppression-remove-opted-out")
    click(page, "#suppression-remove-form input[name=apply]")
    page.wait_for_selector("text=1 address had opted out too")
    assert "removed from the list" not in page.inner_text("#main")
    shot(page, "29-suppression-opt-out-kept")

    row = page.inner_text("#result_list")
    assert "both@example.com" in row
    assert "Unsubscribed" in row
    kept = Suppression.objects.get()
    assert (kept.reason, kept.opted_out) == (Suppression.Reason.UNSUBSCRIBE, True)
    assert SuppressionRemoval.objects.get().suppression_reason == Suppression.Reason.HARD_BOUNCE
