import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from campaigns.models import Campaign, Suppression
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    StepExecutionFactory,
    SuppressionFactory,
    TemplateFactory,
    TrackingEventFactory,
    sendable_campaign,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "core_apikey",
    "campaigns_contact",
    "campaigns_contactlist",
    "campaigns_listmembership",
    "campaigns_campaignstep",
    "campaigns_suppression",
    "campaigns_template",
    "campaigns_campaign",
    "delivery_stepexecution",
    "delivery_transactionalmessage",
    "tracking_trackingevent",
]


def _act(client, action, campaigns):
    url = reverse("admin:campaigns_campaign_changelist")
    data = {"action": action, "_selected_action": [c.pk for c in campaigns]}
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def _queue_api_message():
    from core.services import api_key_create
    from delivery.messages import MessageRequest, message_queue

    template = TemplateFactory()
    request = MessageRequest(from_email="a@campanile.test", to="b@example.com", template_name=template.name)
    message_queue(api_key=api_key_create(name="admin-test")[0], request=request)


@pytest.fixture
def populated():
    """Put a row in every model so each changelist renders real columns."""
    ListMembershipFactory()
    SuppressionFactory()
    TemplateFactory()
    execution = StepExecutionFactory(ses_message_id="ses-1")
    TrackingEventFactory(step_execution=execution)
    _queue_api_message()


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_every_changelist_and_search_renders(admin_client, populated, changelist):
    url = reverse(f"admin:{changelist}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "example"}).status_code == 200


def test_every_change_form_renders(admin_client, populated):
    campaign = Campaign.objects.first()
    assert admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).status_code == 200
    contact = ContactFactory()
    assert admin_client.get(reverse("admin:campaigns_contact_change", args=[contact.pk])).status_code == 200
    assert admin_client.get(reverse("admin:campaigns_campaign_add")).status_code == 200


def test_schedule_action_goes_through_the_service(admin_client):
    campaign = sendable_campaign()
    messages = _act(admin_client, "campaign_schedule", [campaign])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert messages == ["Scheduled 1 campaign."]


def test_invalid_action_shows_error_and_changes_nothing(admin_client):
    draft = sendable_campaign()
    messages = _act(admin_client, "campaign_pause", [draft])
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert len(messages) == 1
    assert "Cannot pause campaign" in messages[0]
    assert "Nothing was changed" in messages[0]


def test_action_on_a_mixed_selection_is_all_or_nothing(admin_client):
    ready, empty = sendable_campaign(), CampaignFactory()
    messages = _act(admin_client, "campaign_schedule", [ready, empty])
    ready.refresh_from_db()
    empty.refresh_from_db()
    assert (ready.status, empty.status) == (Campaign.Status.DRAFT, Campaign.Status.DRAFT)
    assert "cannot be scheduled" in messages[0]


def test_status_cannot_be_edited_in_the_form(admin_client):
    campaign = sendable_campaign()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    form = admin_client.get(url).context["adminform"].form
    assert "status" not in form.fields


def test_ledger_is_read_only_in_admin(admin_client):
    assert admin_client.get(reverse("admin:delivery_stepexecution_add")).status_code == 403


def _transition_url(campaign, action):
    return reverse("admin:campaigns_campaign_transition", args=[campaign.pk, action])


def test_change_page_offers_only_the_moves_the_status_allows(admin_client):
    campaign = sendable_campaign()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert [verb for _action, verb in page.context["transition_buttons"]] == ["Schedule", "Cancel campaign"]
    content = page.content.decode()
    # Scheduling goes through its confirmation page; the other moves are buttons.
    assert reverse("admin:campaigns_campaign_schedule_confirm", args=[campaign.pk]) in content
    assert _transition_url(campaign, "schedule") not in content
    assert _transition_url(campaign, "cancel") in content


