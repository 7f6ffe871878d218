"""The report's breakdown by recipient domain: its figures are the campaign's, counted the same way."""

import pytest

from core.templatetags.campanile import percent
from delivery.models import StepExecution
from tests.factories import CampaignStepFactory, StepExecutionFactory
from tests.tracking.test_ses_events import bounce, deliver, fixture, for_row
from tracking.outcomes import RATES
from tracking.report import campaign_domains
from tracking.report_charts import domains_chart
from tracking.selectors import campaign_stats

pytestmark = pytest.mark.django_db

Outcome = StepExecution.Outcome
HARD = {"kind": "Permanent", "subtype": "General", "status": "5.1.1"}
SOFT = {"kind": "Transient", "subtype": "MailboxFull", "status": "4.2.2"}
#: A policy block: SES calls it Transient, its 5.7.1 says it is about the sender.
BLOCK = {"kind": "Transient", "subtype": "General", "status": "5.7.1"}
#: The bounce rate's column in the domains' table, named as the report's rates name it.
BOUNCE_RATE = next(f"{rate.label} rate" for rate in RATES if rate.name == "bounce")


def _sent(step, names: list[str]) -> list[StepExecution]:
    return [
        StepExecutionFactory.create(
            step=step, status=StepExecution.Status.SENT, email=name, ses_message_id=f"m-{name}"
        )
        for name in names
    ]


def test_the_domains_bounces_add_up_to_the_campaigns_whatever_the_ledger_outcome(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory.create()
    hard, blocked, complained, retried, delivered = _sent(
        step, ["a@gmail.com", "b@yahoo.com", "c@gmail.com", "d@yahoo.com", "e@gmail.com"]
    )
    deliver(bounce(hard, **HARD))
    deliver(for_row(fixture("event-delivery.json"), blocked))
    deliver(bounce(blocked, **BLOCK))  # A block leaves the ledger's outcome delivered…
    deliver(bounce(complained, **HARD))
    deliver(for_row(fixture("event-complaint.json"), complained))  # …a complaint outranks the bounce.
    deliver(bounce(retried, **SOFT))
    deliver(bounce(retried, **HARD))  # One email: counted once, as a hard bounce.
    deliver(for_row(fixture("event-delivery.json"), delivered))
    outcomes = dict(StepExecution.objects.values_list("email", "outcome"))
    assert (outcomes["b@yahoo.com"], outcomes["c@gmail.com"]) == (Outcome.DELIVERED, Outcome.COMPLAINED)

    campaign = campaign_stats(campaign=step.campaign)
    domains = {entry["name"]: entry for entry in campaign_domains(campaign=step.campaign)}

    assert (campaign["bounced"], campaign["bounced_hard"]) == (4, 3)
    assert sum(entry["bounced"] for entry in domains.values()) == campaign["bounced"]
    assert sum(entry["bounced_hard"] for entry in domains.values()) == campaign["bounced_hard"]
    assert (domains["Gmail"]["bounced"], domains["Gmail"]["bounced_hard"]) == (2, 2)
    assert (domains["Yahoo"]["bounced"], domains["Yahoo"]["bounced_hard"]) == (2, 1)


def test_a_single_domains_bounce_rate_is_the_campaigns_hard_bounces_over_sent(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory.create()
    hard, soft, blocked, delivered = _sent(step, [f"p{n}@gmail.com" for n in range(4)])
    deliver(bounce(hard, **HARD))
    deliver(bounce(soft, **SOFT))
    deliver(bounce(blocked, **BLOCK))
    deliver(for_row(fixture("event-delivery.json"), delivered))

    rates = campaign_stats(campaign=step.campaign)["rates"]
    extra = dict(domains_chart(campaign_domains(campaign=step.campaign)).extra)

    assert BOUNCE_RATE == "Bounce (hard) rate"
    assert extra[BOUNCE_RATE] == [percent(rates["bounce"])] == ["25.0%"]  # One hard bounce in four.
    assert extra["Hard bounces"] == [1]


def test_a_not_spam_report_is_no_sign_of_arrival_in_the_domains_as_in_the_campaign(settings):
    settings.SES_EVENT_WAIT_SECONDS = 0
    step = CampaignStepFactory.create()
    delivered, not_spam = _sent(step, ["a@gmail.com", "b@gmail.com"])
    deliver(for_row(fixture("event-delivery.json"), delivered))
    record = for_row(fixture("event-complaint.json"), not_spam)
    record["complaint"]["complaintFeedbackType"] = "not-spam"
    deliver(record)

    (gmail,) = campaign_domains(campaign=step.campaign)

    assert gmail["delivered"] == campaign_stats(campaign=step.campaign)["delivered"] == 1
