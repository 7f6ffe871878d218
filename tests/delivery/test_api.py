import email
import threading
from email.utils import getaddresses

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from rest_framework.test import APIClient

from campaigns.models import Contact, Suppression
from config.celery import app as celery_app
from core.services import api_key_create
from delivery import ledger, sending
from delivery.models import StepExecution, TransactionalMessage
from delivery.tasks import messages_dispatch
from tests.conftest import sent_messages
from tests.factories import ContactFactory, StepExecutionFactory, SuppressionFactory, TemplateFactory
from tests.utils import wait_until

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages"
# The body the AWS SES load-testing sample posts to its /send_messages, verbatim in shape.
SAMPLE = {
    "from": "sender@campanile.test",
    "to": "success@simulator.amazonses.com",
    "template_name": "SimpleEmail",
    "user_id": "4242",
    "config_set": "load-test-config",
    "tags": [{"Name": "campaign", "Value": "run1"}],
    "unique_code": "m3x9k2fhq7",
}


@pytest.fixture
def sample_world():
    """Create what the sample payload refers to: its template and its user."""
    TemplateFactory(
        name="SimpleEmail", subject="Hi {{ contact.first_name }}", html_body="<p>{{ attributes.plan }}</p>"
    )
    return ContactFactory(external_id="4242", first_name="Ada", attributes={"plan": "pro"})


def _post(client, body=None, **headers):
    return client.post(URL, body if body is not None else SAMPLE, format="json", **headers)


def _deliver_all():
    """Do what the transactional dispatcher does on its tick."""
    sending.messages_send(budget_seconds=10)


def test_sample_payload_is_accepted_queued_and_sent(api_client, sample_world, ses):
    response = _post(api_client)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["unique_code"] == SAMPLE["unique_code"]
    message = TransactionalMessage.objects.get(pk=body["id"])
    assert message.contact == sample_world
    assert message.tags == {"campaign": "run1"}

    _deliver_all()

    (sent,) = sent_messages()
    mime = email.message_from_string(sent.raw_data)
    assert sent.destinations[0] == "success@simulator.amazonses.com"
    assert mime["Subject"] == "Hi Ada"
    assert mime["X-SES-CONFIGURATION-SET"] == "load-test-config"
    assert "campaign=run1" in mime["X-SES-MESSAGE-TAGS"]
    assert f"campanile_message={message.pk}" in mime["X-SES-MESSAGE-TAGS"]
    assert mime["List-Unsubscribe"] is None  # Transactional mail: marketing unsubscribes do not apply.
    detail = api_client.get(f"{URL}/{message.pk}").json()
    assert detail["status"] == "sent"
    assert detail["ses_message_id"] == sent.id


def test_same_code_and_payload_replays_the_answer_and_sends_once(api_client, sample_world, ses):
    first = _post(api_client)
    _deliver_all()
    again = _post(api_client)

    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    _deliver_all()
    assert TransactionalMessage.objects.count() == 1
    assert len(sent_messages()) == 1


@pytest.mark.parametrize("gone", ["deleted", "erased"])
def test_a_retry_after_its_contact_went_replays_the_answer_and_sends_nothing(
    api_client, sample_world, ses, gone
):
    recipient = ContactFactory(email="reset@example.com")
    body = {**SAMPLE, "to": recipient.email, "user_id": "", "unique_code": "pwreset-1"}
    first = _post(api_client, body)
    _deliver_all()
    if gone == "deleted":
        api_client.delete(f"/api/v1/contacts/{recipient.pk}")
    else:
        api_client.post(f"/api/v1/contacts/{recipient.pk}/erase")

    again = _post(api_client, body)
    changed = _post(api_client, {**body, "template_name": "Other"})
    _deliver_all()

    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert changed.status_code == 409  # Still the code of another request, as before.
    assert len(sent_messages()) == 1


