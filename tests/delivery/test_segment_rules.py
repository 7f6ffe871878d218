"""Segments' engagement rules: what contacts did with campaign mail, in a scope."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.segments import segment_contacts, segment_definition_check
from delivery.models import Engagement, StepExecution
from tests.factories import CampaignStepFactory, ContactFactory, StepExecutionFactory

pytestmark = pytest.mark.django_db


def _campaign(days_ago: int):
    started = timezone.now() - timedelta(days=days_ago)
    return CampaignStepFactory(
        campaign__status="completed", campaign__started_at=started, campaign__completed_at=started
    )


def _sent(step, contact, *, opens=0, clicks=0, outcome="", days_ago=1) -> StepExecution:
    row = StepExecutionFactory(
        step=step,
        contact=contact,
        status="sent",
        outcome=outcome,
        sent_at=timezone.now() - timedelta(days=days_ago),
    )
    if opens or clicks:
        Engagement.objects.create(step_execution=row, step=step, opens=opens, clicks=clicks)
    return row


def _emails(definition) -> set[str]:
    segment_definition_check(definition)
    return set(segment_contacts(definition).values_list("email", flat=True))


def test_opened_any_of_the_last_three_campaigns_and_plan_pro():
    oldest, *latest = [_campaign(days) for days in (40, 30, 20, 10)]
    pro_reader, pro_old_reader, free_reader = (
        ContactFactory(email="pro@example.com", attributes={"plan": "pro"}),
        ContactFactory(email="old@example.com", attributes={"plan": "pro"}),
        ContactFactory(email="free@example.com", attributes={"plan": "free"}),
    )
    _sent(latest[1], pro_reader, clicks=1)  # A click counts as opened.
    _sent(oldest, pro_old_reader, opens=2)  # Opened, but not one of the last three.
    _sent(latest[0], pro_old_reader)
    _sent(latest[2], free_reader, opens=1)
    definition = {
        "match": "all",
        "rules": [
            {"engagement": "opened", "last_campaigns": 3},
            {"field": "attributes.plan", "op": "eq", "value": "pro"},
        ],
    }

    assert _emails(definition) == {"pro@example.com"}


def test_sent_bounced_clicked_and_never_opened_in_a_campaign_or_in_the_last_days():
    first, second = _campaign(20), _campaign(5)
    ada, bob, cy, dee = (ContactFactory(email=f"{name}@example.com") for name in ("ada", "bob", "cy", "dee"))
    _sent(first, ada, opens=1, days_ago=20)
    _sent(second, ada, days_ago=5)
    _sent(first, bob, outcome="bounced", days_ago=20)
    _sent(second, cy, clicks=2, days_ago=5)
    # Dee got nothing.

    def rule(**fields):
        return {"match": "all", "rules": [fields]}

    assert _emails(rule(engagement="was_sent")) == {"ada@example.com", "bob@example.com", "cy@example.com"}
    assert _emails(rule(engagement="was_sent", days=10)) == {"ada@example.com", "cy@example.com"}
    assert _emails(rule(engagement="bounced", campaigns=[first.campaign_id])) == {"bob@example.com"}
    assert _emails(rule(engagement="clicked")) == {"cy@example.com"}
    assert _emails(rule(engagement="never_opened")) == {"bob@example.com"}
    assert _emails(rule(engagement="never_opened", days=10)) == {"ada@example.com"}  # Not in those days.
    assert dee.email not in _emails({"match": "any", "rules": [{"engagement": "never_opened"}]})


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ({"engagement": "liked"}, "not a kind of engagement"),
        ({"engagement": "opened", "days": 3, "last_campaigns": 2}, "one scope"),
        ({"engagement": "opened", "campaigns": []}, "a list of 1 to"),
        ({"engagement": "opened", "campaigns": [999999]}, "does not exist"),
        ({"engagement": "opened", "days": 0}, "a whole number"),
        ({"engagement": "opened", "last_campaigns": True}, "a whole number"),
    ],
)
def test_an_engagement_rule_a_segment_cannot_read_is_refused_saying_why(rule, said):
    with pytest.raises(ValidationError, match=said):
        segment_definition_check({"match": "all", "rules": [rule]})


def test_the_last_campaigns_are_those_that_completed_not_the_one_sending_to_the_segment():
    done = _campaign(5)
    reader = ContactFactory(email="reader@example.com")
    _sent(done, reader)
    sending = CampaignStepFactory(campaign__status="sending", campaign__started_at=timezone.now())

    last = {"match": "all", "rules": [{"engagement": "was_sent", "last_campaigns": 1}]}
    assert _emails(last) == {"reader@example.com"}  # Not the campaign still sending, with no mail yet.
    assert sending.campaign.completed_at is None


def test_a_recurring_campaign_named_by_a_rule_stands_for_its_runs():
    parent = CampaignStepFactory(campaign__status="scheduled", campaign__recurrence="0 9 * * 1").campaign
    run = _campaign(3)
    run.campaign.parent = parent
    run.campaign.save()
    _sent(run, ContactFactory(email="weekly@example.com"))

    assert _emails({"match": "all", "rules": [{"engagement": "was_sent", "campaigns": [parent.pk]}]}) == {
        "weekly@example.com"
    }


def test_never_opened_reads_only_mail_that_could_show_an_open():
    pixel, blind, text_only = _campaign(5), _campaign(4), _campaign(3)
    blind.campaign.track_opens = False
    blind.campaign.save()
    text_only.template.html_body = ""  # No HTML: nowhere for the pixel, whatever the switch says.
    text_only.template.save()
    _sent(pixel, ContactFactory(email="silent@example.com"))
    _sent(blind, ContactFactory(email="unknown@example.com"))
    _sent(text_only, ContactFactory(email="plain@example.com"))

    assert _emails({"match": "all", "rules": [{"engagement": "never_opened"}]}) == {"silent@example.com"}


@pytest.mark.parametrize(
    "rule", [{"engagement": "opened", "campaign": [1]}, {"engagement": "opened", "dayz": 30}]
)
def test_an_engagement_rule_with_a_key_it_does_not_know_is_refused_not_widened(rule):
    with pytest.raises(ValidationError, match="This rule takes only engagement, campaigns"):
        segment_definition_check({"match": "all", "rules": [rule]})
