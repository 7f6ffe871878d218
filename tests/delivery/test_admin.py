import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.consent import contact_unsubscribe
from campaigns.models import Campaign
from core.services import api_key_create
from delivery.models import StepExecution
from tests.factories import CampaignFactory, StepExecutionFactory, TransactionalMessageFactory

pytestmark = pytest.mark.django_db

Status = StepExecution.Status


def test_retry_failed_requeues_only_failed_rows_of_the_selected_campaigns(admin_client):
    failed = StepExecutionFactory(status=Status.FAILED, last_error="MessageRejected")
    campaign = failed.step.campaign
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    unknown = StepExecutionFactory(step=failed.step, status=Status.UNKNOWN)
    elsewhere = StepExecutionFactory(status=Status.FAILED)

    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "campaign_retry_failed_action", "_selected_action": [campaign.pk]},
        follow=True,
    )

    assert "1 failed recipient queued again" in response.content.decode()
    for row in (failed, unknown, elsewhere):
        row.refresh_from_db()
    assert (failed.status, unknown.status, elsewhere.status) == (
        Status.PENDING,
        Status.UNKNOWN,
        Status.FAILED,
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING  # A completed campaign reopens to send them.


def test_retry_failed_on_a_draft_says_why_not(admin_client):
    campaign = CampaignFactory()
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "campaign_retry_failed_action", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "there is nothing to retry" in response.content.decode()


def test_the_campaign_page_counts_each_steps_contacts_and_says_each_step_in_words(admin_client, ses):
    from datetime import timedelta

    from campaigns.models import Contact
    from delivery.selectors import campaign_step_progress
    from tests.delivery.test_drip import START, _drip, _emails, _run

    campaign = _drip(
        steps=[{"delay": timedelta(days=1)}, {"delay": timedelta(days=2), "condition": "clicked"}]
    )
    ada, _bob, _cy = _emails(campaign)
    _run(campaign, START)
    contact_unsubscribe(contact=Contact.objects.get(email=ada))
    _run(campaign, START + timedelta(days=1, minutes=1))

    progress = campaign_step_progress(campaign=campaign)
    assert [(row["waiting"], row["sent"], row["skipped"], row["exited"]) for row in progress] == [
        (0, 3, 0, 0),
        (0, 2, 0, 1),
        (2, 0, 0, 0),  # Two days after their step 2.
    ]
    assert progress[2]["summary"].startswith("Step 3: 2 days after the previous step, to those who clicked")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "Contacts per step" in page
    assert "1 day after the previous step" in page


def test_unconfirmed_emails_show_in_the_status_and_are_re_queued_only_past_a_stated_risk(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(hours=2)
    lost = StepExecutionFactory(status=Status.UNKNOWN, send_started_at=old)
    campaign = lost.step.campaign
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    fresh = StepExecutionFactory(step=lost.step, status=Status.UNKNOWN, send_started_at=timezone.now())

    listing = admin_client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert "Completed — 2 unconfirmed" in listing
    progress_url = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
    progress = admin_client.get(progress_url).content.decode()
    assert "Completed — 2 unconfirmed" in progress
    url = reverse("admin:campaigns_campaign_requeue_unknown", args=[campaign.pk])
    assert url in progress
    page = admin_client.get(url).content.decode()
    assert "will get it twice" in page  # The risk, before the button.
    lost.refresh_from_db()
    assert lost.status == Status.UNKNOWN  # Looking changes nothing.

    too_far = admin_client.post(url, {"minutes": str(10**20)}, follow=True)
    assert too_far.status_code == 200  # Past any date: a message, never an overflow.
    assert "from 1 to ten years" in too_far.content.decode()
    done = admin_client.post(url, {"minutes": "60"}, follow=True).content.decode()

    assert "1 unconfirmed email queued again" in done
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.status, fresh.status) == (Status.PENDING, Status.UNKNOWN)
    assert "admin" in lost.last_error


def test_scheduling_lands_on_progress_which_follows_the_campaign_live_until_its_report(admin_client, ses):
    from delivery import services as delivery_services
    from tests.factories import sendable_campaign

    campaign = sendable_campaign(contacts=3)
    progress_url = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])

    scheduled = admin_client.post(reverse("admin:campaigns_campaign_schedule_confirm", args=[campaign.pk]))

    assert scheduled["Location"] == progress_url
    page = admin_client.get(progress_url).content.decode()
    assert "Scheduled" in page
    assert 'hx-trigger="every 3s"' in page  # Polls while scheduled, not only while sending.
    assert 'id="campaign-tabs"' in page

    for campaign_id in delivery_services.delivery_tick():
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign_id), budget_seconds=10)
    polled = admin_client.get(progress_url, HTTP_HX_REQUEST="true")
    poll = polled.content.decode()

    assert "<html" not in poll  # The figures part alone.
    assert "Completed" in poll
    assert "3 of 3 emails" in poll
    assert "hx-get" not in poll  # Done: the page stops polling…
    report = reverse("admin:campaigns_campaign_report", args=[campaign.pk])
    assert polled["HX-Redirect"] == report  # …and turns into the report…
    assert report in admin_client.get(progress_url).content.decode()  # …to which a later visit leads.