@pytest.mark.parametrize("gone", ["deleted", "erased"])
def test_a_retry_read_as_its_contact_goes_still_replays(api_client, sample_world, ses, monkeypatch, gone):
    from campaigns.consent import contacts_delete
    from console.erasure import contact_erase
    from delivery import messages

    recipient = ContactFactory(email="reset@example.com")
    body = {**SAMPLE, "to": recipient.email, "user_id": "", "unique_code": "pwreset-2"}
    first = _post(api_client, body)
    lookup = messages._message_insert_if_new

    def found_then_the_contact_goes(**kwargs):
        found = lookup(**kwargs)  # The lookup sees the message and its code…
        if gone == "deleted":  # …which go, or lose the code, before the answer is read.
            contacts_delete(contacts=Contact.objects.filter(pk=recipient.pk), source="api")
        else:
            contact_erase(contact=recipient, by="test")
        return found

    monkeypatch.setattr(messages, "_message_insert_if_new", found_then_the_contact_goes)

    again = _post(api_client, body)

    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_same_code_with_another_payload_is_409_and_sends_nothing(api_client, sample_world, ses):
    _post(api_client)
    changed = _post(api_client, {**SAMPLE, "to": "other@simulator.amazonses.com"})

    assert changed.status_code == 409
    assert "different request" in changed.json()["error"]["message"]
    assert TransactionalMessage.objects.count() == 1


def test_same_code_from_another_key_is_an_independent_request(api_client, sample_world):
    _post(api_client)
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=api_key_create(name="other")[1])

    response = _post(other)

    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response
    assert TransactionalMessage.objects.count() == 2


def test_idempotency_key_header_works_like_unique_code(api_client, sample_world):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}
    first = _post(api_client, body, HTTP_IDEMPOTENCY_KEY="header-code")
    again = _post(api_client, body, HTTP_IDEMPOTENCY_KEY="header-code")
    clash = _post(api_client, {**body, "unique_code": "body-code"}, HTTP_IDEMPOTENCY_KEY="header-code")

    assert first.json()["unique_code"] == "header-code"
    assert again.json()["id"] == first.json()["id"]
    assert clash.status_code == 400
    assert "unique_code" in clash.json()["error"]["fields"]


def test_an_idempotency_key_header_longer_than_a_code_is_a_400_saying_so(api_client, sample_world):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}

    response = _post(api_client, body, HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["unique_code"]  # A list, as every field's.
    assert "Idempotency-Key" in message
    assert "255" in message
    assert not TransactionalMessage.objects.exists()


def test_an_idempotency_key_header_beyond_ascii_is_a_400_pointing_to_the_body(api_client, sample_world):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}
    # A server reads a header's bytes as Latin-1: "café" sent as UTF-8 arrives as "cafÃ©".
    sent = "café-1".encode().decode("latin-1")

    response = _post(api_client, body, HTTP_IDEMPOTENCY_KEY=sent)

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["unique_code"]
    assert "ASCII" in message
    assert "unique_code" in message
    assert not TransactionalMessage.objects.exists()


def test_repeated_idempotency_key_headers_joined_by_the_server_are_a_400_not_a_third_code(
    api_client, sample_world
):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}

    joined = _post(api_client, body, HTTP_IDEMPOTENCY_KEY="order-7,order-8")
    in_the_body = _post(api_client, {**body, "unique_code": "order-7,order-8"})

    assert joined.status_code == 400
    (message,) = joined.json()["error"]["fields"]["unique_code"]
    assert "comma" in message
    assert "unique_code" in message
    assert in_the_body.status_code == 202  # The body carries one code, commas and all.
    assert TransactionalMessage.objects.get().unique_code == "order-7,order-8"


@pytest.mark.parametrize("code", ["", "  ", "\u00a0", "\t\u3000"], ids=repr)
def test_a_blank_unique_code_is_a_400_saying_so_and_queues_nothing(api_client, sample_world, code):
    first = _post(api_client, {**SAMPLE, "unique_code": code})
    again = _post(api_client, {**SAMPLE, "unique_code": code})  # The retry it would have been.

    assert (first.status_code, again.status_code) == (400, 400)
    (message,) = first.json()["error"]["fields"]["unique_code"]
    assert "blank" in message
    assert not TransactionalMessage.objects.exists()


