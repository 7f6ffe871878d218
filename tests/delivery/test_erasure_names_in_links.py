"""Erasing a contact writes its name and external id out of the tracked links only it can have."""

import json

import pytest

from campaigns import services as campaign_services
from campaigns.models import CampaignStep, Contact, ListMembership
from console.erasure import contact_erase
from delivery import services as delivery_services
from delivery.models import TrackedLink
from tests.factories import ContactFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example/"


def _sent(html: str, *contacts: Contact) -> CampaignStep:
    """Send a one-step campaign of this HTML to the contacts; return its step."""
    campaign = sendable_campaign(contacts=0)
    for contact in contacts:
        ListMembership.objects.create(contact=contact, contact_list=campaign.lists.get())
    step = campaign.steps.get()
    step.template = TemplateFactory(subject="News", html_body=html, text_body="")
    step.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    return step


def _shop_links(step: CampaignStep) -> list[str]:
    links = TrackedLink.objects.filter(step=step, url__startswith=SHOP)
    return sorted(links.values_list("url", flat=True))


def test_an_erasure_writes_the_name_and_external_id_out_of_the_contacts_own_link(api_client, ses):
    zebulon = ContactFactory(first_name="Zebulon", last_name="Quintavalle", external_id="cust-778899")
    ada = ContactFactory(first_name="Ada", last_name="Byron", external_id="cust-1001")
    step = _sent(
        f'<a href="{SHOP}welcome?name={{{{ contact.first_name }}}}-{{{{ contact.last_name }}}}'
        '&cid={{ contact.external_id }}">welcome</a>',
        zebulon,
        ada,
    )

    api_client.post(f"/api/v1/contacts/{zebulon.pk}/erase")

    assert _shop_links(step) == [
        f"{SHOP}welcome?name=Ada-Byron&cid=cust-1001",
        f"{SHOP}welcome?name=[erased]-[erased]&cid=[erased]",
    ]
    stats = json.dumps(api_client.get(f"/api/v1/campaigns/{step.campaign_id}/stats").json()).lower()
    assert not [trace for trace in ("zebulon", "quintavalle", "778899") if trace in stats]


def test_a_link_another_recipient_of_the_step_may_have_keeps_the_name(ses):
    lovelace = ContactFactory(first_name="Ada", last_name="Lovelace", external_id="ada-1")
    byron = ContactFactory(first_name="Ada", last_name="Byron", external_id="ada-2")
    step = _sent(
        f'<a href="{SHOP}hi?n={{{{ contact.first_name }}}}">hi</a>'
        f'<a href="{SHOP}me?n={{{{ contact.first_name }}}}&id={{{{ contact.external_id }}}}">me</a>',
        lovelace,
        byron,
    )

    contact_erase(contact=lovelace, by="test")

    assert _shop_links(step) == [
        f"{SHOP}hi?n=Ada",
        f"{SHOP}me?n=Ada&id=ada-2",
        f"{SHOP}me?n=[erased]&id=[erased]",
    ]


def test_a_link_holding_the_name_in_another_recipients_address_keeps_it(ses):
    zebulon = ContactFactory(email="zq@example.com", first_name="Zebulon", last_name="Quintavalle")
    fan = ContactFactory(email="zebulon@fans.example", first_name="Otto", last_name="Fanning")
    html = f'<a href="{SHOP}u/{{{{ contact.email }}}}?n={{{{ contact.first_name }}}}">me</a>'
    step = _sent(html, zebulon, fan)

    contact_erase(contact=zebulon, by="test")

    assert _shop_links(step) == [f"{SHOP}u/[erased]?n=[erased]", f"{SHOP}u/zebulon@fans.example?n=Otto"]


def test_a_word_of_the_template_itself_stays_in_everyones_link(ses):
    summer = ContactFactory(first_name="Joanna", last_name="Summer", external_id="cust-9090")
    step = _sent(
        f'<a href="{SHOP}collections/summer">sale</a>'
        f'<a href="{SHOP}hi?n={{{{ contact.last_name }}}}&id={{{{ contact.external_id }}}}">hi</a>',
        summer,
        ContactFactory(first_name="Otto", last_name="Fanning"),
    )

    contact_erase(contact=summer, by="test")

    assert f"{SHOP}collections/summer" in _shop_links(step)
    assert f"{SHOP}hi?n=[erased]&id=[erased]" in _shop_links(step)


def test_a_value_under_three_characters_or_inside_a_longer_word_stays(ses):
    jo = ContactFactory(first_name="Jo", last_name="Ann", external_id="cust-5150")
    step = _sent(
        f'<a href="{SHOP}hi?n={{{{ contact.first_name }}}}-{{{{ contact.last_name }}}}'
        '&id={{ contact.external_id }}&list=annual">hi</a>',
        jo,
    )

    contact_erase(contact=jo, by="test")

    assert _shop_links(step) == [f"{SHOP}hi?n=Jo-[erased]&id=[erased]&list=annual"]


def test_a_name_encoded_twice_in_a_nested_link_is_written_out(ses):
    zoe = ContactFactory(first_name="Zoë Anne", last_name="Quintavalle", external_id="cust-778899")
    step = _sent(
        f'<a href="{SHOP}go?next=https%3A%2F%2Fapp.example%2Fhi%3Fn%3D'
        "{{ contact.first_name|urlencode|urlencode }}%26id%3D{{ contact.external_id|urlencode|urlencode }}"
        '%26l%3D{{ contact.last_name|urlencode }}">go</a>',
        zoe,
    )
    assert _shop_links(step) == [
        f"{SHOP}go?next=https%3A%2F%2Fapp.example%2Fhi%3Fn%3DZo%25C3%25AB%2520Anne"
        "%26id%3Dcust-778899%26l%3DQuintavalle"
    ]

    contact_erase(contact=zoe, by="test")

    assert _shop_links(step) == [
        f"{SHOP}go?next=https%3A%2F%2Fapp.example%2Fhi%3Fn%3D[erased]%26id%3D[erased]%26l%3D[erased]"
    ]


def test_an_address_after_a_twice_encoded_separator_in_a_nested_link_is_written_out(ses):
    bo = ContactFactory(email="bo@x.test", first_name="Bo")
    step = _sent(
        f'<a href="{SHOP}go?next=https%3A%2F%2Fapp.example%2Fhi%3Fe%3D'
        '{{ contact.email|urlencode|urlencode }}">go</a>',
        bo,
    )
    assert _shop_links(step) == [f"{SHOP}go?next=https%3A%2F%2Fapp.example%2Fhi%3Fe%3Dbo%2540x.test"]

    contact_erase(contact=bo, by="test")

    (link,) = _shop_links(step)
    assert "x.test" not in link
