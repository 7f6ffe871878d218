import json

import pytest
from django.urls import reverse

from campaigns.models import Suppression
from tests.tracking.sns_signing import TOPIC
from tracking.models import SnsMessage

pytestmark = pytest.mark.django_db

COMPLAINT = {
    "eventType": "Complaint",
    "complaint": {
        "complainedRecipients": [{"emailAddress": "angry@example.com"}],
        "timestamp": "2026-11-22T10:00:00.000Z",
    },
    "mail": {
        "timestamp": "2026-11-22T09:59:00.000Z",
        "messageId": "ses-1",
        "destination": ["angry@example.com"],
    },
}


def _apply_now(admin_client, message):
    return admin_client.post(
        reverse("admin:tracking_snsmessage_changelist"),
        {"action": "apply_now", "_selected_action": [message.pk]},
        follow=True,
    ).content.decode()


def test_an_operator_can_apply_a_waiting_message_now(admin_client, settings):
    message = SnsMessage.objects.create(message_id="m-1", topic_arn=TOPIC, message=json.dumps(COMPLAINT))

    assert "1 still waits for its ledger rows" in _apply_now(admin_client, message)
    assert Suppression.objects.get().email == "angry@example.com"  # The suppression never waits.

    settings.SES_EVENT_WAIT_SECONDS = 0  # Given up waiting: recorded without a row.
    assert "Applied." in _apply_now(admin_client, message)
    message.refresh_from_db()
    assert message.applied_at is not None
    assert Suppression.objects.get().email == "angry@example.com"


def test_the_inbox_is_read_only(admin_client):
    message = SnsMessage.objects.create(message_id="m-2", topic_arn=TOPIC, message="{}")
    assert admin_client.get(reverse("admin:tracking_snsmessage_add")).status_code == 403
    page = admin_client.get(reverse("admin:tracking_snsmessage_change", args=[message.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_the_contact_page_shows_its_timeline_of_steps_and_events(admin_client):
    from django.utils import timezone

    from delivery.models import TrackedLink
    from tests.factories import StepExecutionFactory, TrackingEventFactory

    row = StepExecutionFactory(status="sent", sent_at=timezone.now(), outcome="bounced")
    TrackingEventFactory(step_execution=row, type="bounce", kind="hard", recipient=row.email)
    TrackingEventFactory(step_execution=row, type="open", is_machine=True, recipient=row.email)
    link = TrackedLink.objects.create(step=row.step, url="https://shop.example.com/spring")
    TrackingEventFactory(step_execution=row, type="click", recipient=row.email, raw={"link_id": link.pk})
    StepExecutionFactory(contact=row.contact, status="exited", last_error="Left the sequence: bounced.")
    page = admin_client.get(reverse("admin:campaigns_contact_change", args=[row.contact.pk])).content.decode()
    for text in (
        "Timeline",
        "Step sent",
        "Bounced",
        "Bounce",
        "Open (machine)",
        "https://shop.example.com/spring",  # A click says which link.
        "Stopped before this step: an earlier email bounced.",
    ):
        assert text in page, text


def test_the_opens_and_clicks_list_names_each_campaign_and_each_clicked_address(admin_client):
    from delivery.models import TrackedLink
    from tests.factories import StepExecutionFactory, TrackingEventFactory
    from tracking.models import TrackingEvent

    row = StepExecutionFactory(step__campaign__name="Spring sale")
    link = TrackedLink.objects.create(step=row.step, url="https://shop.example/spring")
    TrackingEventFactory(type=TrackingEvent.Type.CLICK, step_execution=row, raw={"link_id": link.pk})
    TrackingEventFactory(type=TrackingEvent.Type.OPEN, step_execution=row, is_machine=True)

    page = admin_client.get(reverse("admin:tracking_trackingevent_changelist")).content.decode()

    assert "Spring sale" in page
    assert "https://shop.example/spring" in page
    assert ">Machine<" in page


def test_an_event_whose_payload_is_not_an_object_still_lists_and_exports(admin_client):
    from tests.factories import StepExecutionFactory, TrackingEventFactory

    row = StepExecutionFactory(status="sent")
    TrackingEventFactory(step_execution=row, type="click", recipient=row.email, raw=["not", "ours"])
    assert admin_client.get(reverse("admin:tracking_trackingevent_changelist")).status_code == 200
    export = admin_client.get(reverse("admin:campaigns_campaign_events_csv", args=[row.step.campaign.pk]))
    assert export.status_code == 200
    assert row.email in b"".join(export.streaming_content).decode()


def test_applying_messages_now_needs_the_permission_to_change_them_not_only_to_view(client, settings):
    from django.contrib.auth.models import Permission, User

    from tests.utils import staff_login

    settings.SES_EVENT_WAIT_SECONDS = 0
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_snsmessage", "view_contact"]))
    staff_login(client, viewer)
    message = SnsMessage.objects.create(message_id="m-2", topic_arn=TOPIC, message=json.dumps(COMPLAINT))

    page = client.get(reverse("admin:tracking_snsmessage_changelist")).content.decode()
    assert "apply_now" not in page  # Not offered…
    _apply_now(client, message)  # …nor run when posted anyway.
    message.refresh_from_db()
    assert message.applied_at is None
    assert not Suppression.objects.exists()

    viewer.user_permissions.add(Permission.objects.get(codename="change_snsmessage"))
    assert "Applied." in _apply_now(client, message)
