"""Engagement counters: every email's, step's and link's opens and clicks, kept exact by the consumer."""

import importlib
import random
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from delivery import compose as delivery_compose
from delivery.models import Engagement, StepExecution
from tests.factories import CampaignStepFactory, StepExecutionFactory
from tests.tracking.test_ses_events import deliver, fixture, for_row
from tracking import engagement, hits, unsubscribe
from tracking.models import LinkEngagement, StepEngagement, TrackingEvent
from tracking.selectors import ENGAGEMENT_COUNTERS, campaign_stats

pytestmark = pytest.mark.django_db

PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def _email(step) -> StepExecution:
    sent_at = timezone.now() - timedelta(hours=1)
    return StepExecutionFactory(step=step, status=StepExecution.Status.SENT, sent_at=sent_at)


def _link(step, url: str) -> int:
    return delivery_compose.step_link_id(step_id=step.pk, url=url)


def _hit(row, kind, at, *, link=None, method="GET", user_agent=PERSON) -> None:
    with time_machine.travel(at, tick=False):
        hits.hit_record(
            kind=kind, tracking_id=row.tracking_id, link_id=link, method=method, user_agent=user_agent, ip=""
        )


def _counters(model, **filters) -> dict:
    fields = [field.attname for field in model._meta.fields if field.attname != model._meta.pk.attname]
    return {row.pop("pk"): row for row in model.objects.filter(**filters).values("pk", *fields)}


def _recount() -> tuple[dict, dict]:
    """Count opens and clicks per step and link straight from the events, the slow way."""
    per_email = defaultdict(Counter)
    per_email_link = defaultdict(Counter)
    for event in TrackingEvent.objects.filter(type__in=["open", "click"]).select_related("step_execution"):
        key = event.step_execution.step_id, event.step_execution_id
        column = ("machine_" if event.is_machine else "") + f"{event.type}s"
        per_email[key][column] += 1
        if event.type == "click":
            per_email_link[event.raw["link_id"], event.step_execution_id][column] += 1
    steps = defaultdict(Counter)
    delivered = set(TrackingEvent.objects.filter(type="delivery").values_list("step_execution_id", flat=True))
    for (step_id, email_id), counts in per_email.items():
        # A person's click counts the email as opened, pixel or not; an opened email was delivered.
        opened = counts["opens"] > 0 or counts["clicks"] > 0
        steps[step_id]["opens_unique"] += opened
        steps[step_id]["arrived_unreported"] += opened and email_id not in delivered
        steps[step_id]["clicks_unique"] += counts["clicks"] > 0
        # An email a click opened with its pixel unseen counts one open in the total too.
        steps[step_id]["opens_total"] += max(counts["opens"], opened)
        steps[step_id]["clicks_total"] += counts["clicks"]
        for noun in ("opens", "clicks"):
            steps[step_id][f"machine_{noun}_total"] += counts[f"machine_{noun}"]
    links = defaultdict(Counter)
    for (link_id, _email_id), counts in per_email_link.items():
        links[link_id]["clicks_unique"] += counts["clicks"] > 0
        links[link_id]["clicks_total"] += counts["clicks"]
        links[link_id]["machine_clicks_total"] += counts["machine_clicks"]
    return steps, links


def _assert_counters_match_events():
    steps, links = _recount()
    for step_id, counts in _counters(StepEngagement).items():
        assert counts == {field: steps[step_id][field] for field in counts}, f"step {step_id}"
    assert {pk for pk, counts in steps.items() if any(counts.values())} <= set(_counters(StepEngagement))
    for link_id, counts in _counters(LinkEngagement).items():
        assert counts == {field: links[link_id][field] for field in counts}, f"link {link_id}"
    assert {pk for pk, counts in links.items() if any(counts.values())} <= set(_counters(LinkEngagement))