@pytest.mark.parametrize("header", ["", "  ", "\u00a0"], ids=repr)
def test_a_blank_idempotency_key_header_is_a_400_saying_so(api_client, sample_world, header):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}

    response = _post(api_client, body, HTTP_IDEMPOTENCY_KEY=header)

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["unique_code"]
    assert "Idempotency-Key" in message
    assert "blank" in message
    assert not TransactionalMessage.objects.exists()


def test_codes_differing_only_in_whitespace_are_different_codes(api_client, sample_world):
    plain = _post(api_client, {**SAMPLE, "unique_code": "order-7"})
    spaced = _post(api_client, {**SAMPLE, "unique_code": "order-7\u3000"})
    replayed = _post(api_client, {**SAMPLE, "unique_code": "order-7\u3000"})

    assert (plain.status_code, spaced.status_code, replayed.status_code) == (202, 202, 202)
    assert spaced.json()["unique_code"] == "order-7\u3000"  # Kept exactly as given.
    assert spaced.json()["id"] != plain.json()["id"]
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == spaced.json()
    assert TransactionalMessage.objects.count() == 2


def test_without_a_code_every_request_is_a_new_email(api_client, sample_world):
    body = {k: v for k, v in SAMPLE.items() if k != "unique_code"}
    _post(api_client, body)
    _post(api_client, body)
    assert TransactionalMessage.objects.count() == 2


def test_suppressed_recipient_is_accepted_as_suppressed_and_never_sent(api_client, sample_world, ses):
    SuppressionFactory(email="Success@Simulator.amazonses.com")

    response = _post(api_client)
    _deliver_all()

    assert response.status_code == 202
    assert response.json()["status"] == "suppressed"
    assert sent_messages() == []


def test_an_address_kept_unsubscribed_still_gets_transactional_mail(api_client, sample_world, ses):
    # A marketing opt-out, kept as a suppression when its contact was deleted, is not a bounce.
    SuppressionFactory(email=SAMPLE["to"], reason=Suppression.Reason.UNSUBSCRIBE)
    response = _post(api_client)
    _deliver_all()
    assert response.json()["status"] == "pending"
    assert len(sent_messages()) == 1


def test_a_complaint_after_a_kept_unsubscribe_stops_transactional_mail(api_client, sample_world, ses):
    from campaigns.suppressions import suppression_add

    SuppressionFactory(email=SAMPLE["to"], reason=Suppression.Reason.UNSUBSCRIBE)
    suppression_add(email=SAMPLE["to"], reason=Suppression.Reason.COMPLAINT, source=Suppression.Source.SES)
    response = _post(api_client)
    _deliver_all()
    assert response.json()["status"] == "suppressed"
    assert sent_messages() == []


def test_suppression_arriving_after_queueing_still_stops_the_send(api_client, sample_world, ses):
    _post(api_client)
    SuppressionFactory(email=SAMPLE["to"])
    _deliver_all()
    assert sent_messages() == []
    assert StepExecution.objects.get().status == StepExecution.Status.SUPPRESSED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("from", "sender@campanile.test\r\nBcc: victim@example.com"),
        ("from", "Sender <sender@campanile.test>\nX-Injected: 1"),
        ("to", "success@simulator.amazonses.com\r\nBcc: victim@example.com"),
        ("to", "not-an-address"),
        ("config_set", "has spaces"),
        ("tags", [{"Name": "campanile_message", "Value": "x"}]),
        ("tags", [{"Name": "bad name", "Value": "x"}]),
        ("tags", [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]),
        ("tags", "not-a-list"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_records_nothing(api_client, sample_world, field, value):
    response = _post(api_client, {**SAMPLE, field: value})
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not TransactionalMessage.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("user_id", "nobody", "No contact has user_id"), ("template_name", "Missing", "No template is named")],
)
def test_unknown_user_or_template_is_404_with_a_clear_message(api_client, sample_world, field, value, says):
    response = _post(api_client, {**SAMPLE, field: value})
    assert response.status_code == 404
    assert says in response.json()["error"]["message"]
    assert not TransactionalMessage.objects.exists()


