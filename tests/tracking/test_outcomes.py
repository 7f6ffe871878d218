"""One table of counted outcomes and one definition of every rate, shared by all their readers."""

import pytest

from delivery.models import StepExecution
from tests.factories import CampaignStepFactory, StepExecutionFactory, TrackingEventFactory
from tracking import alerts, engagement, reputation
from tracking.api import CampaignStatsSerializer, RatesSerializer
from tracking.cloudwatch import CLOUDWATCH_FIGURES
from tracking.models import StepEngagement
from tracking.outcomes import COUNTED_OUTCOMES, OUTCOME_KEYS, RATES, campaign_rates, outcome_keys, rates_base
from tracking.selectors import campaign_stats

pytestmark = pytest.mark.django_db


def test_the_step_counters_the_api_and_cloudwatch_all_follow_the_one_table():
    fields = {field.name for field in StepEngagement._meta.get_fields()}
    assert set(OUTCOME_KEYS) <= fields
    stats_fields = CampaignStatsSerializer().get_fields()
    assert all(stats_fields[outcome.key].help_text == outcome.help for outcome in COUNTED_OUTCOMES)
    assert set(RatesSerializer().get_fields()) == {rate.name for rate in RATES}
    published = {key for _name, key in CLOUDWATCH_FIGURES}
    assert {outcome.key for outcome in COUNTED_OUTCOMES if outcome.cloudwatch} <= published


def test_the_bounce_rate_counts_hard_bounces_only_as_ses_does():
    counts = {"sent": 100, "bounced": 9, "bounced_hard": 3, "bounced_soft": 6, "complained": 1}
    rates = campaign_rates(counts=counts)
    assert rates["bounce"] == 0.03
    assert rates["complaint"] == 0.01
    assert campaign_rates(counts={})["open"] is None  # Nothing sent: no rate, not zero.


def test_the_guard_and_the_alerts_judge_one_rate_against_one_limit(settings):
    settings.SES_REPUTATION_MIN_SENT = 10
    settings.SES_BOUNCE_RATE_LIMIT = 0.1
    step = CampaignStepFactory(campaign__status="sending")
    rows = [StepExecutionFactory(step=step, status=StepExecution.Status.SENT) for _ in range(10)]
    # Three soft bounces and one hard: 10% hard, at the limit, not over it: neither acts.
    for row in rows[:3]:
        TrackingEventFactory(step_execution=row, type="bounce", kind="soft", recipient=row.email)
    TrackingEventFactory(step_execution=rows[3], type="bounce", kind="hard", recipient=rows[3].email)
    engagement.engagement_rebuild()
    campaign = step.campaign
    campaign.started_at = campaign.created_at
    campaign.save()
    assert campaign_stats(campaign=campaign)["rates"]["bounce"] == 0.1
    assert reputation.reputation_problems(counts=campaign_stats(campaign=campaign)) == []
    assert [a.kind for a in alerts.alerts_check()] == []
    # One more hard bounce: both see 20% and act.
    TrackingEventFactory(step_execution=rows[4], type="bounce", kind="hard", recipient=rows[4].email)
    engagement.engagement_rebuild()
    assert reputation.campaign_reputation_check(campaign=campaign) is True
    assert [a.kind for a in alerts.alerts_check()] == ["bounce_rate"]


def test_a_not_spam_complaint_counts_for_nothing_and_every_other_feedback_type_as_a_complaint():
    assert outcome_keys(event_type="complaint", kind="not-spam") == ()
    for kind in ("abuse", "fraud", "virus", "other", ""):  # "" : a notification without a report.
        assert outcome_keys(event_type="complaint", kind=kind) == ("complained", "suppressed")
    step = CampaignStepFactory.create()
    abuse, not_spam = (
        StepExecutionFactory.create(step=step, status=StepExecution.Status.SENT) for _ in range(2)
    )
    TrackingEventFactory(step_execution=abuse, type="complaint", kind="abuse", recipient=abuse.email)
    TrackingEventFactory(step_execution=not_spam, type="complaint", kind="not-spam", recipient=not_spam.email)

    engagement.engagement_rebuild()  # A recount reads the events as their application did.

    stats = campaign_stats(campaign=step.campaign)
    assert (stats["complained"], stats["suppressed"], stats["delivered"]) == (1, 1, 0)


def test_rates_are_exact_so_a_rate_just_over_its_limit_is_over_it(settings):
    settings.SES_REPUTATION_MIN_SENT = 1000
    settings.SES_COMPLAINT_RATE_LIMIT = 0.0008
    just_over = {"sent": 100_000, "delivered": 100_000, "complained": 84}  # 0.084% against 0.08%.
    one_in_many = {"sent": 30_000, "delivered": 30_000, "complained": 1}

    problems = reputation.reputation_problems(counts=just_over)

    assert campaign_rates(counts=one_in_many)["complaint"] == 1 / 30_000  # Never rounded to 0.0.
    assert len(problems) == 1
    assert "0.084%" in problems[0]
    assert RatesSerializer(campaign_rates(counts=one_in_many)).data["complaint"] == 0.0  # 4 places.


