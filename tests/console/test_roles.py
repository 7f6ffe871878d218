"""Staff roles (groups made by a migration) and the audit trail of campaign moves."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from campaigns import services
from campaigns.exceptions import InvalidTransition
from campaigns.models import Campaign, CampaignAudit
from tests.factories import sendable_campaign
from tests.utils import role_client, staff_login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url_name", "marketer", "administrator"),
    [
        ("admin:campaigns_campaign_changelist", 200, 200),
        ("admin:campaigns_campaign_add", 200, 200),
        ("admin:campaigns_template_add", 200, 200),
        ("admin:campaigns_contact_add", 200, 200),
        ("admin:campaigns_suppression_changelist", 200, 200),  # Marketers see who is excluded…
        ("admin:campaigns_suppression_add", 403, 200),  # …but only administrators change it.
        ("admin:core_apikey_changelist", 403, 200),
        ("admin:tracking_snsmessage_changelist", 403, 200),
        ("admin:django_celery_beat_periodictask_changelist", 403, 200),
        ("admin:django_celery_beat_periodictask_add", 403, 403),  # Beat's schedule: seen, not changed.
        ("admin:auth_user_changelist", 403, 200),
    ],
)
def test_each_role_reaches_what_it_needs_and_no_more(url_name, marketer, administrator):
    assert role_client("Marketers").get(reverse(url_name)).status_code == marketer
    assert role_client("Administrators").get(reverse(url_name)).status_code == administrator


def test_a_marketer_moves_campaigns_and_the_trail_says_who(settings):
    campaign = sendable_campaign()
    client = role_client("Marketers")
    response = client.post(
        reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "schedule"]), follow=True
    )
    assert response.status_code == 200
    client.post(reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "pause"]))
    services.campaign_resume(campaign=campaign)  # The system (or a task) resumes it.
    trail = list(CampaignAudit.objects.filter(campaign=campaign).order_by("pk"))
    assert [(entry.action, entry.from_status, entry.to_status, entry.actor) for entry in trail] == [
        ("schedule", "draft", "scheduled", "marketers (admin)"),
        ("pause", "scheduled", "paused", "marketers (admin)"),
        ("resume", "paused", "scheduled", "system"),
    ]
    assert trail[0].user.username == "marketers"
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "History of moves" in page
    assert "marketers (admin)" in page


def test_a_move_through_the_api_names_its_key(api_client):
    campaign = sendable_campaign()
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/schedule").status_code == 200
    entry = CampaignAudit.objects.get(campaign=campaign)
    assert entry.actor.startswith("API key “")
    assert entry.user is None
    assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"


def test_a_refused_move_leaves_no_trail():
    campaign = sendable_campaign()
    with pytest.raises(InvalidTransition, match="Cannot pause"):
        services.campaign_pause(campaign=campaign)
    assert not CampaignAudit.objects.exists()


def test_retrying_failed_rows_needs_the_right_to_change_campaigns():
    from django.contrib.auth.models import Permission

    from delivery.models import StepExecution
    from tests.factories import StepExecutionFactory

    failed = StepExecutionFactory(status="failed")
    Campaign.objects.filter(pk=failed.step.campaign_id).update(status="sending")
    viewer = User.objects.create_user(username="viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_stepexecution"))
    data = {"action": "retry_selected", "_selected_action": [failed.pk]}
    url = reverse("admin:delivery_stepexecution_changelist")
    client = Client()
    staff_login(client, viewer)
    assert client.post(url, data).status_code == 403
    assert StepExecution.objects.get(pk=failed.pk).status == "failed"
    role_client("Marketers").post(url, data)
    assert StepExecution.objects.get(pk=failed.pk).status == "pending"


def test_the_groups_hold_exactly_the_roles_defined_in_console():
    from console.roles import ROLES

    for name, codes in ROLES.items():
        held = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=name).permissions.select_related("content_type")
        }
        assert held == set(codes)


def test_a_group_changed_by_hand_is_put_back_at_the_next_migrate():
    from django.core.management import call_command

    marketers = Group.objects.get(name="Marketers")
    marketers.permissions.clear()
    call_command("migrate", verbosity=0)
    assert marketers.permissions.filter(codename="add_campaign").exists()


def test_an_administrator_can_neither_become_superuser_nor_touch_a_superusers_password():
    boss = User.objects.create_superuser(username="boss", password="boss-password")
    client = role_client("Administrators")
    me = User.objects.get(username="administrators")

    change = client.post(
        reverse("admin:auth_user_change", args=[me.pk]),
        {"username": me.username, "is_staff": "on", "is_superuser": "on", "is_active": "on"},
    )
    reset = client.post(
        reverse("admin:auth_user_password_change", args=[boss.pk]),
        {"password1": "taken-over-1", "password2": "taken-over-1"},
    )

    assert (change.status_code, reset.status_code) == (403, 403)
    me.refresh_from_db()
    boss.refresh_from_db()
    assert me.is_superuser is False
    assert boss.check_password("boss-password")
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200  # Still sees staff.


@pytest.mark.parametrize(
    "query",
    ["email=%00", "email__regex=(", "updated_at__year=99999"],
)
def test_a_list_page_the_database_cannot_filter_goes_back_with_a_message_never_a_500(admin_client, query):
    response = admin_client.get(f"{reverse('admin:campaigns_contact_changelist')}?{query}")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_contact_changelist")
    page = admin_client.get(response["Location"]).content.decode()
    assert "That filter or selection could not be applied" in page


@pytest.mark.parametrize("selected", ["abc", "1\x00"])
def test_an_action_on_a_selection_that_is_no_id_goes_back_with_a_message_never_a_500(admin_client, selected):
    url = reverse("admin:campaigns_contact_changelist")
    response = admin_client.post(url, {"action": "delete_selected", "_selected_action": [selected]})
    assert response.status_code == 302
    assert "could not be applied" in admin_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_an_admin_page_asked_for_an_id_holding_a_nul_is_a_404(admin_client, page):
    assert admin_client.get(reverse(f"admin:core_apikey_{page}", args=["\x00"])).status_code == 404


@pytest.mark.parametrize(
    ("model_name", "field_name"),
    [("contact", "lists"), ("contactlist", "campaigns"), ("campaign", "runs"), ("contact", "memberships")],
)
def test_the_autocomplete_asked_for_a_reverse_relation_is_a_403_never_a_500(model_name, field_name):
    query = {"app_label": "campaigns", "model_name": model_name, "field_name": field_name, "term": "a"}
    for role in ("Marketers", "Administrators"):
        assert role_client(role).get(reverse("admin:autocomplete"), query).status_code == 403


def test_only_a_superuser_changes_or_removes_an_entry_of_beats_schedule():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="campaign 4 recurrence", task="x", interval=every_minute)
    administrator = role_client("Administrators")
    change = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    page = administrator.get(change)
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # Read-only.
    assert administrator.post(change, {"name": "renamed", "interval": every_minute.pk}).status_code == 403
    delete = reverse("admin:django_celery_beat_periodictask_delete", args=[task.pk])
    assert administrator.post(delete, {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.get(pk=task.pk).name == "campaign 4 recurrence"


@pytest.mark.parametrize("action", ["run_tasks", "enable_tasks", "disable_tasks", "toggle_tasks"])
def test_an_administrator_gets_none_of_beats_list_actions(action):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="apply bounces", task="x", interval=every_minute)
    administrator = role_client("Administrators")
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    assert f'value="{action}"' not in administrator.get(url).content.decode()
    administrator.post(url, {"action": action, "_selected_action": [task.pk], "index": 0})
    task.refresh_from_db()
    assert (task.enabled, task.last_run_at) == (True, None)


def test_a_marketer_deletes_a_contact_who_was_sent_mail_and_its_opt_out_is_kept():
    from campaigns.models import Contact, Suppression
    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(status="sent", contact__status=Contact.Status.UNSUBSCRIBED)
    client = role_client("Marketers")
    url = reverse("admin:campaigns_contact_changelist")
    selected = {"action": "delete_selected", "_selected_action": [row.contact.pk]}

    asked = client.post(url, selected)
    assert asked.status_code == 200
    assert "permission" not in asked.content.decode().lower()  # Nothing it may not delete.
    client.post(url, {**selected, "post": "yes"})

    assert not Contact.objects.filter(pk=row.contact.pk).exists()
    assert Suppression.objects.filter(email=row.email, reason=Suppression.Reason.UNSUBSCRIBE).exists()


def test_who_may_delete_but_not_see_contacts_reads_nothing_of_them_on_the_delete_page():
    from django.contrib.auth.models import Permission

    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(status="sent", step__campaign__name="Hidden plan")
    remover = User.objects.create_user(username="remover", password="pw", is_staff=True)
    remover.user_permissions.add(Permission.objects.get(codename="delete_contact"))
    client = staff_login(Client(), remover)

    page = client.get(reverse("admin:campaigns_contact_delete", args=[row.contact.pk]))

    assert page.status_code == 403  # Deleting takes seeing: the page lists the contact's data.
    assert row.email not in page.content.decode()


def test_a_marketer_deletes_a_campaign_with_its_steps_and_a_list_with_its_members():
    from campaigns.models import ContactList
    from tests.factories import ListMembershipFactory

    campaign = sendable_campaign(contacts=1)
    members = ListMembershipFactory()
    client = role_client("Marketers")

    client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})
    client.post(
        reverse("admin:campaigns_contactlist_delete", args=[members.contact_list.pk]), {"post": "yes"}
    )

    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not ContactList.objects.filter(pk=members.contact_list.pk).exists()


def test_a_campaign_under_way_is_not_deleted_from_the_admin_as_from_the_api():
    from tests.factories import started_campaign

    campaign = started_campaign(contacts=2)
    client = role_client("Marketers")

    client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert Campaign.objects.filter(pk=campaign.pk).exists()  # Cancel it first, as the API says.


def test_delete_selected_deletes_no_campaign_under_way_and_says_which_to_cancel():
    from tests.factories import started_campaign

    running = started_campaign(contacts=2, name="Running sale")
    draft = sendable_campaign(contacts=1, name="Old draft")
    client = role_client("Marketers")
    action = {"action": "delete_selected", "_selected_action": [running.pk, draft.pk]}

    asked = client.post(reverse("admin:campaigns_campaign_changelist"), action)
    confirmed = client.post(reverse("admin:campaigns_campaign_changelist"), {**action, "post": "yes"})

    for page in (asked, confirmed):
        text = page.content.decode()
        assert "Running sale (Sending): cancel it before deleting it" in text
    assert set(Campaign.objects.values_list("pk", flat=True)) == {running.pk, draft.pk}
    client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"},
    )
    assert list(Campaign.objects.values_list("pk", flat=True)) == [running.pk]


def test_a_campaign_scheduled_after_its_delete_page_was_shown_is_not_deleted():
    campaign = sendable_campaign(contacts=1, name="Soon")
    services.campaign_schedule(campaign=campaign)

    with pytest.raises(InvalidTransition, match="“Soon”"):
        services.campaigns_delete(pks=[campaign.pk])
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_delete_pages_name_no_contact_to_staff_who_may_not_see_contacts():
    from django.contrib.auth.models import Permission

    from tests.factories import ListMembershipFactory

    campaign = sendable_campaign(contacts=1)
    member = ListMembershipFactory()
    staff = User.objects.create_user(username="tidier", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_campaign", "delete_campaign", "view_contactlist", "delete_contactlist"]
        )
    )
    client = staff_login(Client(), staff)

    for url in (
        reverse("admin:campaigns_campaign_delete", args=[campaign.pk]),
        reverse("admin:campaigns_contactlist_delete", args=[member.contact_list.pk]),
    ):
        page = client.get(url).content.decode()
        assert member.contact.email not in page, url
        assert campaign.lists.get().contacts.get().email not in page, url


@pytest.mark.parametrize(
    ("permission", "page"),
    [
        ("tracking.view_trackingevent", "admin:tracking_trackingevent_changelist"),
        ("delivery.view_stepexecution", "admin:delivery_stepexecution_changelist"),
        ("delivery.view_transactionalmessage", "admin:delivery_transactionalmessage_changelist"),
        ("campaigns.view_suppression", "admin:campaigns_suppression_changelist"),
        ("tracking.view_snsmessage", "admin:tracking_snsmessage_changelist"),
        ("tracking.view_softbouncestreak", "admin:tracking_softbouncestreak_changelist"),
    ],
)
def test_tables_of_recipients_data_need_the_permission_to_see_contacts_as_their_exports(permission, page):
    from django.contrib.auth.models import Permission

    from tests.factories import StepExecutionFactory

    StepExecutionFactory(email="reader@example.com")
    staff = User.objects.create_user(username="counter", password="pw", is_staff=True)
    app_label, codename = permission.split(".")
    staff.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    staff_login(client, staff)

    refused = client.get(reverse(page))
    home = client.get(reverse("admin:index")).content.decode()
    sees = Permission.objects.get(content_type__app_label="campaigns", codename="view_contact")
    staff.user_permissions.add(sees)
    allowed = client.get(reverse(page))  # Each request loads the user, and its permissions, anew.

    assert refused.status_code == 403
    assert f'href="{reverse(page)}"' not in home  # Nor offered in the sidebar.
    assert allowed.status_code == 200


def test_who_may_change_contacts_may_see_them_everywhere_alike():
    """Django's admin lets whoever may change contacts view them: every other page agrees."""
    from django.contrib.auth.models import Permission

    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(email="reader@example.com", status="sent")
    staff = User.objects.create_user(username="editor", password="pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="campaigns",
            codename__in=["change_contact", "view_campaign", "add_template"],
        ),
        Permission.objects.get(content_type__app_label="delivery", codename="view_stepexecution"),
    )
    client = Client()
    staff_login(client, staff)

    home = client.get(reverse("admin:index")).content.decode()
    contacts = client.get(reverse("admin:campaigns_contact_changelist"))
    send_log = client.get(reverse("admin:delivery_stepexecution_changelist"))
    export = client.get(reverse("admin:campaigns_campaign_recipients_csv", args=[row.step.campaign_id]))
    editor = client.get(reverse("admin:campaigns_template_add")).content.decode()

    assert f'href="{reverse("admin:campaigns_contact_changelist")}"' in home
    assert (contacts.status_code, send_log.status_code, export.status_code) == (200, 200, 200)
    assert 'name="preview_as"' in editor  # The template editor previews as a contact they pick.


def test_who_may_add_but_not_see_contacts_cannot_ask_the_contact_form_who_is_on_file():
    from django.contrib.auth.models import Permission

    staff = User.objects.create_user(username="adder", password="pw", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="campaigns", codename="add_contact")
    )
    client = Client()
    staff_login(client, staff)

    assert client.get(reverse("admin:campaigns_contact_add")).status_code == 403