def test_change_page_button_applies_the_move(admin_client):
    campaign = sendable_campaign()
    response = admin_client.post(_transition_url(campaign, "schedule"), follow=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert "Scheduled 1 campaign." in [str(m) for m in get_messages(response.wsgi_request)]


def test_change_page_button_refuses_an_invalid_move_and_get(admin_client):
    campaign = sendable_campaign()
    response = admin_client.post(_transition_url(campaign, "resume"), follow=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert "Cannot resume campaign" in str(next(iter(get_messages(response.wsgi_request))))
    assert admin_client.get(_transition_url(campaign, "schedule")).status_code == 405
    assert admin_client.post(_transition_url(campaign, "start")).status_code == 404


def test_progress_counts_the_ledger_by_status(admin_client):
    execution = StepExecutionFactory(status="sent")
    StepExecutionFactory(step=execution.step, status="failed")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[execution.step.campaign.pk]))
    assert "Failed 1 · Sent 1" in page.content.decode()


def test_progress_shows_a_fan_out_under_way(admin_client):
    execution = StepExecutionFactory(status="pending")
    step = execution.step
    step.fan_out_until, step.fan_out_cursor = 200, 50
    step.save()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[step.campaign.pk]))
    assert "Queueing recipients: 25% of contact ids done · Pending 1" in page.content.decode()


@pytest.mark.parametrize(
    ("changelist", "factory", "shown"),
    [
        ("campaigns_campaign", CampaignFactory, lambda row: row.name),
        ("campaigns_contactlist", ContactListFactory, lambda row: row.name),
        ("campaigns_contact", ContactFactory, lambda row: row.email),
    ],
)
def test_changelists_hide_load_test_rows_unless_asked(admin_client, changelist, factory, shown):
    theirs, load_test = factory(), factory(is_load_test=True)
    url = reverse(f"admin:{changelist}_changelist")

    def listed(**params):
        return list(admin_client.get(url, params).context["cl"].result_list)

    assert listed() == [theirs]
    assert sorted(listed(load_test="shown"), key=lambda row: row.pk) == [theirs, load_test]
    assert listed(load_test="only") == [load_test]
    assert "Hidden" in admin_client.get(url).content.decode()  # The filter names its default.
    page = admin_client.get(reverse(f"admin:{changelist}_change", args=[load_test.pk]))
    assert page.status_code == 200  # Its own page still opens.
    assert shown(load_test) in page.content.decode()