def test_progress_says_how_much_is_left_and_when_it_will_be_done_at_the_rate_it_sends():
    from delivery.selectors import campaign_progress

    campaign = CampaignFactory(status=Campaign.Status.SENDING)
    counts = {"sent": 30, "failed": 2, "pending": 60, "sending": 8}

    progress = campaign_progress(campaign=campaign, counts=counts, rate=10.0)

    assert (progress["total"], progress["done"], progress["left"]) == (100, 32, 68)
    assert progress["share"] == 0.32
    assert progress["eta"].total_seconds() == 7  # 68 left at 10 a second.
    assert campaign_progress(campaign=campaign, counts=counts, rate=None)["eta"] is None


def test_a_paused_drips_progress_counts_the_emails_its_later_steps_will_make(admin_client):
    from campaigns.models import CampaignStep
    from tests.factories import TemplateFactory

    sent_at = timezone.now()
    first = StepExecutionFactory(
        status=Status.SENT, sent_at=sent_at, step__campaign__status=Campaign.Status.PAUSED
    ).step
    StepExecutionFactory(step=first, status=Status.SENT, sent_at=sent_at)
    CampaignStep.objects.create(campaign=first.campaign, order=2, template=TemplateFactory())
    url = reverse("admin:campaigns_campaign_progress", args=[first.campaign.pk])

    page = admin_client.get(url).content.decode()

    assert "2 of 2 emails." in page
    assert "2 more emails, for later steps, are held while the campaign is paused" in page


@pytest.mark.parametrize(
    "query",
    ["sent=-5&at=-1e300", "sent=1&at=1e308", "sent=-" + "9" * 300 + "&at=1", "sent=0&at=nan", "sent=x&at=1"],
)
def test_a_hand_made_refresh_link_on_progress_gives_no_rate_never_a_broken_page(admin_client, query):
    row = StepExecutionFactory(status=Status.PENDING, step__campaign__status=Campaign.Status.SENDING)
    url = reverse("admin:campaigns_campaign_progress", args=[row.step.campaign.pk]) + "?" + query

    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = admin_client.get(url, **headers)
        assert response.status_code == 200, headers
        assert "0 of 1 email," in response.content.decode()


def test_progress_reads_the_rate_from_the_last_pages_count_and_time():
    from django.http import QueryDict

    from delivery.admin_campaigns import _rate_since

    assert _rate_since(QueryDict("sent=10&at=100"), sent=40, now=110.0) == 3.0
    assert _rate_since(QueryDict("sent=50&at=100"), sent=40, now=110.0) is None  # More than now.
    assert _rate_since(QueryDict("sent=10&at=100"), sent=40, now=100.0 + 7200) is None  # Too old.
    assert _rate_since(QueryDict(""), sent=40, now=110.0) is None


@pytest.mark.parametrize(
    ("sender", "shown", "css"),
    [
        ("News <news@campanile.test>", "SES lets news@campanile.test send.", "cp-ok"),
        ("News <news@unverified.example>", "SES has not verified news@unverified.example", "cp-missing"),
    ],
)
def test_a_drafts_checklist_says_whether_ses_lets_its_sender_send(admin_client, ses, sender, shown, css):
    from django.core.cache import cache

    cache.clear()
    campaign = CampaignFactory(from_email=sender)

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    before = page[page.index('id="campaign-checklist"') : page.index("Sender verified")]
    assert before.rsplit("<li", 1)[1].startswith(f' class="{css}"')  # Met, or needed to schedule.
    assert shown in page


