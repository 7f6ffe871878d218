from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Contact
from campaigns.selectors import (
    campaign_audience,
    campaign_audience_breakdown,
    campaign_checklist,
    campaign_list_due,
    preview_contact,
    template_has_unsubscribe_link,
)
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SegmentFactory,
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


def _plan(value: str) -> dict:
    return {"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": value}]}


def test_a_segment_alone_is_an_audience_and_with_lists_narrows_them():
    fair = ContactListFactory()
    pro_on_list = ListMembershipFactory(
        contact_list=fair, contact=ContactFactory(attributes={"plan": "pro"})
    ).contact
    free_on_list = ListMembershipFactory(
        contact_list=fair, contact=ContactFactory(attributes={"plan": "free"})
    ).contact
    pro_elsewhere = ContactFactory(attributes={"plan": "pro"})
    team_elsewhere = ContactFactory(attributes={"plan": "team"})
    ContactFactory(attributes={"plan": "pro"}, status=Contact.Status.UNSUBSCRIBED)
    SuppressionFactory(email=ContactFactory(attributes={"plan": "pro"}).email)
    pro, team = SegmentFactory(definition=_plan("pro")), SegmentFactory(definition=_plan("team"))

    alone = CampaignFactory()
    alone.segments.add(pro, team)  # Either segment: pro or team.
    narrowed = CampaignFactory()
    narrowed.lists.add(fair)
    narrowed.segments.add(pro)

    assert set(campaign_audience(campaign=alone)) == {pro_on_list, pro_elsewhere, team_elsewhere}
    assert set(campaign_audience(campaign=narrowed)) == {pro_on_list}
    assert free_on_list not in campaign_audience(campaign=narrowed)
    breakdown = campaign_audience_breakdown(campaign=alone)
    assert (breakdown["on_lists"], breakdown["unsubscribed"], breakdown["suppressed"]) == (5, 1, 1)
    assert breakdown["sendable"] == 3
    assert list(campaign_audience(campaign=CampaignFactory())) == []  # Neither lists nor segments.


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


def test_the_preview_renders_for_the_first_contact_a_campaign_would_mail_now():
    campaign = sendable_campaign(contacts=2)
    resting, reading = campaign.lists.get().contacts.order_by("pk")
    Contact.objects.filter(pk=resting.pk).update(paused_until=timezone.now() + timedelta(days=30))

    assert preview_contact(campaign=campaign, may_see_memberships=True) == reading


@pytest.mark.parametrize(
    "html_body",
    [
        '<a href="{{ unsubscribe_url }}" style="display:none; display:inline\\a0">Unsubscribe</a>',
        '<a href="{{ unsubscribe_url }}" style="display:inline !important\u00a0; display:none">Leave</a>',
        '<a href="{{ unsubscribe_url }}" style="opacity:0; opacity:\u0661">Unsubscribe</a>',
        '<p>Hi</p><usermedia><a href="{{ unsubscribe_url }}">Unsubscribe</a></usermedia>',
        '<table><colgroup><col style="visibility:collapse"></colgroup>'
        '<tr><td><a href="{{ unsubscribe_url }}">Unsubscribe</a></td></tr></table>',
    ],
    ids=[
        "a no-break space ending a display",
        "one after important",
        "an arabic-indic one",
        "usermedia",
        "a collapsed col",
    ],
)
def test_the_checklist_counts_no_unsubscribe_link_chromium_hides(html_body):
    campaign = sendable_campaign(contacts=1)
    campaign.steps.update(template=TemplateFactory(html_body=html_body, text_body=""))
    link = next(item for item in campaign_checklist(campaign=campaign) if item.label == "Unsubscribe link")
    assert link.ok is False
    assert "Step 1 shows no" in link.detail


@pytest.mark.parametrize(
    ("html_body", "text_body"),
    [
        (
            '<p>Sale!</p><div>{% if attributes.plan %}<template shadowrootmode="open"><p>Thanks</p>'
            '</template>{% endif %}<a href="{{ unsubscribe_url }}">Unsubscribe</a></div>',
            "",
        ),
        (
            "{% if attributes.plan %}<noscript><style></noscript><div hidden></style></noscript>{% endif %}"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            "",
        ),
        (
            '{% if attributes.plan == "Gold" %} {% else %}<p>Big sale, no way out here.</p>{% endif %}',
            "Unsubscribe: {{ unsubscribe_url }}",
        ),
    ],
    ids=[
        "a shadow root the sample's data opens",
        "a noscript the sample ends early",
        "html blank for the sample",
    ],
)
def test_the_unsubscribe_check_counts_no_link_in_html_its_sample_reads_otherwise_or_leaves_blank(
    html_body, text_body
):
    template = TemplateFactory.build(subject="Hi", html_body=html_body, text_body=text_body)

    assert template_has_unsubscribe_link(template=template) is False