def test_the_campaign_form_offers_no_load_test_lists_but_keeps_those_a_campaign_has(admin_client):
    theirs, load_test = ContactListFactory(name="Customers"), ContactListFactory(is_load_test=True)
    campaign = CampaignFactory(is_load_test=True)
    campaign.lists.add(load_test)

    def offered(url):
        return list(admin_client.get(url).context["adminform"].form.fields["lists"].queryset)

    assert offered(reverse("admin:campaigns_campaign_add")) == [theirs]
    assert offered(reverse("admin:campaigns_campaign_change", args=[CampaignFactory().pk])) == [theirs]
    offered_to_its_own = offered(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert sorted(offered_to_its_own, key=lambda row: row.pk) == [theirs, load_test]


def test_the_contacts_list_filter_offers_the_marketers_lists_only(admin_client):
    ContactListFactory(name="Customers")
    ContactListFactory(name="Load test lt0123456789", is_load_test=True)

    page = admin_client.get(reverse("admin:campaigns_contact_changelist")).content.decode()

    assert "Customers" in page
    assert "Load test lt0123456789" not in page


def test_the_suppression_form_refuses_an_address_with_an_invisible_character_naming_it(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_suppression_add"),
        {"email": "x@example.com\u200b", "reason": "manual", "source": "admin", "detail": ""},
    )
    assert response.status_code == 200  # The form again, with its error.
    assert "U+200B" in response.context["adminform"].form.errors["email"][-1]
    assert not Suppression.objects.exists()

    admin_client.post(
        reverse("admin:campaigns_suppression_add"),
        {"email": "Info@Bücher.de", "reason": "manual", "source": "admin", "detail": ""},
    )
    assert Suppression.objects.get().email == "info@xn--bcher-kva.de"


# --- Consent --------------------------------------------------------------------------------------


#: The contact page's inlines, empty.
CONTACT_INLINES = {
    f"{prefix}-{count}": "0"
    for prefix in ("consent_changes", "memberships", "breaks")
    for count in ("TOTAL_FORMS", "INITIAL_FORMS")
}


def _contact_form(contact, **changes) -> dict:
    """Return the contact change form's POST data, as the page would send it, with changes."""
    data = {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "external_id": contact.external_id,
        "attributes": "{}",
        "timezone": "",
        "status": contact.status,
        "consent_reason": "",
    }
    return data | CONTACT_INLINES | changes


def test_a_page_saved_after_a_clashing_row_was_stored_meanwhile_says_so_never_a_500(admin_client):
    from campaigns.models import ListMembership

    contact = ContactFactory()
    everyone = ContactListFactory()
    # The page was drawn before the contact joined the list (through the API, say): it adds the
    # membership again, as a new row.
    ListMembership.objects.create(contact=contact, contact_list=everyone)
    data = _contact_form(contact, first_name="Renamed") | {
        "memberships-TOTAL_FORMS": "1",
        "memberships-0-contact_list": str(everyone.pk),
    }

    response = admin_client.post(reverse("admin:campaigns_contact_change", args=[contact.pk]), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_contact_change", args=[contact.pk])
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Nothing was saved: the page clashes with a change saved since it was opened")
    contact.refresh_from_db()
    assert contact.first_name != "Renamed"
    assert ListMembership.objects.filter(contact=contact).count() == 1


def test_a_staff_status_change_needs_a_reason_and_is_audited_and_shown(admin_client, admin_user):
    from campaigns.models import ConsentChange, Contact

    contact = ContactFactory()
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])
    refused = admin_client.post(url, _contact_form(contact, status="unsubscribed"))
    assert refused.status_code == 200
    assert "Say why the status changes." in refused.content.decode()
    contact.refresh_from_db()
    assert contact.status == Contact.Status.SUBSCRIBED

    done = admin_client.post(
        url, _contact_form(contact, status="unsubscribed", consent_reason="Asked by phone.")
    )
    assert done.status_code == 302
    change = ConsentChange.objects.get()
    assert (change.by, change.via, change.user, change.actor, change.reason) == (
        "staff",
        "admin",
        admin_user,
        admin_user.username,
        "Asked by phone.",
    )
    page = admin_client.get(url).content.decode()
    assert "Consent history" in page
    assert "Asked by phone." in page


def test_a_staff_resubscribe_needs_the_explicit_tick(admin_client):
    from campaigns.models import ConsentChange, Contact

    contact = ContactFactory(status=Contact.Status.UNSUBSCRIBED)
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])
    without = _contact_form(contact, status="subscribed", consent_reason="They asked.")
    assert "tick this to subscribe them again" in admin_client.post(url, without).content.decode()
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED

    assert admin_client.post(url, without | {"resubscribe": "on"}).status_code == 302
    contact.refresh_from_db()
    assert (contact.status, contact.unsubscribed_at) == (Contact.Status.SUBSCRIBED, None)
    assert ConsentChange.objects.get().to_status == Contact.Status.SUBSCRIBED


@pytest.mark.parametrize("way", ["delete page", "delete action"])
def test_deleting_a_contact_who_unsubscribed_in_the_admin_keeps_the_opt_out(admin_client, way):
    from campaigns.models import Contact

    left = ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    stays = ContactFactory(email="stays@example.com")
    if way == "delete page":
        url = reverse("admin:campaigns_contact_delete", args=[left.pk])
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    else:
        body = {"action": "delete_selected", "_selected_action": [left.pk, stays.pk], "post": "yes"}
        assert admin_client.post(reverse("admin:campaigns_contact_changelist"), body).status_code == 302
    assert not Contact.objects.filter(email="left@example.com").exists()
    assert list(Suppression.objects.values_list("email", "reason")) == [("left@example.com", "unsubscribe")]


def test_changing_the_address_of_a_contact_who_unsubscribed_in_the_admin_keeps_the_old_ones_opt_out(
    admin_client,
):
    from campaigns.models import Contact

    contact = ContactFactory(email="old@example.com", status=Contact.Status.UNSUBSCRIBED)
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])
    assert admin_client.post(url, _contact_form(contact, email="new@example.com")).status_code == 302
    assert list(Suppression.objects.values_list("email", "reason")) == [("old@example.com", "unsubscribe")]