def test_without_delivery_events_engagement_rates_are_over_sent_not_blank():
    counts = {"sent": 200, "delivered": 0, "opens_unique": 50, "clicks_unique": 10, "unsubscribed": 2}
    rates = campaign_rates(counts=counts)
    assert rates_base(counts=counts) == "sent"
    assert (rates["open"], rates["click"], rates["unsubscribe"]) == (0.25, 0.05, 0.01)
    # Delivered is unknown, not none: the delivery rate is blank, as the headline shows it.
    assert rates["delivery"] is None
    delivered = {**counts, "delivered": 100}
    assert rates_base(counts=delivered) == "delivered"
    assert campaign_rates(counts=delivered)["open"] == 0.5
    assert rates_base(counts={"sent": 0}) == "delivered"  # Nothing sent: nothing to say.


def test_the_report_says_when_rates_are_over_sent(admin_client):
    from django.urls import reverse

    step = CampaignStepFactory()
    row = StepExecutionFactory(step=step, status=StepExecution.Status.SENT)
    TrackingEventFactory(step_execution=row, type="open", recipient=row.email)
    engagement.engagement_rebuild()
    url = reverse("admin:campaigns_campaign_report", args=[step.campaign.pk])
    page = admin_client.get(url).content.decode()
    assert "No Delivery events have been reported" in page
    assert "sent (no Delivery events: see above)" in page


def test_while_ses_has_yet_to_report_on_emails_the_report_says_the_rates_over_delivered_will_move(
    admin_client,
):
    from django.urls import reverse

    from tracking.outcomes import awaiting_report, counts_shown

    # 60 sent, 3 reported delivered and 2 bounced: at least 55 await SES's report.
    assert awaiting_report(counts={"sent": 60, "delivered": 3, "bounced": 2}) == 55
    assert counts_shown({"sent": 60, "delivered": 3, "bounced": 2})["awaiting_report"] == 55
    assert awaiting_report(counts={"sent": 2, "delivered": 2, "bounced": 1}) == 0  # Never below 0.
    step = CampaignStepFactory()
    rows = [StepExecutionFactory(step=step, status=StepExecution.Status.SENT) for _ in range(4)]
    TrackingEventFactory(step_execution=rows[0], type="delivery", recipient=rows[0].email)
    TrackingEventFactory(step_execution=rows[1], type="open", recipient=rows[1].email)
    engagement.engagement_rebuild()

    page = admin_client.get(
        reverse("admin:campaigns_campaign_report", args=[step.campaign.pk])
    ).content.decode()

    assert "SES has yet to report on at least 3 emails sent" in page


@pytest.fixture
def signed_sns(settings, monkeypatch):
    """Hear SES's events as the webhook does, signed by the tests' own SNS certificate."""
    from tests.tracking.sns_signing import TOPIC, make_signer
    from tracking import sns

    signer = make_signer()
    settings.SES_SNS_TOPIC_ARNS = [TOPIC]
    settings.SNS_MIN_SIGNATURE_VERSION = 1
    settings.SNS_VERIFY_SIGNATURES = True
    sns.sns_certificates_forget()
    monkeypatch.setattr(sns, "sns_fetch_certificate", lambda url: signer.pem)
    yield signer
    sns.sns_certificates_forget()


def _bounces_posted(client, signer, row, *bounce_types: str) -> None:
    """Post SES's bounce records of one email, in this order, signed, and apply them as the tick does."""
    from tests.tracking.sns_signing import notification
    from tests.tracking.test_ses_events import bounce
    from tests.tracking.test_webhook import post
    from tracking import tasks

    statuses = {"Transient": ("MailboxFull", "4.2.2"), "Permanent": ("General", "5.1.1")}
    for bounce_type in bounce_types:
        subtype, status = statuses[bounce_type]
        record = bounce(row, kind=bounce_type, subtype=subtype, status=status)
        assert post(client, signer.sign(notification(record))).status_code == 200
    tasks.sns_messages_apply()


@pytest.mark.parametrize("order", [("Transient", "Permanent"), ("Permanent", "Transient")])
def test_an_email_that_bounced_soft_and_hard_counts_once_as_a_hard_bounce(
    client, api_client, signed_sns, order
):
    from tracking.report import campaign_report
    from tracking.report_charts import funnel_chart

    step = CampaignStepFactory()
    retried, soft = (
        StepExecutionFactory(step=step, status=StepExecution.Status.SENT, ses_message_id=f"ses-{name}")
        for name in ("retried", "soft")
    )
    _bounces_posted(client, signed_sns, retried, *order)  # SES retried, then gave up (or said so late).
    _bounces_posted(client, signed_sns, soft, "Transient")

    body = api_client.get(f"/api/v1/campaigns/{step.campaign.pk}/stats").json()
    assert (body["bounced"], body["bounced_hard"], body["bounced_soft"], body["bounced_other"]) == (
        2,
        1,
        1,
        0,
    )
    report = campaign_report(campaign=step.campaign)
    classes = (report["bounces_hard"], report["bounces_soft"], report["bounces_other"])
    assert sum(classes) == report["bounced"] == body["bounced"]
    funnel = funnel_chart(report)
    assert funnel.series[0].values[funnel.labels.index("Bounced")] == body["bounced"]
    assert body["rates"]["bounce"] == 0.5  # Hard bounces over sent: the guard's and the alerts' rate.
    counted = StepEngagement.objects.filter(pk=step.pk).values().get()
    engagement.engagement_rebuild()
    assert StepEngagement.objects.filter(pk=step.pk).values().get() == counted  # The events say the same.