def test_each_email_step_and_link_counts_opens_and_clicks_with_machines_apart(hit_store):
    step = CampaignStepFactory()
    ada, bob, cy = (_email(step) for _ in range(3))
    shop, blog = _link(step, "https://shop.example.com/"), _link(step, "https://blog.example.com/")
    start = timezone.now()
    _hit(ada, "open", start + timedelta(minutes=1))
    _hit(ada, "open", start + timedelta(minutes=2), user_agent="Mozilla/5.0")  # Apple's prefetch.
    _hit(ada, "open", start + timedelta(minutes=3))
    _hit(ada, "click", start + timedelta(minutes=4), link=shop)
    _hit(ada, "click", start + timedelta(minutes=6), link=shop)
    _hit(ada, "click", start + timedelta(minutes=8), link=blog)
    _hit(bob, "open", start + timedelta(minutes=5))
    _hit(bob, "click", start + timedelta(minutes=5), link=shop, method="HEAD")  # A scanner.

    assert hits.tracking_hits_apply() == 8
    assert hits.tracking_hits_apply() == 0

    ada_counts = Engagement.objects.get(pk=ada.pk)
    assert (ada_counts.opens, ada_counts.machine_opens, ada_counts.clicks, ada_counts.machine_clicks) == (
        2,
        1,
        3,
        0,
    )
    assert ada_counts.first_opened_at == start + timedelta(minutes=1)
    assert ada_counts.first_clicked_at == start + timedelta(minutes=4)
    assert (ada_counts.links, ada_counts.machine_links) == ({str(shop): 2, str(blog): 1}, {})
    assert Engagement.objects.get(pk=bob.pk).machine_links == {str(shop): 1}
    assert not Engagement.objects.filter(pk=cy.pk).exists()
    counted = _counters(StepEngagement)[step.pk]
    assert {field: counted[field] for field in ENGAGEMENT_COUNTERS} == {
        "opens_unique": 2,
        "opens_total": 3,
        "machine_opens_total": 1,
        "clicks_unique": 1,
        "clicks_total": 3,
        "machine_clicks_total": 1,
    }
    assert _counters(LinkEngagement) == {
        shop: {"clicks_unique": 1, "clicks_total": 2, "machine_clicks_total": 1},
        blog: {"clicks_unique": 1, "clicks_total": 1, "machine_clicks_total": 0},
    }
    stats = campaign_stats(campaign=step.campaign)
    assert (stats["opens_unique"], stats["opens_total"], stats["machine_opens_total"]) == (2, 3, 1)
    assert (stats["clicks_unique"], stats["clicks_total"], stats["machine_clicks_total"]) == (1, 3, 1)


def test_an_emails_engagement_row_names_its_contact_for_the_conditions_and_segments_that_probe_it(hit_store):
    step = CampaignStepFactory()
    row = _email(step)
    _hit(row, "open", timezone.now())
    hits.tracking_hits_apply()

    assert Engagement.objects.get(pk=row.pk).contact_id == row.contact_id
    # The upgrade fills the rows made before the column, from the ledger.
    Engagement.objects.filter(pk=row.pk).update(contact=None)
    migration = importlib.import_module("delivery.migrations.0019_engagement_contact")
    with connection.cursor() as cursor:
        cursor.execute(migration.Migration.operations[1].sql)
    assert Engagement.objects.get(pk=row.pk).contact_id == row.contact_id


def test_a_persons_click_counts_its_email_as_opened_so_click_to_open_never_passes_all(hit_store):
    step = CampaignStepFactory()
    ada, bob, cy, dee = (_email(step) for _ in range(4))
    shop = _link(step, "https://shop.example.com/")
    start = timezone.now()
    _hit(ada, "click", start + timedelta(minutes=1), link=shop)  # Images blocked: no pixel.
    _hit(bob, "click", start + timedelta(minutes=2), link=shop)
    _hit(cy, "open", start + timedelta(minutes=3))
    _hit(dee, "click", start + timedelta(minutes=4), link=shop, method="HEAD")  # A scanner's.
    hits.tracking_hits_apply()

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["opens_unique"], stats["clicks_unique"]) == (3, 2)
    assert stats["opens_total"] == 3  # The clicked ones' opens too: never fewer opens than opened.
    assert stats["rates"]["click_to_open"] == 2 / 3
    assert [Engagement.objects.get(pk=row.pk).opened for row in (ada, bob, cy, dee)] == [1, 1, 1, 0]
    _assert_counters_match_events()

    engagement.engagement_forget(contact_ids=[ada.contact_id])  # Deleting a clicker takes one back.
    assert campaign_stats(campaign=step.campaign)["opens_unique"] == 2