def test_without_user_id_the_recipient_is_the_contact(api_client, sample_world):
    body = {k: v for k, v in SAMPLE.items() if k != "user_id"}
    response = _post(api_client, {**body, "to": "New.Person@Example.com"})
    assert response.status_code == 202
    message = TransactionalMessage.objects.get()
    assert message.contact == Contact.objects.get(email="new.person@example.com")


def test_a_load_test_keys_new_recipients_are_load_test_contacts(api_client, sample_world):
    load_test = APIClient()
    load_test.credentials(HTTP_X_API_KEY=api_key_create(name="artillery", is_load_test=True)[1])
    body = {k: v for k, v in SAMPLE.items() if k not in ("user_id", "unique_code")}
    known = ContactFactory(email="known@example.com")

    assert _post(load_test, {**body, "to": "success+lt1@simulator.amazonses.com"}).status_code == 202
    assert _post(load_test, {**body, "to": known.email}).status_code == 202
    assert _post(api_client, {**body, "to": "customer@example.com"}).status_code == 202

    flagged = Contact.objects.filter(is_load_test=True).values_list("email", flat=True)
    assert list(flagged) == ["success+lt1@simulator.amazonses.com"]  # A marketer's own contact stays theirs.
    assert not Contact.objects.get(email="customer@example.com").is_load_test


@pytest.mark.parametrize("body", [[], "text", {"to": 1}, {}])
def test_malformed_bodies_are_400(api_client, body):
    assert _post(api_client, body).status_code == 400


def test_a_key_sees_only_its_own_messages(api_client, sample_world):
    message_id = _post(api_client).json()["id"]
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=api_key_create(name="other")[1])
    assert other.get(f"{URL}/{message_id}").status_code == 404
    assert api_client.get(f"{URL}/{message_id}").status_code == 200


def test_detail_lists_the_events_of_the_message(api_client, sample_world):
    from tests.factories import TrackingEventFactory

    message_id = _post(api_client).json()["id"]
    execution = StepExecution.objects.get(message_id=message_id)
    TrackingEventFactory(step_execution=execution, type="send", recipient=execution.email)
    TrackingEventFactory(step_execution=execution, type="delivery", recipient=execution.email)

    events = api_client.get(f"{URL}/{message_id}").json()["events"]

    assert [e["type"] for e in events] == ["send", "delivery"]


def test_ses_throttling_puts_the_message_back_to_pending(api_client, sample_world, ses, inject_ses_error):
    _post(api_client)
    inject_ses_error(code="Throttling", message="Maximum sending rate exceeded.")

    result = sending.message_send_batch()

    assert (result.released, result.failed) == (1, 0)
    assert StepExecution.objects.get().status == StepExecution.Status.PENDING
    assert sending.message_send_batch().sent == 1
    assert len(sent_messages()) == 1


def test_messages_are_claimed_once_and_never_sent_twice(api_client, sample_world, ses):
    for code in ("a", "b", "c"):
        _post(api_client, {**SAMPLE, "unique_code": code})
    first = ledger.message_claim_batch(size=2)
    second = ledger.message_claim_batch(size=5)

    assert len(first) == 2
    assert [row.pk for row in second] == [StepExecution.objects.order_by("pk").last().pk]
    assert sending.message_send_batch().claimed == 0


def test_the_transactional_dispatcher_leaves_campaign_rows_alone(ses):
    row = StepExecutionFactory()
    assert sending.message_send_batch().claimed == 0
    row.refresh_from_db()
    assert row.status == StepExecution.Status.PENDING


