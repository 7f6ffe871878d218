"""The reputation guard and Account health count what SES counts: mail to contacts deleted since too."""

import pytest
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.consent import contacts_delete
from campaigns.models import Campaign, Contact, Suppression
from delivery.models import StepExecution
from tests.tracking.test_ses_events import bounce, deliver, fixture, for_row, sent_row
from tracking.reputation import sending_health
from tracking.selectors import campaign_stats

pytestmark = pytest.mark.django_db


def _sending_campaign_with(rows: int) -> list[StepExecution]:
    first = sent_row()
    Campaign.objects.filter(pk=first.step.campaign_id).update(
        status=Campaign.Status.SENDING, started_at=timezone.now()
    )
    return [first] + [sent_row(step=first.step) for _ in range(rows - 1)]


def _contacts_of_delete(rows: list[StepExecution]) -> None:
    contacts = Contact.objects.filter(pk__in=[row.contact_id for row in rows])
    contacts_delete(contacts=contacts, source=Suppression.Source.API)


def test_a_campaign_whose_bounced_contacts_were_deleted_pauses_again_on_its_next_bounce(settings):
    settings.SES_REPUTATION_MIN_SENT = 50
    settings.SES_BOUNCE_RATE_LIMIT = 0.04
    rows = _sending_campaign_with(50)
    for row in rows[:3]:  # 6%
        deliver(bounce(row))
    campaign = Campaign.objects.get(pk=rows[0].step.campaign_id)
    assert campaign.status == Campaign.Status.PAUSED
    _contacts_of_delete(rows[:3])
    campaign_services.campaign_resume(campaign=campaign)

    deliver(bounce(rows[3]))  # 4 of the 50 SES took: 8%, whoever was deleted since.

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert "hard bounces 8.000% of 50 sent" in campaign.status_note


def test_account_health_counts_the_mail_and_bounces_of_deleted_contacts(settings):
    rows = _sending_campaign_with(4)
    deliver(bounce(rows[0]))
    deliver(for_row(fixture("event-delivery.json"), rows[0]))  # A second report of the same email.
    _contacts_of_delete(rows[:1])

    health = sending_health(now=timezone.now())

    assert health["sent"] == 4
    bounce_rate = next(rate for rate in health["rates"] if rate["name"] == "bounce")
    assert (bounce_rate["value"], bounce_rate["count"]) == (0.25, 1)
    # The campaign's own report stays over the emails on record.
    stats = campaign_stats(campaign=rows[1].step.campaign)
    assert (stats["sent"], stats["bounced_hard"]) == (3, 0)


def test_a_configuration_set_counts_an_email_complained_about_three_times_once(settings):
    settings.SES_REPUTATION_MIN_SENT = 20
    settings.SES_COMPLAINT_RATE_LIMIT = 0.10
    settings.SES_CONFIGURATION_SET = "marketing"
    settings.SES_EVENT_WAIT_SECONDS = 0  # These events name no ledger row.
    sending = _sending_campaign_with(1)[0].step.campaign_id
    for n in range(20):
        send = fixture("event-send.json")
        send["mail"].update(messageId=f"ses-{n}", timestamp=timezone.now().isoformat())
        send["mail"]["tags"] = {"ses:configuration-set": ["marketing"]}
        send["mail"]["destination"] = ["recipient@example.com"]
        deliver(send)
    complaint = fixture("event-complaint.json")
    complaint["mail"].update(messageId="ses-0", tags={"ses:configuration-set": ["marketing"]})
    complaint["complaint"]["timestamp"] = timezone.now().isoformat()

    for _report in range(3):  # The recipient's provider told three times: one email, 5% of 20.
        deliver(complaint)

    assert Campaign.objects.get(pk=sending).status == Campaign.Status.SENDING


def test_an_erasure_after_the_deletion_keeps_the_deleted_contacts_mail_in_account_health(settings):
    from tracking.erasure import event_anonymize
    from tracking.models import TrackingEvent

    rows = _sending_campaign_with(4)
    deliver(bounce(rows[0]))
    _contacts_of_delete(rows[:1])
    for event in TrackingEvent.objects.filter(step_execution__isnull=True):
        event_anonymize(event)  # As an erasure of the address does, after the contact went.
        event.save()

    health = sending_health(now=timezone.now())

    assert health["sent"] == 4
    bounce_rate = next(rate for rate in health["rates"] if rate["name"] == "bounce")
    assert bounce_rate["count"] == 1


def test_a_bounce_rate_alert_still_rises_after_the_bounced_contacts_are_deleted(settings):
    from tracking.alerts import alerts_check
    from tracking.models import Alert

    settings.SES_REPUTATION_MIN_SENT = 20
    settings.SES_BOUNCE_RATE_LIMIT = 0.04
    rows = _sending_campaign_with(20)
    for row in rows[:2]:  # 10%: the guard pauses it, and the alert is for a person to look.
        deliver(bounce(row))
    _contacts_of_delete(rows[:2])

    raised = alerts_check()

    assert [alert.kind for alert in raised] == [Alert.Kind.BOUNCE_RATE]
    assert "(20 sent)" in raised[0].message