def test_a_pages_heading_names_its_object_as_written_and_the_admins_own_names_capitalised(admin_client):
    contact = ContactFactory(email="ada@example.com")
    campaign = CampaignFactory(name="iPhone launch")

    contact_page = admin_client.get(reverse("admin:campaigns_contact_change", args=[contact.pk]))
    campaign_page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert re.search(r">\s*ada@example.com\s*</a", contact_page.content.decode())
    assert re.search(r">\s*iPhone launch\s*</a", campaign_page.content.decode())
    assert re.search(r">\s*Contacts\s*</a", contact_page.content.decode())
    assert "Ada@example.com" not in contact_page.content.decode()


def test_a_contacts_page_shows_the_addresses_it_held_before_oldest_first(admin_client):
    contact = ContactFactory(email="first@example.com")
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])
    admin_client.post(url, _contact_form(contact, email="second@example.com"))
    contact.refresh_from_db()
    admin_client.post(url, _contact_form(contact, email="third@example.com"))

    page = admin_client.get(url).content.decode()

    assert "Former addresses" in page
    assert "first@example.com, second@example.com" in page


@pytest.mark.parametrize("status", ["scheduled", "sending", "completed"])
def test_a_campaign_past_draft_cannot_be_changed_in_the_admin(admin_client, status):
    from campaigns.models import CampaignStep

    campaign = sendable_campaign(contacts=1, from_email="news@campanile.test", status=status)
    step = campaign.steps.get()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="from_email"' not in page  # Shown, not editable.
    admin_client.post(url, {"from_email": "Changed <changed@attacker.example>", "track_clicks": ""})
    campaign.refresh_from_db()
    assert (campaign.from_email, campaign.track_clicks) == ("news@campanile.test", True)

    step_url = reverse("admin:campaigns_campaignstep_change", args=[step.pk])
    assert admin_client.post(step_url, {"order": 7}).status_code in (302, 403)
    added = admin_client.post(
        reverse("admin:campaigns_campaignstep_add"),
        {"campaign": campaign.pk, "order": 7, "template": step.template_id, "delay": "0"},
    )
    assert added.status_code == 200  # The form refuses a campaign that is not a draft.
    assert list(CampaignStep.objects.filter(campaign=campaign).values_list("order", flat=True)) == [1]


def test_a_draft_campaign_stays_editable_in_the_admin(admin_client):
    campaign = sendable_campaign(contacts=1)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'name="from_email"' in page


def test_a_campaign_scheduled_while_its_page_is_saved_stays_as_scheduled(admin_user, rf):
    from django.contrib import admin as django_admin
    from django.core.exceptions import PermissionDenied

    from campaigns import services as campaign_services

    campaign = sendable_campaign(contacts=1, from_email="news@campanile.test")
    opened = Campaign.objects.get(pk=campaign.pk)  # The page's copy: a draft when it was opened.
    campaign_services.campaign_schedule(campaign=campaign)  # Another tab, meanwhile.
    opened.from_email = "Changed <changed@attacker.example>"
    request = rf.post("/")
    request.user = admin_user
    with pytest.raises(PermissionDenied):
        django_admin.site._registry[Campaign].save_model(request, opened, form=None, change=True)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.from_email) == (Campaign.Status.SCHEDULED, "news@campanile.test")


def test_a_contact_added_unsubscribed_in_the_admin_says_when_they_left(admin_client):
    from campaigns.models import Contact

    data = _contact_form(ContactFactory.build(email="form@example.com", status="unsubscribed"))
    admin_client.post(reverse("admin:campaigns_contact_add"), data)

    assert Contact.objects.get(email="form@example.com").unsubscribed_at is not None