def test_when_ses_cannot_be_asked_the_sender_check_is_advice_not_a_wall(admin_client, ses, monkeypatch):
    from botocore.exceptions import EndpointConnectionError
    from django.core.cache import cache

    from delivery import ses as delivery_ses

    cache.clear()

    def unreachable(**_kwargs):
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    monkeypatch.setattr(
        delivery_ses.ses_backend().connection, "get_identity_verification_attributes", unreachable
    )
    campaign = CampaignFactory(from_email="News <news@campanile.test>")

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    before = page[page.index('id="campaign-checklist"') : page.index("Sender verified")]
    assert before.rsplit("<li", 1)[1].startswith(' class="cp-advice"')
    assert "SES could not be asked about news@campanile.test" in page


def test_a_test_send_renders_a_contacts_data_so_it_needs_the_permission_to_view_contacts(ses):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from tests.conftest import sent_messages
    from tests.factories import sendable_campaign
    from tests.utils import staff_login

    campaign = sendable_campaign(contacts=1)
    editor = User.objects.create_user(username="editor", password="pw", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_campaign", "change_campaign"]))
    client = staff_login(Client(), editor)
    url = reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])

    assert client.post(url, {"addresses": "me@campanile.test", "step": "1"}).status_code == 403
    assert sent_messages() == []


def test_a_campaign_test_names_suppressed_addresses_only_to_who_may_see_the_list(ses):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from campaigns.models import Suppression
    from tests.factories import sendable_campaign
    from tests.utils import staff_login

    campaign = sendable_campaign(contacts=1)
    Suppression.objects.create(email="gone@campanile.test", reason=Suppression.Reason.COMPLAINT)
    tester = User.objects.create_user(username="tester", password="pw", is_staff=True)
    tester.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_campaign", "change_campaign", "view_contact"])
    )
    client = staff_login(Client(), tester)
    url = reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])

    said = client.post(url, {"addresses": "gone@campanile.test", "step": "1"}, follow=True).content.decode()

    assert "can never be mailed" in said
    assert "gone@campanile.test (Complaint)" not in said


def test_a_tests_list_splits_at_commas_and_semicolons_but_not_inside_a_quoted_name():
    from delivery.admin_campaigns import test_addresses_parse

    raw = '"Doe, John" <john@example.com>; ada@example.com, Bob <bob@example.com>'

    assert test_addresses_parse(raw) == ["john@example.com", "ada@example.com", "bob@example.com"]


def test_a_tests_list_names_each_mailbox_once_however_it_is_spelled():
    from delivery.admin_campaigns import test_addresses_parse

    assert test_addresses_parse("dup@example.com, DUP@example.com; dup@EXAMPLE.com, b@example.com") == [
        "dup@example.com",
        "b@example.com",
    ]


@pytest.mark.parametrize("written", ["t @example.com", "t (x)@example.com", "Me <t @example.com>"])
def test_a_test_address_with_a_space_or_comment_inside_is_refused_naming_it(written):
    from django.core.exceptions import ValidationError

    from delivery.admin_campaigns import test_addresses_parse

    with pytest.raises(ValidationError, match="U\\+0020"):
        test_addresses_parse(written)


def test_the_transactional_emails_say_each_status_in_the_readers_language(admin_client):
    from tests.factories import StepExecutionFactory, TransactionalMessageFactory

    message = TransactionalMessageFactory()
    StepExecutionFactory(
        step=None,
        message=message,
        contact=message.contact,
        email=message.to_email,
        status=StepExecution.Status.SENT,
    )

    page = admin_client.get(
        reverse("admin:delivery_transactionalmessage_changelist"), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()

    assert ">Gesendet<" in page


def test_the_transactional_messages_list_hides_a_load_test_keys_messages_unless_asked(admin_client):
    signup = TransactionalMessageFactory(api_key=None)  # Campanile's own: under no key.
    theirs = TransactionalMessageFactory()
    load_test = TransactionalMessageFactory(api_key=api_key_create(name="lt", is_load_test=True)[0])
    url = reverse("admin:delivery_transactionalmessage_changelist")

    def listed(**params):
        return {row.pk for row in admin_client.get(url, params).context["cl"].result_list}

    assert listed() == {signup.pk, theirs.pk}
    assert listed(load_test="shown") == {signup.pk, theirs.pk, load_test.pk}
    assert listed(load_test="only") == {load_test.pk}