def test_an_email_opened_before_ses_reports_it_delivered_counts_as_delivered(hit_store, settings):
    # Opens come straight from the reader; SES's Delivery events wait in the SNS queue behind them.
    # Rates over delivered must never pass 100% while that queue drains.
    from tracking.selectors import campaigns_figures

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [_email(step) for _ in range(10)]
    for n, row in enumerate(rows):
        row.ses_message_id = f"ses-lag-{n}"
        row.save()
    for row in rows[:2]:
        deliver(for_row(fixture("event-delivery.json"), row))
    later = timezone.now() + timedelta(minutes=5)
    for row in rows[1:5]:  # One delivered and opened; three opened before their Delivery came.
        _hit(row, "open", later)
    _hit(rows[4], "click", later, link=_link(step, "https://shop.example.com/"))
    hits.tracking_hits_apply()

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["delivered"], stats["delivered_reported"], stats["opens_unique"]) == (5, 2, 4)
    assert (stats["rates"]["delivery"], stats["rates"]["open"], stats["rates"]["click"]) == (0.5, 0.8, 0.2)
    assert stats["rates_base"] == "delivered"
    figures = campaigns_figures(campaign_ids=[step.campaign_id])[step.campaign_id]
    assert figures["rates"] == stats["rates"]

    deliver(for_row(fixture("event-delivery.json"), rows[2]))  # SES's report catches up: no change.
    deliver(for_row(fixture("event-delivery.json"), rows[2]))  # Reported twice: counted once.
    stats = campaign_stats(campaign=step.campaign)
    assert (stats["delivered"], stats["delivered_reported"], stats["rates"]["open"]) == (5, 3, 0.8)
    counted = _counters(StepEngagement)[step.pk]
    assert counted["arrived_unreported"] == 2
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.

    engagement.engagement_forget(contact_ids=[rows[3].contact_id])  # Opened, never reported delivered.
    assert _counters(StepEngagement)[step.pk]["arrived_unreported"] == 1


def test_without_delivery_events_opens_never_make_the_rates_over_delivered(hit_store):
    # A configuration set that publishes no Delivery events: the rates are over sent, as before,
    # not over the few emails a person opened (each open rate would read 100%).
    step = CampaignStepFactory()
    rows = [_email(step) for _ in range(4)]
    _hit(rows[0], "open", timezone.now() + timedelta(minutes=5))
    hits.tracking_hits_apply()

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["rates_base"], stats["rates"]["open"]) == ("sent", 0.25)
    # Nor is "delivered" the opened count: it stays as SES reported it, which the report says is unknown.
    assert (stats["delivered"], stats["rates"]["delivery"]) == (0, None)


def test_an_unsubscribe_or_a_complaint_before_ses_reports_delivery_counts_as_delivered(settings):
    # A one-click unsubscribe or a complaint proves the email arrived, as an open does.
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [_email(step) for _ in range(4)]
    for n, row in enumerate(rows):
        row.ses_message_id = f"ses-proof-{n}"
        row.save()
    deliver(for_row(fixture("event-delivery.json"), rows[0]))
    for row in rows[:3]:
        unsubscribe.step_execution_unsubscribe(execution=row, source="one-click")
    deliver(for_row(fixture("event-complaint.json"), rows[3]))

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["delivered"], stats["delivered_reported"]) == (4, 1)
    assert (stats["rates"]["unsubscribe"], stats["rates"]["delivery"]) == (0.75, 1.0)
    counted = _counters(StepEngagement)[step.pk]
    assert counted["arrived_unreported"] == 3
    deliver(for_row(fixture("event-delivery.json"), rows[3]))  # SES's report comes after the complaint.
    assert _counters(StepEngagement)[step.pk]["arrived_unreported"] == 2
    assert campaign_stats(campaign=step.campaign)["delivered"] == 4
    counted = _counters(StepEngagement)[step.pk]
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.