@pytest.mark.parametrize(
    "attributes", ['{"a": "\\u0000"}', '{"a\\u0000": 1}', '{"a": "\\ud800"}', '{"a": 1e400}']
)
def test_attributes_the_database_cannot_store_are_a_form_error_in_the_admin(admin_client, attributes):
    from campaigns.models import Contact

    data = _contact_form(ContactFactory.build(email="odd@example.com"), attributes=attributes)
    response = admin_client.post(reverse("admin:campaigns_contact_add"), data)
    assert response.status_code == 200
    assert "Attributes may not hold" in response.content.decode()
    assert not Contact.objects.filter(email="odd@example.com").exists()


@pytest.mark.parametrize("attributes", ["[" * 3000, "[" * 900 + "]" * 900])
def test_attributes_nested_past_what_python_reads_are_a_form_error_in_the_admin(admin_client, attributes):
    from campaigns.models import Contact

    data = _contact_form(ContactFactory.build(email="deep@example.com"), attributes=attributes)
    response = admin_client.post(reverse("admin:campaigns_contact_add"), data)
    assert response.status_code == 200
    assert "Please correct the error" in response.content.decode()  # The form, with its errors.
    assert not Contact.objects.filter(email="deep@example.com").exists()


@pytest.mark.parametrize("template", ["abc", "\x00", "1e400", "nan", "99999999999999999999999", " "])
def test_a_step_template_that_is_no_id_is_a_form_error_never_a_500(admin_client, template):
    campaign = sendable_campaign(contacts=1)
    response = admin_client.post(
        reverse("admin:campaigns_campaignstep_add"),
        {"campaign": campaign.pk, "order": 5, "template": template, "delay": "0"},
    )
    assert response.status_code == 200
    assert "Please correct the error" in response.content.decode()  # The form, with its errors.
    assert campaign.steps.count() == 1


def _pane_of(page: str, marker: str) -> str | None:
    """Return the Alpine condition of the element `marker` names (its x-show), if any."""
    import re

    found = re.search(rf'<div id="{marker}"[^>]*x-show="([^"]+)"', page)
    return found.group(1) if found else None


def test_the_campaign_form_is_tabbed_overview_content_audience_then_the_campaigns_pages(admin_client):
    campaign = CampaignFactory()
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    add = admin_client.get(reverse("admin:campaigns_campaign_add")).content.decode()

    for page in (change, add):
        panes = [pane for pane in ("general", "steps", "audience") if f'data-pane="{pane}"' in page]
        assert panes == ["general", "steps", "audience"]  # Overview, Content, Audience.
        assert _pane_of(page, "steps-group") == "activeTab == 'steps'"
        assert _pane_of(page, "audience-group") == "activeTab == 'audience'"
        assert page.index('id="audience-group"') < page.index("id_lists") < page.index('id="steps-group"')
    tabs = change[
        change.index('id="campaign-tabs"') : change.index("</nav>", change.index('id="campaign-tabs"'))
    ]
    for label in ("Overview", "Content", "Audience", "Preview &amp; test", "Progress", "Report"):
        assert f">{label}</a>" in tabs, label
    preview = admin_client.get(
        reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
    ).content.decode()
    change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert f'href="{change_url}#audience"' in preview  # Elsewhere, a link to the form's pane.


def test_a_campaign_saved_without_a_valid_audience_opens_on_the_audience_tab(admin_client):
    data = {
        "name": "No audience",
        "from_email": "News <news@campanile.test>",
        "audience_mode": "nonsense",
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
    }
    page = admin_client.post(reverse("admin:campaigns_campaign_add"), data).content.decode()

    assert "x-init=\"activeTab = 'audience'\"" in page
    assert not Campaign.objects.filter(name="No audience").exists()


