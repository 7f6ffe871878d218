from io import StringIO

import boto3
import pytest
from django.core.management import CommandError, call_command
from moto.server import ThreadedMotoServer

from tests.utils import free_port


@pytest.fixture
def moto_server(aws_credentials):
    """Run the same moto server `make run` uses, on a free loopback port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_ses_verify_sender_verifies_the_sender_domain(moto_server, settings):
    settings.AWS_ENDPOINT_URL = moto_server
    settings.DEFAULT_FROM_EMAIL = "Demo <demo@news.campanile.test>"
    out = StringIO()

    call_command("ses_verify_sender", "--wait", "5", stdout=out)

    client = boto3.client("ses", region_name=settings.AWS_REGION, endpoint_url=moto_server)
    assert "news.campanile.test" in client.list_identities(IdentityType="Domain")["Identities"]
    assert "news.campanile.test verified" in out.getvalue()


def test_ses_verify_sender_gives_up_clearly_when_nothing_answers(aws_credentials, settings):
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="did not answer"):
        call_command("ses_verify_sender", "--wait", "1")


def test_ses_verify_sender_refuses_to_touch_real_aws(settings):
    settings.AWS_ENDPOINT_URL = None
    with pytest.raises(CommandError, match="AWS_ENDPOINT_URL is not set"):
        call_command("ses_verify_sender")


@pytest.mark.django_db
def test_send_campaign_sends_until_the_campaign_is_done(ses):
    from campaigns import services as campaign_services
    from campaigns.models import Campaign
    from delivery import services
    from tests.conftest import sent_messages
    from tests.factories import sendable_campaign

    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=3))
    services.campaign_dispatch(campaign=campaign)

    call_command("send_campaign", str(campaign.pk))

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert len(sent_messages()) == 3


@pytest.mark.django_db
def test_send_campaign_names_an_unknown_campaign():
    with pytest.raises(CommandError, match="No campaign has id 999999"):
        call_command("send_campaign", "999999")


@pytest.mark.django_db
def test_send_worker_runs_the_tick_and_the_send_tasks_until_orphaned(ses, monkeypatch):
    from campaigns import services as campaign_services
    from campaigns.models import Campaign
    from delivery.management.commands import send_worker
    from delivery.models import StepExecution
    from tests.conftest import sent_messages
    from tests.factories import StepExecutionFactory, TransactionalMessageFactory, sendable_campaign

    campaign = campaign_services.campaign_schedule(campaign=sendable_campaign(contacts=3))
    message = TransactionalMessageFactory()
    StepExecutionFactory(step=None, message=message, contact=message.contact, email=message.to_email)
    parent, rounds = send_worker.os.getppid(), []

    def getppid() -> int:
        # Orphaned, so it stops, once everything was sent (or after many rounds, to fail below).
        rounds.append(1)
        campaign.refresh_from_db()
        done = campaign.status == Campaign.Status.COMPLETED and len(sent_messages()) == 4
        return parent + 1 if done or len(rounds) > 500 else parent

    monkeypatch.setattr(send_worker.os, "getppid", getppid)
    call_command("send_worker", "--budget", "1")

    assert campaign.status == Campaign.Status.COMPLETED
    assert sorted(m.destinations[0] for m in sent_messages()) == sorted(
        StepExecution.objects.values_list("email", flat=True)
    )


@pytest.mark.django_db
def test_send_worker_outlives_a_database_or_redis_outage_and_hands_back_what_it_held(ses, monkeypatch):
    from django.db import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    from campaigns.models import Campaign
    from delivery import ledger, services
    from delivery.management.commands import send_worker
    from tests.conftest import sent_messages
    from tests.factories import campaign_rows, started_campaign

    campaign = started_campaign(contacts=3)
    tick = services.delivery_tick
    failures = [OperationalError("server closed the connection"), RedisConnectionError("Connection refused")]

    def flaky_tick(**kwargs):
        if len(failures) == 2:
            # The first round claims two rows, then loses the database before sending them.
            ledger.step_execution_claim_batch(step=campaign.steps.get(), size=2)
        if failures:
            raise failures.pop(0)
        return tick(**kwargs)

    waits = []
    monkeypatch.setattr(send_worker.services, "delivery_tick", flaky_tick)
    monkeypatch.setattr(send_worker.time, "sleep", waits.append)
    monkeypatch.setattr(send_worker.connections, "close_all", lambda: None)  # The test's own connection.
    parent, rounds = send_worker.os.getppid(), []

    def getppid() -> int:
        rounds.append(1)
        done = Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED
        return parent + 1 if done or len(rounds) > 200 else parent

    monkeypatch.setattr(send_worker.os, "getppid", getppid)
    call_command("send_worker", "--budget", "1")

    assert not failures
    assert len([wait for wait in waits if wait >= 0.25]) == 2  # Backed off twice, then went on.
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED  # No lease waited out.
    mailed = sorted(m.destinations[0] for m in sent_messages())
    assert mailed == sorted(r.email for r in campaign_rows(campaign))  # Each once.