def test_an_email_opened_then_reported_bounced_still_counts_as_delivered_so_no_rate_passes_all(
    hit_store, settings
):
    # A bounce after an open (a block bounce whose Delivery is still queued, a late asynchronous
    # bounce): the open proved the email arrived, so it stays delivered and every rate over
    # delivered stays at most 100%; the bounce is counted too, as SES counts both.
    from tests.tracking.test_ses_events import bounce

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [_email(step) for _ in range(3)]
    for n, row in enumerate(rows):
        row.ses_message_id = f"ses-open-bounce-{n}"
        row.save()
    deliver(for_row(fixture("event-delivery.json"), rows[0]))
    later = timezone.now() + timedelta(minutes=5)
    for row in rows[1:]:
        _hit(row, "open", later)
    hits.tracking_hits_apply()
    for row in rows[1:]:
        deliver(bounce(row))
    unsubscribe.step_execution_unsubscribe(execution=rows[2], source="one-click")

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["delivered"], stats["opens_unique"], stats["bounced_hard"]) == (3, 2, 2)
    assert max(rate for rate in stats["rates"].values() if rate is not None) <= 1
    counted = _counters(StepEngagement)[step.pk]
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.


@pytest.mark.parametrize("without", ["the pixel switched off", "html to carry it"])
def test_a_campaign_without_the_open_pixel_has_no_open_rate_made_of_its_clicks(hit_store, without):
    from campaigns.models import Campaign
    from tracking.selectors import campaigns_figures

    if without == "the pixel switched off":
        step = CampaignStepFactory(campaign__track_opens=False)
    else:
        step = CampaignStepFactory(
            template__html_body="", template__text_body="Hi: https://shop.example.com/"
        )
    ada, _bob = _email(step), _email(step)
    _hit(ada, "click", timezone.now(), link=_link(step, "https://shop.example.com/"))
    hits.tracking_hits_apply()

    campaign = Campaign.objects.get(pk=step.campaign_id)
    for rates in (
        campaign_stats(campaign=campaign)["rates"],
        campaigns_figures(campaign_ids=[campaign.pk])[campaign.pk]["rates"],
    ):
        assert (rates["open"], rates["click_to_open"], rates["click"]) == (None, None, 0.5)


def test_a_click_judged_a_machines_later_moves_out_of_the_human_counts(hit_store):
    step = CampaignStepFactory()
    ada = _email(step)
    shop, blog = _link(step, "https://shop.example.com/"), _link(step, "https://blog.example.com/")
    later = timezone.now() + timedelta(minutes=5)
    _hit(ada, "click", later, link=shop)
    hits.tracking_hits_apply()
    assert _counters(StepEngagement)[step.pk]["clicks_unique"] == 1  # Alone, it looks human…
    _hit(ada, "click", later + timedelta(milliseconds=300), link=blog)
    hits.tracking_hits_apply()  # …until its burst partner arrives in the next batch.

    counts = _counters(StepEngagement)[step.pk]
    assert (counts["clicks_unique"], counts["clicks_total"], counts["machine_clicks_total"]) == (0, 0, 2)
    assert _counters(LinkEngagement)[shop] == {
        "clicks_unique": 0,
        "clicks_total": 0,
        "machine_clicks_total": 1,
    }
    counted = Engagement.objects.get(pk=ada.pk)
    assert counted.first_clicked_at is None
    assert (counted.links, counted.machine_links) == ({}, {str(shop): 1, str(blog): 1})  # No zeros kept.
    _assert_counters_match_events()


def test_counters_equal_a_recount_of_the_events_whatever_the_batches(hit_store):
    chance = random.Random(20261122)
    steps = [CampaignStepFactory(), CampaignStepFactory()]
    emails = [_email(step) for step in steps for _ in range(5)]
    links = {step.pk: [_link(step, f"https://example.com/{step.pk}/{n}") for n in range(3)] for step in steps}
    start = timezone.now()
    for n in range(300):
        row = chance.choice(emails)
        kind = chance.choice(["open", "click"])
        _hit(
            row,
            kind,
            start + timedelta(seconds=chance.choice([n * 7, n * 7 + 0.5, n * 40])),
            link=chance.choice(links[row.step_id]) if kind == "click" else None,
            method=chance.choice(["GET"] * 5 + ["HEAD"]),
            user_agent=chance.choice([PERSON] * 4 + [GMAIL_PROXY, "Mozilla/5.0"]),
        )
        if chance.random() < 0.1:
            hits.tracking_hits_apply(batch=chance.randint(1, 40))
    while hits.tracking_hits_apply(batch=chance.randint(1, 40)):
        pass

    assert TrackingEvent.objects.count() == 300
    assert TrackingEvent.objects.filter(type="click", is_machine=True).exists()
    assert TrackingEvent.objects.filter(type="click", is_machine=False).exists()
    _assert_counters_match_events()


