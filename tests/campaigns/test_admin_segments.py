"""The segment pages in the admin: saving a definition, counting it live, and deleting it safely."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from campaigns.models import Campaign, Contact, Segment
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SegmentFactory,
    TemplateFactory,
)
from tests.utils import role_client

pytestmark = pytest.mark.django_db

PRO = {"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}


def _count(client, definition) -> str:
    body = definition if isinstance(definition, str) else json.dumps(definition)
    return client.post(reverse("admin:campaigns_segment_count"), {"definition": body}).content.decode()


def test_a_marketer_saves_a_segment_and_a_definition_it_cannot_read_is_refused_saying_why():
    client = role_client("Marketers")
    add = reverse("admin:campaigns_segment_add")

    refused = client.post(add, {"name": "Odd", "definition": json.dumps({"match": "all", "rules": []})})
    saved = client.post(add, {"name": "Pro customers", "definition": json.dumps(PRO)})

    assert "A group needs at least one rule." in refused.content.decode()
    assert saved.status_code == 302
    assert Segment.objects.get().definition == PRO
    assert "segments" in client.get(reverse("admin:index")).content.decode().lower()


def test_the_editor_counts_who_matches_and_shows_the_first_mailable_to_those_who_may_see_contacts():
    ContactFactory(email="ada@example.com", attributes={"plan": "pro"})
    ContactFactory(email="bob@example.com", attributes={"plan": "pro"}, status=Contact.Status.UNSUBSCRIBED)
    ContactFactory(email="cy@example.com", attributes={"plan": "free"})
    marketer = role_client("Marketers")

    counted = _count(marketer, PRO)

    assert "2 contacts match" in counted
    assert "1 of them can be mailed" in counted
    assert "ada@example.com" in counted
    assert "bob@example.com" not in counted
    assert "is not a field" in _count(
        marketer, {"match": "all", "rules": [{"field": "pw", "op": "eq", "value": ""}]}
    )
    assert "The JSON is not valid." in _count(marketer, "{not json")


def test_the_sample_shows_attributes_as_json_as_rules_and_the_export_write_them():
    ContactFactory(email="rt1@example.com", attributes={"flag": True, "obj": {"a": 1}, "none": None})

    counted = _count(
        role_client("Marketers"),
        {"match": "all", "rules": [{"field": "email", "op": "eq", "value": "rt1@example.com"}]},
    )

    assert "flag: true" in counted
    assert "obj: {&quot;a&quot;: 1}" in counted
    assert "True" not in counted


def test_staff_who_may_not_see_contacts_may_not_count_a_segment_nor_open_the_segments():
    # A count is an answer: "email starts with a" → 1, "ab" → 1… spells an address on file.
    ContactFactory(email="ada@example.com", attributes={"plan": "pro"})
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()  # Segments only: no permission to see contacts.
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_segment"))

    counted = client.post(
        reverse("admin:campaigns_segment_count"),
        {
            "definition": json.dumps(
                {"match": "all", "rules": [{"field": "email", "op": "starts_with", "value": "a"}]}
            )
        },
    )

    assert counted.status_code == 403
    assert client.get(reverse("admin:campaigns_segment_changelist")).status_code == 403


def test_a_segments_delete_page_names_no_engine_table():
    segment = SegmentFactory(name="Pro customers", definition=PRO)
    CampaignFactory(name="Spring", status=Campaign.Status.COMPLETED).segments.add(segment)
    client = role_client("Marketers")

    page = client.get(reverse("admin:campaigns_segment_delete", args=[segment.pk])).content.decode()

    assert "Pro customers" in page
    assert "relationship" not in page


def test_a_segment_an_unfinished_campaign_mails_is_refused_on_the_delete_page():
    segment = SegmentFactory(name="Pro customers", definition=PRO)
    campaign = CampaignFactory(name="Spring", status=Campaign.Status.SCHEDULED)
    campaign.segments.add(segment)
    client = role_client("Marketers")
    delete = reverse("admin:campaigns_segment_delete", args=[segment.pk])

    page = client.get(delete).content.decode()
    client.post(delete, {"post": "yes"})

    assert "mailed by Spring" in page
    assert Segment.objects.filter(pk=segment.pk).exists()


def test_a_campaigns_audience_tab_takes_segments_and_its_dry_run_names_them():
    ContactFactory(attributes={"plan": "pro"})
    ContactFactory(attributes={"plan": "free"})
    segment = SegmentFactory(name="Pro customers", definition=PRO)
    campaign = CampaignFactory(name="Pro only")
    campaign.steps.create(order=1, template=TemplateFactory())
    client = role_client("Marketers")
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert "Pro customers" in client.get(change).content.decode()
    campaign.segments.add(segment)

    confirm = client.get(
        reverse("admin:campaigns_campaign_schedule_confirm", args=[campaign.pk])
    ).content.decode()

    assert "Contacts who match one of the campaign's segments" in confirm
    assert '<th class="n">1</th>' in confirm  # Will be mailed: the one pro customer.


def test_deleting_a_list_a_segment_names_is_refused_on_its_delete_page():
    from tests.factories import ContactListFactory

    hold = ContactListFactory(name="Legal hold")
    SegmentFactory(name="Mailable", definition={"match": "all", "rules": [{"list": hold.pk, "op": "not_in"}]})
    client = role_client("Marketers")
    delete = reverse("admin:campaigns_contactlist_delete", args=[hold.pk])

    page = client.get(delete).content.decode()
    client.post(delete, {"post": "yes"})

    assert "segments name it in their rules (Mailable)" in page
    assert hold.__class__.objects.filter(pk=hold.pk).exists()


def test_a_definition_nested_past_the_parser_is_refused_on_the_form_not_a_500():
    client = role_client("Marketers")

    page = client.post(
        reverse("admin:campaigns_segment_add"), {"name": "Deep", "definition": "[" * 2000 + "]" * 2000}
    )

    assert page.status_code == 200
    assert "The JSON nests too deep." in page.content.decode()


def test_a_count_by_a_list_answers_only_staff_who_may_see_who_is_on_it():
    # "On the list and this address" → 1 or 0 would say whether the address is on the list.
    ada = ContactFactory(email="ada@example.com")
    secret = ContactListFactory(name="Debt advice")
    ListMembershipFactory(contact=ada, contact_list=secret)
    definition = {
        "match": "all",
        "rules": [
            {"list": secret.pk, "op": "in"},
            {"field": "email", "op": "eq", "value": "ada@example.com"},
        ],
    }
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "view_segment"]))

    refused = _count(client, definition)
    user.user_permissions.add(Permission.objects.get(codename="view_listmembership"))
    answered = _count(client, definition)

    assert "Counting who is on a list takes the right to see list memberships." in refused
    assert "match" not in refused
    assert "1 contact matches" in answered


def test_a_count_by_campaign_mail_or_who_can_be_mailed_answers_only_staff_who_may_see_them():
    from tests.factories import SuppressionFactory

    ContactFactory(email="bo@example.com")
    SuppressionFactory(email="bo@example.com")
    by_mail = {
        "match": "all",
        "rules": [{"field": "email", "op": "eq", "value": "bo@example.com"}, {"engagement": "bounced"}],
    }
    by_address = {"match": "all", "rules": [{"field": "email", "op": "eq", "value": "bo@example.com"}]}
    client = role_client("Marketers")
    user = User.objects.get(username="marketers")
    user.groups.clear()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "view_segment"]))

    refused, narrow = _count(client, by_mail), _count(client, by_address)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_stepexecution", "view_trackingevent", "view_suppression"]
        )
    )
    answered, whole = _count(client, by_mail), _count(client, by_address)

    assert "Counting by campaign mail takes the right to see the send log and its events." in refused
    assert "match" not in refused
    assert "1 contact matches" in narrow
    assert "can be mailed" not in narrow  # It would say the address is suppressed.
    assert "0 contacts match" in answered
    assert "0 of them can be mailed" in whole
