import pytest
from django.utils import timezone

from campaigns.models import Campaign, Contact
from campaigns.selectors import campaign_audience, campaign_checklist, campaign_list_due
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SuppressionFactory,
    TemplateFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db


def test_audience_excludes_unsubscribed_suppressed_and_other_lists_and_collapses_duplicates():
    first, second, elsewhere = ContactListFactory(), ContactListFactory(), ContactListFactory()
    campaign = CampaignFactory()
    campaign.lists.add(first, second)
    on_both = ContactFactory(email="both@example.com")
    ListMembershipFactory(contact_list=first, contact=on_both)
    ListMembershipFactory(contact_list=second, contact=on_both)
    only_second = ListMembershipFactory(contact_list=second).contact
    unsubscribed = ListMembershipFactory(
        contact_list=first, contact=ContactFactory(status=Contact.Status.UNSUBSCRIBED)
    ).contact
    suppressed = ListMembershipFactory(
        contact_list=first, contact=ContactFactory(email="bounced@example.com")
    )
    SuppressionFactory(email="Bounced@Example.com")
    not_targeted = ListMembershipFactory(contact_list=elsewhere).contact

    audience = list(campaign_audience(campaign=campaign))

    assert sorted(c.email for c in audience) == sorted([on_both.email, only_second.email])
    assert unsubscribed not in audience
    assert suppressed.contact not in audience
    assert not_targeted not in audience


def test_list_due_returns_scheduled_campaigns_whose_time_has_come():
    now = timezone.now()
    due = CampaignFactory(status=Campaign.Status.SCHEDULED, scheduled_at=now - timezone.timedelta(minutes=1))
    CampaignFactory(status=Campaign.Status.SCHEDULED, scheduled_at=now + timezone.timedelta(minutes=1))
    CampaignFactory(status=Campaign.Status.DRAFT, scheduled_at=now - timezone.timedelta(minutes=1))
    CampaignFactory(status=Campaign.Status.PAUSED, scheduled_at=now - timezone.timedelta(minutes=1))

    assert list(campaign_list_due(now=now)) == [due]


def test_a_drafts_checklist_says_what_is_missing_and_what_is_advice():
    empty = CampaignFactory(from_email="")
    assert [(item.label, item.ok) for item in campaign_checklist(campaign=empty)] == [
        ("Sender", False),
        ("Audience", False),
        ("Content", False),
        ("Unsubscribe link", False),
    ]
    ready = sendable_campaign(contacts=2, from_email="News <news@campanile.test>")
    ready.steps.update(template=TemplateFactory(html_body='<a href="{{ unsubscribe_url }}">Leave</a>'))
    items = {item.label: item for item in campaign_checklist(campaign=ready)}
    assert all(item.ok for item in items.values())
    assert items["Audience"].detail == "2 contacts will be mailed."
    ready.steps.update(template=TemplateFactory(html_body="<p>No way out</p>", text_body=""))
    link = next(item for item in campaign_checklist(campaign=ready) if item.label == "Unsubscribe link")
    assert (link.ok, link.required) == (False, False)  # Advice: the headers still carry one.
    assert "Step 1 shows no" in link.detail