def test_ses_open_and_click_events_count_too(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0
    row = _email(CampaignStepFactory())
    row.ses_message_id = "ses-engagement-1"
    row.save()
    deliver(for_row(fixture("event-open.json"), row))
    deliver(for_row(fixture("event-click.json"), row))
    counts = Engagement.objects.get(pk=row.pk)
    assert (counts.opens, counts.clicks) == (1, 1)
    assert _counters(StepEngagement)[row.step_id]["clicks_unique"] == 1


def test_rebuild_restores_counters_from_the_events(hit_store):
    step = CampaignStepFactory()
    ada, bob = _email(step), _email(step)
    shop = _link(step, "https://shop.example.com/")
    later = timezone.now() + timedelta(minutes=5)
    _hit(ada, "open", later)
    _hit(bob, "click", later, link=shop)
    hits.tracking_hits_apply()
    right_steps, right_links = _counters(StepEngagement), _counters(LinkEngagement)
    StepEngagement.objects.update(opens_total=99)
    LinkEngagement.objects.all().delete()
    Engagement.objects.filter(pk=ada.pk).delete()

    call_command("engagement_rebuild", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert _counters(StepEngagement) == right_steps
    assert _counters(LinkEngagement) == right_links
    assert Engagement.objects.get(pk=ada.pk).opens == 1


@pytest.mark.django_db(transaction=True)
def test_consumers_and_ses_events_at_once_count_every_event_once(postgres_only, settings):
    settings.REDIS_URL = ""  # Table hits: two consumers share the work with SKIP LOCKED.
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    emails = [_email(step) for _ in range(3)]
    shop = _link(step, "https://shop.example.com/")
    start = timezone.now()
    for n in range(240):
        _hit(emails[n % 3], ["open", "click"][n % 2], start + timedelta(seconds=20 * n), link=shop)
    for n, row in enumerate(emails):
        row.ses_message_id = f"ses-race-{n}"
        row.save()
    failures = []

    def work(job):
        try:
            job()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def consume():
        while hits.tracking_hits_apply(batch=7):
            pass

    def ses_opens():
        for row in emails * 3:
            deliver(for_row(fixture("event-open.json"), row))

    threads = [threading.Thread(target=work, args=(job,)) for job in (consume, consume, ses_opens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert TrackingEvent.objects.count() == 240 + 9
    _assert_counters_match_events()
    assert _counters(StepEngagement)[step.pk]["opens_total"] == 120 + 9


def test_ses_outcomes_and_unsubscribes_count_each_email_once_by_class(settings):
    from tests.tracking.test_ses_events import bounce

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    rows = [_email(step) for _ in range(3)]
    for n, row in enumerate(rows):
        row.ses_message_id = f"ses-outcome-{n}"
        row.save()
    deliver(for_row(fixture("event-delivery.json"), rows[0]))
    deliver(for_row(fixture("event-delivery.json"), rows[0]))  # SES reported it twice.
    deliver(bounce(rows[1]))
    deliver(bounce(rows[2], kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(for_row(fixture("event-complaint.json"), rows[0]))
    unsubscribe.step_execution_unsubscribe(execution=rows[2], source="one-click")
    unsubscribe.step_execution_unsubscribe(execution=rows[2], source="one-click")

    fields = ("delivered", "bounced", "bounced_hard", "bounced_soft", "complained", "unsubscribed")
    counted = _counters(StepEngagement)[step.pk]
    assert tuple(counted[field] for field in fields) == (1, 2, 1, 1, 1, 1)
    stats = campaign_stats(campaign=step.campaign)
    # The soft-bounced email its recipient unsubscribed from arrived after all: delivered 1 + 1.
    assert (stats["delivered_reported"], stats["delivered"]) == (1, 2)
    assert (stats["bounced"], stats["complained"], stats["unsubscribed"]) == (2, 1, 1)
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.


def test_emails_whose_outcome_suppresses_the_address_are_counted_once_each(settings):
    from tests.tracking.test_ses_events import bounce

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    hard, complained, on_ses_list, soft, blocked = rows = [_email(step) for _ in range(5)]
    for n, row in enumerate(rows):
        row.ses_message_id = f"ses-suppressed-{n}"
        row.save()
    deliver(bounce(hard))
    deliver(bounce(hard))  # Reported twice: one email, counted once.
    deliver(for_row(fixture("event-delivery.json"), complained))
    deliver(for_row(fixture("event-complaint.json"), complained))
    deliver(bounce(on_ses_list, subtype="OnAccountSuppressionList"))
    deliver(bounce(soft, kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(bounce(blocked, kind="Transient", subtype="General", status="5.7.1"))

    stats = campaign_stats(campaign=step.campaign)
    assert stats["suppressed"] == 3
    assert (stats["bounced_hard"], stats["bounced_other"], stats["complained"]) == (1, 2, 1)
    counted = _counters(StepEngagement)[step.pk]
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.


def test_deleting_contacts_takes_their_emails_out_of_every_counter_and_rate(hit_store, settings):
    from campaigns.consent import contacts_delete
    from campaigns.models import Contact, Suppression

    step = CampaignStepFactory()
    shop = _link(step, "https://shop.example.com/")
    rows = [_email(step) for _ in range(4)]
    for n, row in enumerate(rows):  # SES's message ids, which its events name.
        row.ses_message_id = f"ses-deleted-{n}"
        row.save(update_fields=["ses_message_id"])
    later = timezone.now() - timedelta(minutes=30)
    for row in rows[:3]:  # Three delivered, opened, clicked; the fourth bounced.
        deliver(for_row(fixture("event-delivery.json"), row))
        _hit(row, "open", later)
        _hit(row, "click", later + timedelta(seconds=30), link=shop)
    _hit(rows[0], "click", later + timedelta(minutes=1), link=shop)  # A second click.
    deliver(for_row(fixture("event-bounce-permanent.json"), rows[3]))
    hits.tracking_hits_apply()

    contacts_delete(
        contacts=Contact.objects.filter(pk__in=[rows[0].contact_id, rows[3].contact_id]),
        source=Suppression.Source.ADMIN,
    )

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["sent"], stats["delivered"], stats["bounced_hard"]) == (2, 2, 0)
    assert (stats["opens_unique"], stats["opens_total"], stats["clicks_unique"], stats["clicks_total"]) == (
        2,
        2,
        2,
        2,
    )
    assert stats["rates"]["open"] == stats["rates"]["click"] == 1.0
    assert stats["links"][0] | {"url": ""} == {
        "url": "",
        "step": 1,
        "clicks_unique": 2,
        "clicks_total": 2,
        "machine_clicks_total": 0,
    }
    kept = _counters(StepEngagement), _counters(LinkEngagement)
    engagement.engagement_rebuild()  # The counters equal a recount of what is left.
    assert (_counters(StepEngagement), _counters(LinkEngagement)) == kept


@pytest.mark.django_db(transaction=True)
def test_an_open_counted_while_its_contact_is_deleted_never_outlives_the_email(postgres_only, settings):
    from django.db import IntegrityError, transaction

    from campaigns.models import Contact

    settings.REDIS_URL = ""  # Table hits: the consumer runs here, in its own transaction.
    step = CampaignStepFactory()
    _email(step)  # Kept: the one email left on record.
    gone = _email(step)
    _hit(gone, "open", timezone.now() - timedelta(minutes=5))  # Its first open: no engagement row yet.
    forgotten, release = threading.Event(), threading.Event()
    failures = []

    def delete():  # An admin deleting the contact, slow to finish (a big delete's collector).
        try:
            with transaction.atomic():
                engagement.engagement_forget(contact_ids=[gone.contact_id])
                forgotten.set()
                release.wait(10)
                Contact.objects.filter(pk=gone.contact_id).delete()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    def consume():  # The consumer, counting the open meanwhile.
        try:
            hits.tracking_hits_apply()
        except IntegrityError:
            pass  # It found the email gone; a later tick retries what is left.
        finally:
            connection.close()

    deleting = threading.Thread(target=delete)
    deleting.start()
    assert forgotten.wait(10)
    consuming = threading.Thread(target=consume)
    consuming.start()
    consuming.join(1)  # It waits on the email's row, or (unfixed) counts the open at once.
    release.set()
    deleting.join(20)
    consuming.join(20)
    hits.tracking_hits_apply()  # What the next tick does with anything left.

    assert failures == []
    assert not StepExecution.objects.filter(pk=gone.pk).exists()
    stats = campaign_stats(campaign=step.campaign)
    assert (stats["sent"], stats["opens_unique"], stats["opens_total"]) == (1, 0, 0)


def test_the_upgrade_counts_again_each_steps_emails_opened_with_clicks_in(hit_store):
    import importlib

    from django.apps import apps

    step = CampaignStepFactory()
    ada, bob = _email(step), _email(step)
    _hit(ada, "click", timezone.now(), link=_link(step, "https://shop.example.com/"))
    _hit(bob, "open", timezone.now())
    hits.tracking_hits_apply()
    StepEngagement.objects.filter(pk=step.pk).update(opens_unique=1)  # As counted before.

    upgrade = importlib.import_module("tracking.migrations.0013_opened_counts_clicks")
    upgrade.opens_unique_recount(apps, None)

    assert StepEngagement.objects.get(pk=step.pk).opens_unique == 2
    _assert_counters_match_events()


def test_the_upgrade_counts_a_clicks_open_in_the_totals_and_each_bounce_under_one_class(hit_store, settings):
    from django.apps import apps
    from django.db.models import F

    from tests.tracking.test_ses_events import bounce

    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    clicked, retried = _email(step), _email(step)
    retried.ses_message_id = "ses-upgrade-retried"
    retried.save(update_fields=["ses_message_id"])
    _hit(clicked, "click", timezone.now(), link=_link(step, "https://shop.example.com/"))
    hits.tracking_hits_apply()
    deliver(bounce(retried, kind="Transient", subtype="MailboxFull", status="4.2.2"))
    deliver(bounce(retried))
    counted = _counters(StepEngagement)[step.pk]
    # As counted before: the click's open left out of the total, the soft bounce kept beside the hard.
    row = Engagement.objects.get(pk=retried.pk)
    row.outcomes = [*row.outcomes, "bounced_soft"]
    row.save(update_fields=["outcomes"])
    StepEngagement.objects.filter(pk=step.pk).update(
        opens_total=F("opens_total") - 1, bounced_soft=F("bounced_soft") + 1
    )

    upgrade = importlib.import_module("tracking.migrations.0017_opens_and_bounces_counted_once")
    upgrade.opens_and_bounces_recount(apps, None)

    assert _counters(StepEngagement)[step.pk] == counted
    assert "bounced_soft" not in Engagement.objects.get(pk=retried.pk).outcomes
    engagement.engagement_rebuild()
    assert _counters(StepEngagement)[step.pk] == counted  # The events say the same.


def test_an_unknown_row_whose_recipient_is_seen_is_sent_so_delivered_never_passes_sent(hit_store, settings):
    # A worker died mid-call: SES's fate of the email is unknown, until its recipient opens it, an
    # unsubscribe comes through its link, or SES reports anything of it (a complaint, say).
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory()
    seen, complained, silent = (
        StepExecutionFactory(step=step, status="unknown", ses_message_id=f"ses-unknown-{n}") for n in range(3)
    )
    _hit(seen, "open", timezone.now() + timedelta(minutes=5))
    hits.tracking_hits_apply()
    deliver(for_row(fixture("event-complaint.json"), complained))

    statuses = dict(StepExecution.objects.filter(step=step).values_list("pk", "status"))
    assert (statuses[seen.pk], statuses[complained.pk], statuses[silent.pk]) == ("sent", "sent", "unknown")
    stats = campaign_stats(campaign=step.campaign)
    assert stats["sent"] == 2  # With no Delivery event at all, delivered stays unknown (over sent).
    assert max(rate for rate in stats["rates"].values() if rate is not None) <= 1


def test_an_unsubscribe_through_an_unknown_rows_link_settles_it_as_sent():
    row = StepExecutionFactory(status="unknown")
    unsubscribe.step_execution_unsubscribe(execution=row, source="one-click")
    assert StepExecution.objects.get(pk=row.pk).status == "sent"