def test_a_step_saved_with_an_empty_delay_goes_right_after_the_one_before(admin_client):
    from datetime import timedelta

    from tests.factories import TemplateFactory

    template = TemplateFactory()
    data = {
        "name": "No delay",
        "from_email": "News <news@campanile.test>",
        "audience_mode": "fixed",
        "timezone": "UTC",
        "track_opens": "on",
        "track_clicks": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-order": "1",
        "steps-0-template": str(template.pk),
        "steps-0-delay": "",
        "steps-0-condition": "always",
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:campaigns_campaign_add"), data)

    assert response.status_code == 302
    (step,) = Campaign.objects.get(name="No delay").steps.all()
    assert step.delay == timedelta(0)


@pytest.mark.parametrize("page", ["admin:campaigns_contact_add", "admin:campaigns_suppression_add"])
@pytest.mark.parametrize("char", ["\u200b", "\u00ad", "\u202e", "\x01"])
def test_an_invisible_character_before_the_at_is_named_by_the_admins_forms(admin_client, page, char):
    fields = {"email": f"x{char}@example.com", "status": "subscribed", "timezone": "", "attributes": "{}"}
    fields |= {"reason": "manual", "source": "admin"}

    response = admin_client.post(reverse(page), fields)

    assert response.status_code == 200  # The form again, nothing saved.
    assert f"U+{ord(char):04X}" in response.content.decode()


@pytest.mark.parametrize(("typed", "stored"), [("null", {}), ("", {}), ("{}", {})])
def test_empty_attributes_in_the_contact_form_are_none(admin_client, typed, stored):
    from campaigns.models import Contact

    fields = {"email": "attr@example.com", "status": "subscribed", "timezone": "", "attributes": typed}
    fields |= CONTACT_INLINES
    response = admin_client.post(reverse("admin:campaigns_contact_add"), fields)

    assert response.status_code == 302
    assert Contact.objects.get(email="attr@example.com").attributes == stored


def test_attributes_that_are_no_object_are_a_form_error_as_in_the_api(admin_client):
    from campaigns.models import Contact

    fields = {"email": "attr@example.com", "status": "subscribed", "timezone": "", "attributes": "[]"}
    fields |= CONTACT_INLINES
    response = admin_client.post(reverse("admin:campaigns_contact_add"), fields)

    assert "Attributes must be a JSON object." in response.content.decode()
    assert not Contact.objects.filter(email="attr@example.com").exists()


def test_a_step_saved_on_its_own_page_with_an_empty_delay_goes_right_after_the_one_before(admin_client):
    from datetime import timedelta

    from campaigns.models import CampaignStep
    from tests.factories import TemplateFactory

    campaign, template = CampaignFactory(), TemplateFactory()
    fields = {"campaign": campaign.pk, "order": "7", "template": template.pk, "delay": ""}
    fields |= {"condition": "always"}

    response = admin_client.post(reverse("admin:campaigns_campaignstep_add"), fields)

    assert response.status_code == 302
    assert CampaignStep.objects.get(campaign=campaign, order=7).delay == timedelta(0)


def test_an_attribute_number_past_what_python_reads_is_a_form_error_never_a_500(admin_client):
    from campaigns.models import Contact

    fields = {"email": "big@example.com", "status": "subscribed", "timezone": ""}
    fields |= {"attributes": '{"a": 1' + "0" * 5000 + "}"} | CONTACT_INLINES

    response = admin_client.post(reverse("admin:campaigns_contact_add"), fields)

    assert response.status_code == 200
    assert "Enter a valid JSON." in response.content.decode()
    assert not Contact.objects.filter(email="big@example.com").exists()


def test_a_campaigns_reply_to_names_an_invisible_character_in_the_admin_and_the_api(admin_client, api_client):
    page = admin_client.post(
        reverse("admin:campaigns_campaign_add"), {"name": "R", "reply_to": "r\u200b@example.com"}
    ).content.decode()
    api = api_client.post(
        "/api/v1/campaigns",
        {"name": "R", "from_email": "news@example.com", "reply_to": "r\u200b@example.com"},
        format="json",
    )

    assert "U+200B" in page
    assert api.status_code == 400
    assert "U+200B" in str(api.json()["error"]["fields"]["reply_to"])


def test_a_steps_condition_looks_only_at_an_earlier_step_of_its_own_campaign(admin_client):
    from campaigns.models import CampaignStep
    from tests.factories import CampaignStepFactory, TemplateFactory

    elsewhere = CampaignStepFactory(order=1)  # Another campaign's step.
    campaign = CampaignFactory()
    first = CampaignStepFactory(campaign=campaign, order=1)
    template = TemplateFactory()
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(change).content.decode()
    assert f'<option value="{first.pk}"' in page
    assert f'<option value="{elsewhere.pk}"' not in page  # Only this campaign's steps are offered.

    fields = {
        "name": campaign.name,
        "from_email": "News <news@campanile.test>",
        "audience_mode": "fixed",
        "timezone": "UTC",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "1",
        "steps-0-id": str(first.pk),
        "steps-0-campaign": str(campaign.pk),
        "steps-0-order": "1",
        "steps-0-template": str(first.template_id),
        "steps-0-condition": "always",
        "steps-1-campaign": str(campaign.pk),
        "steps-1-order": "2",
        "steps-1-template": str(template.pk),
        "steps-1-condition": "opened",
        "steps-1-condition_step": str(elsewhere.pk),
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
    }
    response = admin_client.post(change, fields)
    assert response.status_code == 200  # The form again, saying why.
    assert not CampaignStep.objects.filter(campaign=campaign, order=2).exists()

    response = admin_client.post(change, fields | {"steps-1-condition_step": str(first.pk)})
    assert response.status_code == 302
    assert CampaignStep.objects.get(campaign=campaign, order=2).condition_step == first


def test_a_step_on_its_own_page_refuses_a_condition_on_another_campaign_or_a_later_step(admin_client):
    from campaigns.models import CampaignStep
    from tests.factories import CampaignStepFactory, TemplateFactory

    campaign, template = CampaignFactory(), TemplateFactory()
    later = CampaignStepFactory(campaign=campaign, order=5)
    elsewhere = CampaignStepFactory(order=1)
    fields = {
        "campaign": campaign.pk,
        "order": "3",
        "template": template.pk,
        "delay": "",
        "condition": "opened",
    }
    for looked_at in (elsewhere, later):
        response = admin_client.post(
            reverse("admin:campaigns_campaignstep_add"), fields | {"condition_step": looked_at.pk}
        )
        assert response.status_code == 200
        assert "an earlier step of the same campaign" in response.content.decode()
    assert not CampaignStep.objects.filter(campaign=campaign, order=3).exists()


def test_german_pages_group_the_audience_counts_the_german_way(admin_client, settings):
    from tests.factories import ContactListFactory, ListMembershipFactory

    audience = ContactListFactory(name="Newsletter")
    ListMembershipFactory.create_batch(1001, contact_list=audience)
    campaign = CampaignFactory()
    campaign.lists.add(audience)

    page = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    assert "Newsletter (1.001 angemeldet)" in page
    assert "1.001 Kontakte" in page
    assert "1,001" not in page


def _campaign_form(campaign, steps) -> dict:
    """Return the campaign form's fields as its page holds them, its saved steps as stored."""
    fields = {
        "name": campaign.name,
        "from_email": "News <news@campanile.test>",
        "audience_mode": "fixed",
        "timezone": "UTC",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
    }
    for n, step in enumerate(steps):
        fields |= {
            f"steps-{n}-id": str(step.pk),
            f"steps-{n}-campaign": str(campaign.pk),
            f"steps-{n}-order": str(step.order),
            f"steps-{n}-template": str(step.template_id),
            f"steps-{n}-condition": step.condition,
            f"steps-{n}-condition_step": str(step.condition_step_id or ""),
        }
    return fields


def test_a_steps_condition_is_judged_on_the_orders_saved_with_it(admin_client):
    from campaigns.models import CampaignStep
    from tests.factories import CampaignStepFactory

    campaign = CampaignFactory()
    first = CampaignStepFactory(campaign=campaign, order=1)
    second = CampaignStepFactory(campaign=campaign, order=2)
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    fields = _campaign_form(campaign, [first, second])
    # The first step moves to order 3 while the second looks at it: a later step, refused.
    later = fields | {
        "steps-0-order": "3",
        "steps-1-condition": "opened",
        "steps-1-condition_step": str(first.pk),
    }
    assert admin_client.post(change, later).status_code == 200
    assert CampaignStep.objects.get(pk=first.pk).order == 1
    # A step looking at itself: refused.
    itself = fields | {"steps-1-condition": "opened", "steps-1-condition_step": str(second.pk)}
    assert admin_client.post(change, itself).status_code == 200
    # The first step moves to order 3 and looks at the second, now before it: fine.
    moved = fields | {"steps-0-order": "3", "steps-0-condition": "opened"}
    moved |= {"steps-0-condition_step": str(second.pk)}
    assert admin_client.post(change, moved).status_code == 302
    assert CampaignStep.objects.get(pk=first.pk).condition_step == second


def test_a_step_looked_at_by_another_cannot_move_past_it_or_to_another_campaign(admin_client):
    from tests.factories import CampaignStepFactory

    campaign, other = CampaignFactory(), CampaignFactory()
    looked_at = CampaignStepFactory(campaign=campaign, order=1)
    CampaignStepFactory(campaign=campaign, order=2, condition="opened", condition_step=looked_at)
    elsewhere = CampaignStepFactory(campaign=other, order=1)
    url = reverse("admin:campaigns_campaignstep_change", args=[looked_at.pk])
    fields = {
        "campaign": campaign.pk,
        "order": "1",
        "template": looked_at.template_id,
        "delay": "",
        "condition": "always",
    }

    page = admin_client.get(url).content.decode()
    picker = page[page.index('name="condition_step"') :]
    picker = picker[: picker.index("</select>")]
    assert f'<option value="{looked_at.pk}"' not in picker  # Not its own condition…
    assert f'<option value="{elsewhere.pk}"' not in picker  # …nor another campaign's step.
    for moved in ({"order": "5"}, {"campaign": other.pk}):
        response = admin_client.post(url, fields | moved)
        assert response.status_code == 200
        assert "Step 2 looks at this step" in response.content.decode()
    assert admin_client.post(url, fields | {"delay": "1 day"}).status_code == 302  # A change that keeps it.


def test_the_api_refuses_a_condition_on_a_step_that_does_not_come_before(api_client):
    from tests.factories import TemplateFactory

    template = TemplateFactory()
    step = {"template": template.name, "condition": "opened"}
    for steps in (
        [step | {"order": 1, "condition_step": 2}, step | {"order": 2}],
        [step | {"order": 1}, step | {"order": 2, "condition_step": 2}],
    ):
        response = api_client.post(
            "/api/v1/campaigns",
            {"name": "x", "from_email": "news@campanile.test", "steps": steps},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert "an earlier step" in response.content.decode()


def test_a_step_sent_to_the_api_without_an_order_is_step_1_and_two_such_are_a_400(api_client):
    from tests.factories import TemplateFactory

    template = TemplateFactory()
    body = {"name": "x", "from_email": "news@campanile.test", "steps": [{"template": template.name}]}
    response = api_client.post("/api/v1/campaigns", body, format="json")
    assert response.status_code == 201, response.content
    assert [step["order"] for step in response.json()["steps"]] == [1]

    twice = body | {"steps": [{"template": template.name}, {"template": template.name}]}
    response = api_client.post("/api/v1/campaigns", twice, format="json")
    assert response.status_code == 400
    assert "Each step needs its own order." in response.content.decode()


def test_a_step_another_looks_at_cannot_be_deleted_without_a_word(admin_client):
    from campaigns.models import CampaignStep
    from tests.factories import CampaignStepFactory

    campaign = CampaignFactory()
    first = CampaignStepFactory(campaign=campaign, order=1)
    second = CampaignStepFactory(campaign=campaign, order=2, condition="not_opened", condition_step=first)
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    fields = _campaign_form(campaign, [first, second])

    page = admin_client.post(change, fields | {"steps-0-DELETE": "on"}).content.decode()
    assert "This condition looks at a step being deleted" in page
    assert CampaignStep.objects.filter(pk=first.pk).exists()

    delete_page = admin_client.get(reverse("admin:campaigns_campaignstep_delete", args=[first.pk]))
    assert str(second) in delete_page.content.decode()  # Named as what keeps it…
    admin_client.post(reverse("admin:campaigns_campaignstep_delete", args=[first.pk]), {"post": "yes"})
    assert CampaignStep.objects.filter(pk=first.pk).exists()  # …and not deleted.
    assert CampaignStep.objects.get(pk=second.pk).condition_step_id == first.pk
