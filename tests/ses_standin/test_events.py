"""The stand-in as SES's mailbox simulator and SNS: signed events the app verifies and counts."""

import boto3
import pytest

from campaigns import services as campaign_services
from campaigns.models import Campaign, Contact, Suppression
from delivery import services
from delivery import ses as delivery_ses
from delivery.selectors import campaign_list_sending
from tests.factories import ListMembershipFactory, sendable_campaign
from tests.utils import wait_until
from tracking import hits as tracking_hits
from tracking import inbox as tracking_inbox
from tracking import sns
from tracking.exceptions import SnsCertificateUnavailable
from tracking.models import SnsMessage
from tracking.selectors import campaign_stats

TOPIC = "arn:aws:sns:us-east-1:000000000000:campanile-test-events"
SIMULATOR = "simulator.amazonses.com"
AUDIENCE = {
    "success": 6,
    "ooto": 1,
    "bounce": 2,
    "complaint": 1,
    "suppressionlist": 1,
}
LINKED_HTML = (
    '<p>Hi {{ contact.first_name }}. <a href="https://shop.example.com/spring">Spring sale</a> '
    'and <a href="https://shop.example.com/faq">questions</a>.</p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


@pytest.fixture
def local_ses(start_standin, live_server, settings, monkeypatch):
    """Point the app at a stand-in that posts signed events to this test's web server, as make run does."""

    def start(*readers: str, debug: bool = True):
        standin = start_standin(
            "--verify-senders",
            "--events-to", f"{live_server.url}/webhooks/ses/",
            "--topic-arn", TOPIC,
            "--reader-pace", "0.1",
            *readers,
        )  # fmt: skip
        settings.DEBUG = debug
        settings.SNS_DEV_CERTIFICATE = str(standin.state / "sns-signing-certificate.pem")
        settings.SES_SNS_TOPIC_ARNS = [TOPIC]
        settings.SNS_MIN_SIGNATURE_VERSION = 2
        settings.AWS_ENDPOINT_URL = settings.AWS_SES_REGION_ENDPOINT_URL = standin.endpoint
        settings.SES_CONFIGURATION_SET = "campanile-test"
        settings.PUBLIC_BASE_URL = live_server.url
        settings.SES_EVENT_WAIT_SECONDS = 0
        # The readers act a tenth as slowly as people; so must the scanner rule that judges them.
        monkeypatch.setattr(tracking_hits, "SCANNER_CLICK_SECONDS", 1)
        delivery_ses.ses_reset()
        boto3.client("ses", region_name="us-east-1", endpoint_url=standin.endpoint).verify_domain_identity(
            Domain="campanile.test"
        )
        return standin

    yield start
    delivery_ses.ses_reset()


def _campaign_sent(**template) -> Campaign:
    """Send a campaign to the simulator's addresses in this process, as a worker would."""
    campaign = sendable_campaign(contacts=0)
    step = campaign.steps.get()
    for name, value in template.items():
        setattr(step.template, name, value)
    step.template.save()
    for kind, count in AUDIENCE.items():
        for n in range(count):
            contact = Contact.objects.create(email=f"{kind}+{n}@{SIMULATOR}", first_name=f"{kind} {n}")
            ListMembershipFactory(contact_list=campaign.lists.get(), contact=contact)
    campaign_services.campaign_schedule(campaign=campaign)

    def sent() -> bool:
        services.delivery_tick()
        for sending in campaign_list_sending():
            services.campaign_send(campaign=sending, budget_seconds=2)
        campaign.refresh_from_db()
        return campaign.status == Campaign.Status.COMPLETED

    assert wait_until(sent, 60), campaign.status
    return campaign


def _applied(standin) -> None:
    """Wait for the stand-in's events and readers, then apply what the webhook and tracking took in."""
    assert standin.settled(60), standin.stats()
    while tracking_inbox.sns_messages_apply(budget_seconds=5):
        pass
    while tracking_hits.tracking_hits_apply():
        pass


@pytest.mark.django_db(transaction=True)
def test_every_simulator_outcome_arrives_as_a_verified_event_and_the_report_matches_the_stand_in(local_ses):
    standin = local_ses("--open-share", "1", "--click-share", "1", "--unsubscribe-share", "0.5")
    campaign = _campaign_sent(html_body=LINKED_HTML)
    _applied(standin)

    told = standin.stats()["campaigns"][str(campaign.pk)]
    stats = campaign_stats(campaign=campaign)
    assert told["accepted"] == stats["sent"] == 11
    assert told["delivered"] == stats["delivered"] == 8  # success, ooto and the complaint's delivery
    assert told["bounced"] == stats["bounced_hard"] == 2
    assert told["on_suppression_list"] == stats["bounced_other"] == 1
    assert told["complained"] == stats["complained"] == 1
    assert stats["suppressed"] == 4  # Hard bounces, the complaint, the address on SES's list.
    assert told["opened"] == stats["opens_unique"] == 8
    assert told["opened"] + told.get("reopened", 0) == stats["opens_total"]
    assert told["clicked"] == stats["clicks_unique"] == 8
    assert stats["machine_opens_total"] == stats["machine_clicks_total"] == 0
    assert told.get("unsubscribed", 0) == stats["unsubscribed"] > 0
    # Clicks went to the content's links only: never the honeypot, never the footer's unsubscribe.
    assert sum(link["clicks_unique"] for link in stats["links"]) == 8
    assert standin.stats()["events"]["refused"] == 0
    reasons = dict(Suppression.objects.values_list("email", "reason"))
    assert reasons[f"bounce+0@{SIMULATOR}"] == Suppression.Reason.HARD_BOUNCE
    assert reasons[f"complaint+0@{SIMULATOR}"] == Suppression.Reason.COMPLAINT
    assert reasons[f"suppressionlist+0@{SIMULATOR}"] == Suppression.Reason.ACCOUNT_SUPPRESSION


@pytest.mark.django_db(transaction=True)
def test_the_stand_in_certificate_is_not_trusted_outside_debug(local_ses, monkeypatch):
    fetched = []

    def no_network(url):
        fetched.append(url)
        raise SnsCertificateUnavailable("no network in tests")

    monkeypatch.setattr(sns, "sns_fetch_certificate", no_network)
    standin = local_ses(debug=False)
    _campaign_sent()

    # Outside debug the app looks for AWS's certificate, as for any message, and never trusts the
    # stand-in's file: nothing is stored, and SNS (the stand-in) is told to try again later.
    assert wait_until(lambda: standin.stats()["events"].get("retried", 0) >= 11, 30), standin.stats()
    assert standin.stats()["events"].get("published", 0) == 0
    assert fetched
    assert not SnsMessage.objects.exists()