def test_the_dispatcher_is_on_the_transactional_queue_and_ticks_every_second(settings):
    from config import settings as production

    entry = production.CELERY_BEAT_SCHEDULE["messages-dispatch"]
    assert entry["task"] == "delivery.tasks.messages_dispatch"
    assert entry["schedule"] == 1.0
    assert production.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "transactional"}


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_first_requests_make_one_row_and_one_email(postgres_only, sample_world, ses):
    _obj, secret = api_key_create(name="parallel")
    barrier = threading.Barrier(20)
    answers = []

    def post():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=secret)
        barrier.wait()
        try:
            response = _post(client)
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 20
    assert {code for code, _ in answers} == {202}
    assert len({message_id for _, message_id in answers}) == 1
    assert TransactionalMessage.objects.count() == 1
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        messages_dispatch.delay()
        messages_dispatch.delay()  # A second tick finds nothing left to claim.
        assert wait_until(lambda: StepExecution.objects.get().status == StepExecution.Status.SENT, 30)
    assert len(sent_messages()) == 1


# --- Campaign ledger actions ----------------------------------------------------------------------


def test_retry_failed_requeues_only_failed_rows_and_reopens_a_completed_campaign(api_client):
    from campaigns.models import Campaign
    from tests.factories import CampaignStepFactory

    step = CampaignStepFactory(campaign__status=Campaign.Status.COMPLETED)
    failed = StepExecutionFactory(step=step, status=StepExecution.Status.FAILED, last_error="MessageRejected")
    unknown = StepExecutionFactory(step=step, status=StepExecution.Status.UNKNOWN)
    sent = StepExecutionFactory(step=step, status=StepExecution.Status.SENT)

    response = api_client.post(f"/api/v1/campaigns/{step.campaign.pk}/retry-failed")

    assert response.status_code == 200
    assert response.json() == {"retried": 1}
    statuses = {row.pk: row.status for row in StepExecution.objects.all()}
    assert statuses == {failed.pk: "pending", unknown.pk: "unknown", sent.pk: "sent"}
    step.campaign.refresh_from_db()
    assert step.campaign.status == Campaign.Status.SENDING


def test_retry_failed_on_a_draft_is_409(api_client):
    from tests.factories import CampaignFactory

    response = api_client.post(f"/api/v1/campaigns/{CampaignFactory().pk}/retry-failed")
    assert response.status_code == 409


def test_a_message_queued_in_a_transaction_that_rolls_back_is_never_sent(api_key, sample_world, ses):
    """The ledger row is the queue, so no publish can outlive the data."""
    from django.db import transaction

    from delivery.messages import MessageRequest, message_queue

    request = MessageRequest(from_email=SAMPLE["from"], to=SAMPLE["to"], template_name="SimpleEmail")

    def queue_then_fail():
        with transaction.atomic():
            message_queue(api_key=api_key[0], request=request)
            raise RuntimeError("the caller's transaction fails after queueing")

    with pytest.raises(RuntimeError):
        queue_then_fail()

    _deliver_all()

    assert not TransactionalMessage.objects.exists()
    assert sent_messages() == []


