"""The home page: campaigns and how they did, what needs attention, the audience, the account's health."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.consent import ConsentActor, contact_status_change
from campaigns.models import Campaign, ConsentChange, Contact
from console.dashboard import home_dashboard
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.factories import ContactFactory, campaign_rows, sendable_campaign
from tests.tracking.test_ses_events import bounce, deliver, fixture, for_row
from tracking.models import Alert

pytestmark = pytest.mark.django_db


def _sent(campaign: Campaign) -> list[StepExecution]:
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    return list(campaign_rows(campaign))


def test_the_home_page_lists_campaigns_under_way_first_with_their_rates(ses, admin_client):
    done = sendable_campaign(contacts=4, name="Spring sale")
    first, second, third, fourth = _sent(done)
    for row in (first, second, third):
        deliver(for_row(fixture("event-delivery.json"), row))
    deliver(bounce(fourth))
    deliver(for_row(fixture("event-open.json"), first))
    waiting = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=2, name="Autumn news"))

    page = admin_client.get(reverse("admin:index"))

    rows = page.context["home_campaigns"]
    assert [row["campaign"].name for row in rows] == ["Autumn news", "Spring sale"]
    spring = rows[1]
    assert (spring["recipients"], spring["counts"]["sent"], spring["counts"]["delivered"]) == (4, 4, 3)
    assert spring["rates"]["bounce"] == 0.25  # Hard bounces over sent.
    assert spring["rates"]["open"] == 1 / 3  # People who opened, over delivered, exact.
    html = page.content.decode()
    assert "Spring sale" in html
    assert "25.0%" in html
    assert "33.3%" in html
    assert reverse("admin:campaigns_campaign_report", args=[done.pk]) in html
    # Nothing sent yet: no report to link to, no rate to show.
    assert reverse("admin:campaigns_campaign_report", args=[waiting.pk]) not in html


def test_the_home_page_says_what_needs_attention_with_a_link_to_each(rf, admin_user):
    paused = sendable_campaign(contacts=1, name="Paused one")
    _ = campaign_services.campaign_schedule(campaign=paused)
    campaign_services.campaign_pause(campaign=paused, note="Paused to protect the sender's reputation")
    Alert.objects.create(kind=Alert.Kind.BOUNCE_RATE, campaign=paused, message="m", value=0.1, threshold=0.04)
    failed = sendable_campaign(contacts=2)
    campaign_services.campaign_schedule(campaign=failed)
    delivery_services.campaign_dispatch(campaign=failed)
    from delivery import fan_out

    fan_out.step_fan_out(step=failed.steps.get())
    campaign_rows(failed).update(status=StepExecution.Status.FAILED)
    request = rf.get("/admin/")
    request.user = admin_user

    items = home_dashboard(request=request)["home_attention"]

    texts = {item["text"]: item["link"] for item in items}
    assert texts["“Paused one” is paused: Paused to protect the sender's reputation"] == reverse(
        "admin:campaigns_campaign_change", args=[paused.pk]
    )
    assert texts["1 alert not yet acknowledged"].endswith("?acknowledged_at__isnull=True")
    assert texts["2 emails failed"].endswith("?status__exact=failed")


def test_the_audience_card_counts_who_joined_and_who_left_day_by_day():
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=3)):
        ContactFactory.create_batch(2)
    with time_machine.travel(now - timedelta(days=40)):  # Before the window: counted now, not as joined.
        old = ContactFactory()
    contact_status_change(
        contact=old,
        status=Contact.Status.UNSUBSCRIBED,
        actor=ConsentActor(by=ConsentChange.By.CONTACT, name=old.email, via=ConsentChange.Via.ONE_CLICK),
        reason="one click",
    )
    from campaigns.selectors import audience_growth

    growth = audience_growth(now=now)

    assert growth["subscribed"] == 2
    assert (growth["joined"], growth["left"]) == (2, 1)
    by_day = {day: (joined, left) for day, joined, left in growth["days"]}
    assert by_day[timezone.localdate(now - timedelta(days=3))] == (2, 0)
    assert by_day[timezone.localdate(now)] == (0, 1)
    assert len(growth["days"]) == 30


def test_account_health_sets_the_months_rates_against_the_guard_and_ses_lines(ses, settings):
    settings.SES_REPUTATION_MIN_SENT = 1
    rows = _sent(sendable_campaign(contacts=4))
    deliver(bounce(rows[0]))
    from tracking.reputation import sending_health

    health = sending_health(now=timezone.now())

    assert (health["sent"], health["campaigns"]) == (4, 1)
    bounce_rate = next(rate for rate in health["rates"] if rate["name"] == "bounce")
    assert (bounce_rate["value"], bounce_rate["count"]) == (0.25, 1)
    assert (bounce_rate["guard"], bounce_rate["review"], bounce_rate["pause"]) == (
        settings.SES_BOUNCE_RATE_LIMIT,
        0.05,
        0.10,
    )


def test_the_home_page_shows_a_staff_member_only_what_their_permissions_open(client):
    from django.contrib.auth.models import User

    from tests.utils import staff_login

    paused = sendable_campaign(contacts=1, name="Secret launch")
    campaign_services.campaign_schedule(campaign=paused)
    campaign_services.campaign_pause(campaign=paused, note="")
    Alert.objects.create(kind=Alert.Kind.BOUNCE_RATE, campaign=paused, message="m", value=0.1, threshold=0.04)
    StepExecution.objects.filter(step__campaign=paused).update(status=StepExecution.Status.FAILED)
    nobody = User.objects.create_user(username="nobody", password="pw", is_staff=True)
    staff_login(client, nobody)

    page = client.get(reverse("admin:index")).content.decode()

    assert client.get(reverse("admin:campaigns_campaign_changelist")).status_code == 403
    for hidden in ("Secret launch", "home-campaigns", "home-audience", "home-health", "alert", "failed"):
        assert hidden not in page, hidden
    assert "ask an administrator for a role" in page


def test_a_marketer_sees_every_part_of_the_home_page():
    from tests.utils import role_client

    sendable_campaign(contacts=1, name="Spring sale")

    page = role_client("Marketers").get(reverse("admin:index")).content.decode()

    for shown in ("Spring sale", 'id="home-campaigns"', 'id="home-audience"', 'id="home-health"'):
        assert shown in page, shown
    assert "ask an administrator for a role" not in page


def test_with_the_metrics_store_down_the_home_page_and_the_delivery_dashboard_still_answer(
    admin_client, redis_down
):
    redis_down()
    for url, parts in (("/admin/", 1), ("/admin/delivery/stepexecution/dashboard/", 2)):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        # The quota, and on the dashboard the limiter's rate too.
        assert response.content.decode().count("the metrics store does not answer") == parts, url


def test_the_quota_is_grouped_as_the_reader_groups_digits(admin_client):
    from core import fleet_metrics as fleet
    from delivery import metrics

    metrics.QUOTA_MAX.set(200000)
    metrics.QUOTA_USED.set(1862)
    fleet.metrics_flush()
    english = admin_client.get("/admin/").content.decode()
    german = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "1,862 of 200,000 used" in english
    assert "1.862 von 200.000 genutzt" in german


def test_counts_on_the_home_page_and_the_report_are_grouped_as_the_reader_groups_digits(admin_client):
    from campaigns.models import Contact
    from tests.factories import CampaignStepFactory

    Contact.objects.bulk_create(Contact(email=f"p{n}@example.com") for n in range(1001))
    step = CampaignStepFactory(campaign__status="completed")
    home = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<strong>1.001</strong>" in home
    assert "1.001 angemeldet" in home

    report = admin_client.get(f"/admin/campaigns/campaign/{step.campaign_id}/report/").content.decode()
    assert "0 opens" in report
    assert "0 clicks" in report


def test_a_campaign_without_delivery_events_shows_its_rates_marked_over_sent_on_the_home_page(admin_client):
    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(status="sent", step__campaign__status="completed")
    home = admin_client.get("/admin/").content.decode()
    assert "Over sent: SES reports no Delivery events for that campaign" in home
    assert 'title="Over sent: no Delivery events are reported for this campaign">—</td>' in home
    assert row.step.campaign.name in home


def test_the_api_keys_note_never_reaches_staff_the_keys_page_refuses(client):
    from core.models import ApiKey
    from core.services import api_key_create
    from tests.utils import role_client

    api_key_create(name="everything-key", scopes=ApiKey.Scope.values)
    marketer = role_client("Marketers")
    assert marketer.get("/admin/core/apikey/").status_code == 403
    assert "everything-key" not in marketer.get("/admin/").content.decode()


def test_the_home_page_lists_campaigns_that_ran_before_old_drafts():
    from datetime import timedelta

    from django.utils import timezone

    from console.dashboard import RECENT_CAMPAIGNS, home_campaigns
    from tests.factories import CampaignFactory

    finished = CampaignFactory(status="completed", started_at=timezone.now())
    for _ in range(RECENT_CAMPAIGNS):
        draft = CampaignFactory()
        draft.created_at = timezone.now() - timedelta(days=700)
        draft.save()

    assert home_campaigns()[0]["campaign"] == finished


def test_what_needs_attention_counts_as_the_reader_groups_digits(admin_client):
    from delivery.models import StepExecution
    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(status="failed")
    StepExecution.objects.bulk_create(
        StepExecution(step=row.step, contact=ContactFactory(), email=f"f{n}@example.com", status="failed")
        for n in range(1000)
    )
    from delivery.models import LedgerTally  # noqa: F401 - the tally follows by trigger.

    home = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "1.001 E-Mails fehlgeschlagen" in home


def test_the_audience_card_counts_neither_unconfirmed_signups_as_joined_nor_their_removal_as_left():
    from campaigns.consent import CONSENT_SYSTEM, contact_status_change
    from campaigns.selectors import audience_growth

    now = timezone.now()
    pending = ContactFactory(status=Contact.Status.PENDING)
    ContactFactory(status=Contact.Status.PENDING)
    contact_status_change(contact=pending, status=Contact.Status.UNSUBSCRIBED, actor=CONSENT_SYSTEM)

    growth = audience_growth(now=now)

    assert (growth["joined"], growth["left"]) == (0, 0)


def test_joined_counts_who_became_subscribed_not_who_was_made_unsubscribed():
    from campaigns.consent import CONSENT_SYSTEM, contact_status_change
    from campaigns.selectors import audience_growth

    ContactFactory(status=Contact.Status.UNSUBSCRIBED)  # An old opt-out list, imported.
    back = ContactFactory(status=Contact.Status.PENDING)
    contact_status_change(contact=back, status=Contact.Status.UNSUBSCRIBED, actor=CONSENT_SYSTEM)
    contact_status_change(
        contact=back,
        status=Contact.Status.SUBSCRIBED,
        actor=CONSENT_SYSTEM,
        resubscribe=True,
        reason="Confirmed",
    )

    assert audience_growth(now=timezone.now())["joined"] == 1