def test_unconfirmed_rows_are_re_queued_by_the_api_only_when_the_duplicate_risk_is_accepted(api_client):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import CampaignAudit
    from tests.factories import CampaignStepFactory, StepExecutionFactory

    step = CampaignStepFactory(campaign__status="completed")
    old = timezone.now() - timedelta(hours=2)
    lost = StepExecutionFactory(step=step, status=StepExecution.Status.UNKNOWN, send_started_at=old)
    recent = StepExecutionFactory(
        step=step, status=StepExecution.Status.UNKNOWN, send_started_at=timezone.now()
    )
    url = f"/api/v1/campaigns/{step.campaign.pk}"

    assert api_client.get(url).json()["status_display"] == "Completed — 2 unconfirmed"
    refused = api_client.post(f"{url}/requeue-unknown", {"older_than_seconds": 3600}, format="json")
    assert refused.status_code == 400
    refused = api_client.post(
        f"{url}/requeue-unknown", {"older_than_seconds": 3600, "accept_duplicate_risk": False}, format="json"
    )
    assert refused.status_code == 400
    assert "twice" in str(refused.json())

    for too_far in (10**11, 10**30):  # Past any date: a 400, never an overflow.
        refused = api_client.post(
            f"{url}/requeue-unknown",
            {"older_than_seconds": too_far, "accept_duplicate_risk": True},
            format="json",
        )
        assert refused.status_code == 400
    answer = api_client.post(
        f"{url}/requeue-unknown", {"older_than_seconds": 3600, "accept_duplicate_risk": True}, format="json"
    )
    assert answer.json() == {"requeued": 1}
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (lost.status, recent.status) == (StepExecution.Status.PENDING, StepExecution.Status.UNKNOWN)
    assert "may get the email twice" in lost.last_error
    campaign = api_client.get(url).json()
    assert (campaign["status"], campaign["unconfirmed"]) == ("sending", 1)  # Reopened to send it.
    audit = CampaignAudit.objects.get(campaign=step.campaign)
    assert audit.actor.startswith("API key")
    assert "1 unknown rows queued again" in audit.note


@pytest.mark.parametrize("char", ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200d"])
def test_a_recipient_with_an_invisible_character_is_refused_not_sent_past_its_suppression(
    api_client, sample_world, ses, char
):
    SuppressionFactory(email="x@example.com")

    response = _post(api_client, {**SAMPLE, "to": f"x@example.com{char}", "user_id": ""})
    _deliver_all()

    assert response.status_code == 400
    assert f"U+{ord(char):04X}" in response.json()["error"]["fields"]["to"][0]
    assert not TransactionalMessage.objects.exists()
    assert sent_messages() == []


@pytest.mark.parametrize("spelling", ["X@EXAMPLE\u3002com", '"x"@example.com', '"X"@EXAMPLE.com'])
def test_a_recipient_spelled_another_way_is_the_suppressed_address(api_client, sample_world, ses, spelling):
    SuppressionFactory(email="x@example.com")

    response = _post(api_client, {**SAMPLE, "to": spelling, "user_id": ""})
    _deliver_all()

    assert response.json()["status"] == "suppressed"
    assert TransactionalMessage.objects.get().to_email == "x@example.com"
    assert sent_messages() == []


@pytest.mark.parametrize(
    "sender",
    ["demo@campanile.test, attacker@evil.test", "e@evil.test,\u2028 <demo@campanile.test>"],
)
def test_a_sender_naming_two_addresses_is_refused_and_nothing_is_sent(api_client, sample_world, ses, sender):
    response = _post(api_client, {**SAMPLE, "from": sender})
    _deliver_all()

    assert response.status_code == 400
    assert "from" in response.json()["error"]["fields"]
    assert not TransactionalMessage.objects.exists()
    assert sent_messages() == []


def test_a_sender_name_with_commas_and_at_signs_goes_out_as_one_mailbox(api_client, sample_world, ses):
    response = _post(api_client, {**SAMPLE, "from": '"e@evil.test, x" <Sender@Campanile.test>'})
    _deliver_all()

    assert response.status_code == 202
    (sent,) = sent_messages()
    mime = email.message_from_string(sent.raw_data)
    assert getaddresses(mime.get_all("From")) == [("e@evil.test, x", "sender@campanile.test")]


def test_a_transactional_email_to_a_new_address_makes_no_campaign_subscriber(api_client, ses):
    from campaigns.segments import segment_summary

    TemplateFactory(name="receipt")
    body = {"from": "shop@campanile.test", "to": "buyer@example.com", "template_name": "receipt"}

    assert _post(api_client, body).status_code == 202

    buyer = Contact.objects.get(email="buyer@example.com")
    assert buyer.status == Contact.Status.TRANSACTIONAL
    summary = segment_summary(
        {"match": "all", "rules": [{"field": "email", "op": "eq", "value": buyer.email}]}
    )
    assert (summary["contacts"], summary["mailable"]) == (1, 0)
