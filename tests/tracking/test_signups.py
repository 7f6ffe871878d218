"""Signup forms in public: double opt-in, the same answer for every address, and the abuse limits."""

import email
import email.policy
import random
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import ConsentChange, Contact, ContactConsent, ListDeparture, Signup, SignupForm
from campaigns.selectors import campaign_audience
from delivery import sending
from delivery.models import StepExecution, TransactionalMessage
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SignupFormFactory,
    StepExecutionFactory,
    SuppressionFactory,
    TemplateFactory,
    sendable_campaign,
)
from tracking import signups
from tracking.signups import Outcome, signups_expire
from tracking.unsubscribe import step_execution_leave_lists

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def network_limit_out_of_the_way(settings):
    """Tests share one Redis: only the test of the network limit meets it, from its own address."""
    settings.SIGNUP_MAX_PER_IP = 1_000_000


def _visitor() -> Client:
    """A browser from an address of its own (the per-network counter lives in the shared Redis)."""
    network = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}"
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=f"{network}::7")


def _sign_up(client: Client, form: SignupForm, **fields):
    """Post the form as a visitor, then do what a worker does next."""
    data = {"email": "ada@example.com", "first_name": "Ada", "consent": "on", "website": ""} | fields
    answer = client.post(reverse("signup-form", args=[form.slug]), data)
    signups.signups_process_waiting(older_than_seconds=0)
    return answer


def _submitted(form: SignupForm, address: str) -> Outcome:
    """Sign an address up through the service, and decide on it as the worker does."""
    signup = signups.signup_submit(form=form, fields=_fields(address), client_ip="")
    return signups.signup_process(signup_id=signup.pk)


def _confirm_link() -> str:
    """Return the confirmation link of the last email moto's SES took."""
    raw = sent_messages()[-1].raw_data
    body = email.message_from_string(raw).get_payload(decode=False)
    text = raw if isinstance(body, list) else body
    return re.search(
        r"(https?://[^\"'\s<>]+/confirm/[^\"'\s<>=)]+)", text.replace("=\r\n", "").replace("=\n", "")
    ).group(1)


def _mail_text() -> str:
    """Return the last email moto's SES took as its reader sees it: subject and parts, decoded."""
    mail = email.message_from_string(sent_messages()[-1].raw_data, policy=email.policy.default)
    parts = [part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"]
    return "\n".join([str(mail["Subject"]), *parts])


def test_a_visitor_signs_up_confirms_by_email_and_only_then_is_mailed_by_campaigns(ses):
    form = SignupFormFactory()
    page = _visitor().get(reverse("signup-form", args=[form.slug])).content.decode()
    assert "Join our newsletter" in page
    assert 'name="website"' in page  # The honeypot, hidden.

    answer = _sign_up(_visitor(), form)

    assert answer.status_code == 303
    assert answer["Location"] == reverse("signup-thanks", args=[form.slug])
    contact = Contact.objects.get(email="ada@example.com")
    # Nameless until confirmed: anyone may type anything beside someone else's address.
    assert (contact.status, contact.first_name) == (Contact.Status.PENDING, "")
    assert not contact.lists.exists()  # Joins only when confirmed.
    campaign = sendable_campaign(contacts=1)
    ListMembershipFactory(contact_list=campaign.lists.get(), contact=contact)
    assert contact not in campaign_audience(campaign=campaign)  # Pending: never mailed by a campaign.

    sending.messages_send(budget_seconds=10)
    link = _confirm_link()
    assert "Ada" not in _mail_text()
    path = link.split("://", 1)[1].split("/", 1)[1]
    shown = _visitor().get(f"/{path}")
    assert shown.status_code == 200
    assert "Yes, subscribe me" in shown.content.decode()
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.PENDING  # A GET confirms nothing.
    done = _visitor().post(f"/{path}")

    assert done.status_code == 200
    assert "You are subscribed" in done.content.decode()
    contact.refresh_from_db()
    assert (contact.status, contact.first_name) == (Contact.Status.SUBSCRIBED, "Ada")
    assert set(form.lists.all()) <= set(contact.lists.all())
    consent = ContactConsent.objects.get(contact=contact)
    assert (consent.source, consent.basis) == (ContactConsent.Source.FORM, ContactConsent.Basis.CONSENT)
    signup = consent.signup
    assert signup.status == Signup.Status.CONFIRMED
    assert signup.confirmed_at is not None
    assert signup.ip.startswith("2001:db8:")
    assert signup.ip.endswith("::")  # The /48 network, as TRACKING_IP_MODE keeps addresses.
    assert signup.consent_text == form.consent_text
    change = ConsentChange.objects.get(contact=contact)
    assert (change.from_status, change.to_status, change.via) == ("pending", "subscribed", "signup_form")
    assert contact in campaign_audience(campaign=campaign)
    assert _visitor().post(f"/{path}").status_code == 200  # Twice is harmless.
    assert ContactConsent.objects.filter(contact=contact).count() == 1


def test_the_answer_is_the_same_whoever_the_address_belongs_to(ses):
    form = SignupFormFactory(thank_you_text="Thanks!")
    ContactFactory(email="known@example.com", status=Contact.Status.SUBSCRIBED, first_name="Kim")
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)
    SuppressionFactory(email="bounced@example.com")

    answers = [
        _sign_up(_visitor(), form, email=address)
        for address in ("new@example.com", "known@example.com", "left@example.com", "bounced@example.com")
    ]

    assert {(answer.status_code, answer["Location"], answer.content) for answer in answers} == {
        (303, reverse("signup-thanks", args=[form.slug]), b"")
    }
    sending.messages_send(budget_seconds=10)
    mailed = {address for message in sent_messages() for address in message.destinations}
    assert len(sent_messages()) == 3
    assert mailed == {"known@example.com", "left@example.com", "new@example.com"}  # Never the suppressed.
    known = Contact.objects.get(email="known@example.com")
    assert (known.first_name, known.lists.count()) == ("Kim", 0)  # Unchanged until they confirm.
    assert Contact.objects.get(email="left@example.com").status == Contact.Status.UNSUBSCRIBED
    assert not Signup.objects.filter(email="bounced@example.com").exists()


def test_a_robot_filling_the_honeypot_is_thanked_and_nothing_is_kept():
    form = SignupFormFactory()

    answer = _sign_up(_visitor(), form, website="https://spam.example")

    assert answer.status_code == 303
    assert not Signup.objects.exists()
    assert not Contact.objects.exists()


def test_an_address_is_sent_a_confirmation_a_few_times_a_day_at_most(settings, ses):
    settings.SIGNUP_MAX_PER_ADDRESS = 2
    form = SignupFormFactory()

    outcomes = [_sign_up(_visitor(), form).status_code for _ in range(4)]

    assert outcomes == [303, 303, 303, 303]
    assert Signup.objects.filter(email="ada@example.com").count() == 2
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert _sign_up(_visitor(), form).status_code == 303
        assert Signup.objects.filter(email="ada@example.com").count() == 3


def test_a_network_past_its_hourly_limit_is_told_to_wait(settings, redis_only):
    settings.SIGNUP_MAX_PER_IP = 2
    form = SignupFormFactory()
    visitor = Client(REMOTE_ADDR=f"2001:db8:{random.randrange(65536):x}::1")
    neighbour = Client(REMOTE_ADDR=visitor.defaults["REMOTE_ADDR"].replace("::1", "::2"))  # Same /64.

    answers = [_sign_up(visitor, form, email=f"v{n}@example.com").status_code for n in range(2)]
    refused = _sign_up(neighbour, form, email="v3@example.com")

    assert answers == [303, 303]
    assert refused.status_code == 429
    assert "Too many signups came from your network" in refused.content.decode()
    assert not Signup.objects.filter(email="v3@example.com").exists()


def test_a_form_checks_what_it_asks_and_keeps_what_was_typed(ses):
    form = SignupFormFactory(ask_last_name=SignupForm.Ask.REQUIRED, language="de")

    answer = _sign_up(_visitor(), form, email="not an address", consent="", last_name="")

    page = answer.content.decode()
    assert answer.status_code == 400
    assert 'value="Ada"' in page
    assert "Kreuzen Sie dieses Feld an" in page  # In the form's language.
    assert '<html lang="de"' in page
    assert not Signup.objects.exists()


def test_a_visitor_who_unsubscribed_rejoins_through_a_single_opt_in_form_only_by_confirming(ses):
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    ContactFactory(email="left@example.com", status=Contact.Status.UNSUBSCRIBED)

    assert _submitted(form, "new@example.com") == Outcome.SUBSCRIBED
    assert _submitted(form, "left@example.com") == Outcome.MAILED

    assert Contact.objects.get(email="new@example.com").status == Contact.Status.SUBSCRIBED
    assert Signup.objects.get(email="new@example.com").status == Signup.Status.ACCEPTED
    left = Contact.objects.get(email="left@example.com")
    assert left.status == Contact.Status.UNSUBSCRIBED
    signups.signup_confirm(token=_token(Signup.objects.get(email="left@example.com")))
    left.refresh_from_db()
    assert left.status == Contact.Status.SUBSCRIBED
    assert ConsentChange.objects.get(contact=left).by == ConsentChange.By.CONTACT


def test_a_confirmation_link_expires_and_a_tampered_one_is_refused(settings, ses):
    form = SignupFormFactory()
    _submitted(form, "late@example.com")
    token = _token(Signup.objects.get())
    later = timezone.now() + timedelta(days=settings.SIGNUP_CONFIRM_DAYS, minutes=1)

    tampered = _visitor().get(
        reverse("signup-confirm", args=[token[:-1] + ("A" if token[-1] != "A" else "B")])
    )
    with time_machine.travel(later):
        expired = _visitor().post(reverse("signup-confirm", args=[token]))
        swept = signups_expire(days=settings.SIGNUP_CONFIRM_DAYS)

    assert tampered.status_code == 404
    assert expired.status_code == 404
    assert "not valid or has expired" in expired.content.decode()
    assert swept == (1, 1)  # The signup and the pending contact it made: held without consent.
    assert not Contact.objects.filter(email="late@example.com").exists()


def test_the_sweep_keeps_a_pending_contact_a_newer_signup_waits_on(settings, ses):
    form = SignupFormFactory()
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=settings.SIGNUP_CONFIRM_DAYS + 1)):
        _submitted(form, "again@example.com")
    _submitted(form, "again@example.com")

    assert signups_expire(days=settings.SIGNUP_CONFIRM_DAYS) == (1, 0)
    assert Contact.objects.get(email="again@example.com").status == Contact.Status.PENDING


def test_the_snippet_posts_from_another_site_without_a_token_and_needs_no_script():
    from tracking.signup_views import signup_form_html

    form = SignupFormFactory(visitor_chooses_lists=True)
    snippet = signup_form_html(signup_form=form, snippet=True)

    assert "<script" not in snippet
    assert f'action="http://testserver/f/{form.slug}"' in snippet or f"/f/{form.slug}" in snippet
    assert "csrfmiddlewaretoken" not in snippet
    chosen = form.lists.get()
    answer = _sign_up(_visitor(), form, lists=[chosen.pk], HTTP_ORIGIN="https://shop.example")
    assert answer.status_code == 303
    assert list(Signup.objects.get().lists.all()) == [chosen]


def test_a_closed_form_or_one_whose_lists_were_all_deleted_says_so_and_takes_no_one():
    closed = SignupFormFactory(is_active=False)
    emptied = SignupFormFactory()
    emptied.lists.get().delete()

    answers = [_sign_up(_visitor(), form) for form in (closed, emptied)]

    assert [answer.status_code for answer in answers] == [410, 410]
    assert "This form is closed" in answers[1].content.decode()
    assert not Signup.objects.exists()


def test_a_form_that_asks_for_a_captcha_takes_only_those_the_operators_check_passes(settings, ses):
    settings.SIGNUP_CAPTCHA_CHECK = "tests.tracking.test_signups.captcha_solved"
    settings.SIGNUP_CAPTCHA_HTML = '<div class="captcha-widget"></div>'
    form = SignupFormFactory(captcha=True)

    page = _visitor().get(reverse("signup-form", args=[form.slug])).content.decode()
    refused = _sign_up(_visitor(), form)
    taken = _sign_up(_visitor(), form, captcha="solved")

    assert '<div class="captcha-widget"></div>' in page
    assert refused.status_code == 400
    assert "Please solve the captcha." in refused.content.decode()
    assert taken.status_code == 303
    assert Signup.objects.count() == 1


def captcha_solved(request) -> bool:
    """The operator's captcha check, for the test above."""
    return request.POST.get("captcha") == "solved"


def test_a_redirect_after_signing_up_and_confirming_goes_where_the_form_says(ses):
    form = SignupFormFactory(
        thank_you_url="https://shop.example/thanks", confirmed_url="https://shop.example/ok"
    )

    page = _visitor().get(reverse("signup-form", args=[form.slug]))
    answer = _sign_up(_visitor(), form)
    asking = _visitor().get(reverse("signup-confirm", args=[_token(Signup.objects.get())]))
    confirmed = _visitor().post(reverse("signup-confirm", args=[_token(Signup.objects.get())]))

    assert (answer.status_code, answer["Location"]) == (303, "https://shop.example/thanks")
    assert (confirmed.status_code, confirmed["Location"]) == (303, "https://shop.example/ok")
    # A browser follows a form's redirect only where the page's CSP lets its forms lead.
    for shown in (page, asking):
        (form_action,) = [
            part for part in shown["Content-Security-Policy"].split(";") if "form-action" in part
        ]
        assert "https://shop.example" in form_action


def test_a_form_needs_a_confirmation_email_that_can_confirm():
    from django.core.exceptions import ValidationError

    form = SignupFormFactory.build(confirmation_template=TemplateFactory(html_body="<p>No link</p>"))

    with pytest.raises(ValidationError) as refused:
        form.clean()

    assert "confirm_url" in str(refused.value)


def _fields(address: str):
    from campaigns.signups import SignupFields

    return SignupFields(email=address, first_name="Vi")


def _token(signup: Signup) -> str:
    return signups.signup_confirm_url(signup=signup).rsplit("/", 1)[1]


def test_staff_reading_the_confirmation_email_in_the_admin_never_see_its_link(admin_client, ses):
    from delivery.models import TransactionalMessage

    form = SignupFormFactory()
    _submitted(form, "own@example.com")
    message = TransactionalMessage.objects.get()

    page = admin_client.get(reverse("admin:delivery_transactionalmessage_change", args=[message.pk]))

    assert page.status_code == 200
    assert "/confirm/" not in page.content.decode()
    assert message.api_key is None


@pytest.mark.django_db(transaction=True)
def test_the_per_address_limit_holds_when_many_signups_are_decided_at_once(settings, postgres_only, ses):
    settings.SIGNUP_MAX_PER_ADDRESS = 3
    form = SignupFormFactory()
    received = [
        signups.signup_submit(form=form, fields=_fields("race@example.org"), client_ip="") for _ in range(12)
    ]
    barrier = threading.Barrier(6)

    def decide(share: list[Signup]) -> None:
        barrier.wait()
        try:
            for signup in share:
                signups.signup_process(signup_id=signup.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(received[n::6],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Signup.objects.filter(email="race@example.org").count() == 3
    assert TransactionalMessage.objects.filter(to_email="race@example.org").count() == 3


def test_the_answer_does_the_same_work_for_a_suppressed_address_as_for_a_new_one():
    form = SignupFormFactory()
    SuppressionFactory(email="bounced@example.com")
    client = _visitor()
    url = reverse("signup-form", args=[form.slug])
    data = {"consent": "on", "website": ""}
    queries = []
    for address in ("new@example.com", "bounced@example.com"):
        with CaptureQueriesContext(connection) as captured:
            client.post(url, data | {"email": address})
        queries.append(
            [
                re.sub(r"\d+", "n", query["sql"].split(" WHERE ")[0][:60])
                for query in captured.captured_queries
            ]
        )

    assert queries[0] == queries[1]  # Nothing the answer waits on looks at who the address is.


def test_one_whose_opt_out_outlived_their_contact_rejoins_by_confirming(ses):
    from campaigns.models import Suppression, SuppressionRemoval
    from campaigns.suppressions import suppression_add

    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    suppression_add(email="kept@example.org", reason=Suppression.Reason.UNSUBSCRIBE, source="admin")

    assert _submitted(form, "kept@example.org") == Outcome.MAILED  # Even a single opt-in form asks.
    # And the confirmation does go: an opt-out stops no transactional email.
    assert StepExecution.objects.get(email="kept@example.org").status == StepExecution.Status.PENDING
    signups.signup_confirm(token=_token(Signup.objects.get()))

    assert Contact.objects.get(email="kept@example.org").status == Contact.Status.SUBSCRIBED
    assert not Suppression.objects.filter(email="kept@example.org").exists()
    # Lifted as any suppression is: on record, as the owner's own act.
    removal = SuppressionRemoval.objects.get()
    assert (removal.email, removal.suppression_reason, removal.by) == (
        "kept@example.org",
        "unsubscribe",
        "contact",
    )
    assert removal.reason.startswith("Confirmed a signup through the form")


def test_an_ipv4_visitor_seen_through_a_dual_stack_socket_is_counted_and_kept_as_ipv4(settings, redis_only):
    from tracking.hits import ip_for_storage

    settings.SIGNUP_MAX_PER_IP = 1
    base = random.randrange(256)

    allowed = [signups.signup_ip_allowed(client_ip=f"::ffff:10.{base}.{n}.1") for n in range(3)]

    assert allowed == [True, True, True]  # Three addresses, not one IPv6 network.
    assert ip_for_storage("::ffff:10.1.2.3") == "10.1.2.0"


def test_the_pages_say_their_language_answer_head_and_a_network_past_its_limit_when_to_come_back(
    settings, redis_only, ses
):
    settings.SIGNUP_MAX_PER_IP = 0 + 1
    form = SignupFormFactory(language="de")
    visitor = _visitor()
    url = reverse("signup-form", args=[form.slug])
    head = visitor.head(url)
    _sign_up(visitor, form, first_name="Ada Lovelace")
    refused = visitor.post(url, {"email": "b@example.com", "consent": "on"})
    token = _token(Signup.objects.get())
    confirm = reverse("signup-confirm", args=[token])

    assert head.status_code == 200
    assert head["Content-Language"] == "de"
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3601
    assert visitor.head(confirm).status_code == 200
    assert Signup.objects.get().status == Signup.Status.PENDING  # A HEAD confirms nothing.
    assert "Ada Lovelace" in visitor.get(confirm).content.decode()  # The name to be kept, shown.


def test_the_expiry_keeps_a_pending_contact_anyone_wrote_to_since(settings, api_client, ses):
    form = SignupFormFactory()
    later = timezone.now() + timedelta(days=settings.SIGNUP_CONFIRM_DAYS, hours=1)
    for address in ("lone@example.org", "crm@example.org", "mailed@example.org"):
        _submitted(form, address)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        rows = [{"email": "crm@example.org", "external_id": "CRM-1", "first_name": "Real"}]
        api_client.post("/api/v1/contacts/bulk", {"contacts": rows}, format="json")
        TemplateFactory(name="receipt")
        body = {"from": "shop@campanile.test", "to": "mailed@example.org", "template_name": "receipt"}
        assert api_client.post("/api/v1/messages", body, format="json").status_code == 202

    with time_machine.travel(later):
        swept = signups_expire(days=settings.SIGNUP_CONFIRM_DAYS)

    assert swept == (3, 1)
    assert set(Contact.objects.values_list("email", flat=True)) == {"crm@example.org", "mailed@example.org"}


def test_the_expiry_keeps_a_pending_contact_written_to_within_a_second_of_its_signup(
    settings, api_client, ses
):
    form = SignupFormFactory()
    for address in ("synced@example.org", "untouched@example.org"):
        _submitted(form, address)
    synced = Contact.objects.get(email="synced@example.org")
    with time_machine.travel(synced.created_at + timedelta(seconds=0.4)):  # An integrator's sync, at once.
        written = {"first_name": "Synced", "attributes": {"crm_id": "C-991"}}
        assert api_client.patch(f"/api/v1/contacts/{synced.pk}", written, format="json").status_code == 200

    with time_machine.travel(timezone.now() + timedelta(days=settings.SIGNUP_CONFIRM_DAYS, hours=1)):
        swept = signups_expire(days=settings.SIGNUP_CONFIRM_DAYS)

    assert swept == (2, 1)  # Both links expired; only the contact no one wrote to went with its own.
    kept = Contact.objects.get()
    assert (kept.email, kept.first_name, kept.attributes) == (
        "synced@example.org",
        "Synced",
        written["attributes"],
    )


def test_pending_contacts_made_before_the_upgrade_still_expire_unless_written_to_later(settings):
    import importlib

    from django.apps import apps

    module = importlib.import_module("campaigns.migrations.0042_pending_contacts_marked_unwritten")
    form = SignupFormFactory()
    for address in ("old@example.org", "edited@example.org"):
        _submitted(form, address)
    # As a signup's save left them before: its two times a moment apart; one edited a minute later.
    Contact.objects.filter(email="old@example.org").update(
        updated_at=F("created_at") + timedelta(microseconds=80)
    )
    Contact.objects.filter(email="edited@example.org").update(
        updated_at=F("created_at") + timedelta(minutes=1)
    )

    module.pending_contacts_marked_unwritten(apps, None)
    with time_machine.travel(timezone.now() + timedelta(days=settings.SIGNUP_CONFIRM_DAYS, hours=1)):
        swept = signups_expire(days=settings.SIGNUP_CONFIRM_DAYS)

    assert swept == (2, 1)
    assert list(Contact.objects.values_list("email", flat=True)) == ["edited@example.org"]


def test_an_old_confirmed_link_subscribes_no_one_who_left_since_and_never_fails():
    form = SignupFormFactory()
    _submitted(form, "gone@example.org")
    token = _token(Signup.objects.get())
    signups.signup_confirm(token=token)
    Contact.objects.filter(email="gone@example.org").update(status=Contact.Status.UNSUBSCRIBED)

    unsubscribed = _visitor().post(reverse("signup-confirm", args=[token]))
    Contact.objects.filter(email="gone@example.org").delete()
    deleted = _visitor().post(reverse("signup-confirm", args=[token]))

    assert unsubscribed.status_code == 200
    assert "not subscribed now" in unsubscribed.content.decode()
    assert deleted.status_code == 404  # Its signup went with the contact: a link to nothing.
    assert "not valid or has expired" in deleted.content.decode()


def test_deleting_a_contact_forgets_its_signups():
    form = SignupFormFactory()
    _submitted(form, "forget@example.org")

    Contact.objects.get(email="forget@example.org").delete()

    assert not Signup.objects.filter(email="forget@example.org").exists()


def test_a_confirmation_is_kept_in_the_history_in_english_whatever_the_forms_language(ses):
    form = SignupFormFactory(language="de", name="dbl")
    ContactFactory(email="de@example.org", status=Contact.Status.UNSUBSCRIBED)
    _submitted(form, "de@example.org")

    with translation.override("de"):
        signups.signup_confirm(token=_token(Signup.objects.get()))

    assert ConsentChange.objects.get().reason == "Confirmed a signup through the form “dbl”."


def test_an_expired_signups_confirmation_keeps_no_trace_of_the_address(settings, ses):
    import json

    from delivery.models import StepExecution
    from tests.factories import TrackingEventFactory
    from tracking.models import SnsMessage, TrackingEvent

    _submitted(SignupFormFactory(), "late@example.com")
    sending.messages_send(budget_seconds=5)
    row = StepExecution.objects.get(email="late@example.com")
    record = {"eventType": "Delivery", "mail": {"destination": ["late@example.com"], "commonHeaders": {}}}
    SnsMessage.objects.create(
        message_id="sns-late",
        topic_arn="arn:aws:sns:x",
        message=json.dumps(record),
        applied_at=timezone.now(),
    )
    TrackingEventFactory(
        step_execution=row, recipient="late@example.com", event_id="sns-late:late@example.com:Delivery"
    )

    with time_machine.travel(timezone.now() + timedelta(days=settings.SIGNUP_CONFIRM_DAYS, minutes=1)):
        assert signups_expire(days=settings.SIGNUP_CONFIRM_DAYS) == (1, 1)

    event = TrackingEvent.objects.get()
    assert (event.recipient, "late@" in event.event_id) == ("", False)
    assert "late@" not in SnsMessage.objects.get().message


def test_an_unsubscribe_landing_while_a_single_opt_in_signup_is_applied_is_never_undone():
    from campaigns.consent import contact_unsubscribe
    from campaigns.signups import Taken, signup_apply, signup_take
    from tests.factories import ContactFactory

    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    contact = ContactFactory(email="ada@example.com")
    signup = Signup.objects.create(form=form, form_name=form.name, email=contact.email, consent_text="Yes")
    taken, decided = signup_take(signup_id=signup.pk, limit=5, can_mail=True)
    assert decided == Taken.APPLY  # Subscribed, on a single opt-in form: applied as it comes…

    contact_unsubscribe(contact=contact)  # …but a one-click lands first.
    applied = signup_apply(signup=taken, confirmed=False)

    assert applied is None
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.UNSUBSCRIBED


class WorkerDied(Exception):
    """A worker ending between deciding on a signup and acting on it."""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("opt_in", "next_step"),
    [(SignupForm.OptIn.SINGLE, "signup_apply"), (SignupForm.OptIn.DOUBLE, "message_queue_own")],
)
def test_a_worker_dying_after_deciding_on_a_signup_leaves_it_for_the_sweep(
    monkeypatch, ses, opt_in, next_step
):
    form = SignupFormFactory(opt_in=opt_in)
    signup = signups.signup_submit(form=form, fields=_fields("late@example.com"), client_ip="")

    def died(**_kwargs):
        raise WorkerDied

    with monkeypatch.context() as patched:
        patched.setattr(signups, next_step, died)
        with pytest.raises(WorkerDied):
            signups.signup_process(signup_id=signup.pk)

    assert Signup.objects.get(pk=signup.pk).status == Signup.Status.RECEIVED
    assert not Contact.objects.filter(email="late@example.com").exists()
    assert signups.signups_process_waiting(older_than_seconds=0) == 1
    if opt_in == SignupForm.OptIn.SINGLE:
        assert Contact.objects.get(email="late@example.com").status == Contact.Status.SUBSCRIBED
    else:
        assert TransactionalMessage.objects.filter(to_email="late@example.com").count() == 1


def test_a_contact_who_left_a_list_rejoins_it_by_confirming_a_double_opt_in_signup(ses):
    campaign = sendable_campaign(contacts=1)
    news = campaign.lists.get()
    contact = news.contacts.get()
    row = StepExecutionFactory(step=campaign.steps.get(), contact=contact, email=contact.email)
    step_execution_leave_lists(execution=row)  # Their own click on the email's unsubscribe page.
    form = SignupFormFactory(lists=[news])

    _sign_up(_visitor(), form, email=contact.email.upper())
    assert not contact.lists.exists()  # Anyone may type an address: only its owner's click rejoins.
    sending.messages_send(budget_seconds=10)
    path = _confirm_link().split("://", 1)[1].split("/", 1)[1]
    assert _visitor().post(f"/{path}").status_code == 200

    assert list(contact.lists.all()) == [news]
    assert not ListDeparture.objects.exists()  # Forgotten: staff may add them again, and take them off.
    assert Signup.objects.get().status == Signup.Status.CONFIRMED


def test_a_form_sent_in_a_charset_other_than_utf8_is_a_415_and_signs_no_one_up():
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    body = "email=u7sig%2BAC4-y%40example.org&first_name=%2BADw-i%2BAD4-&consent=on&website="

    answer = _visitor().post(
        reverse("signup-form", args=[form.slug]),
        body,
        content_type="application/x-www-form-urlencoded; charset=utf-7",
    )
    signups.signups_process_waiting(older_than_seconds=0)

    assert answer.status_code == 415
    assert "character set" in answer.content.decode()
    assert not Signup.objects.exists()


@pytest.mark.parametrize("first_name", ["%ED%A0%80", "Ren%E9"], ids=["a surrogate's bytes", "latin-1"])
def test_a_form_holding_bytes_that_are_no_utf8_is_refused_and_signs_no_one_up(first_name):
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)
    body = f"email=bytes%40example.org&first_name={first_name}&consent=on&website="

    answer = _visitor().post(
        reverse("signup-form", args=[form.slug]), body, content_type="application/x-www-form-urlencoded"
    )
    signups.signups_process_waiting(older_than_seconds=0)

    assert answer.status_code == 415
    assert "character set" in answer.content.decode()
    assert not Signup.objects.exists()


#: What a stranger types as a name beside someone else's address, for the confirmation to carry.
LURE = "you won 5000 USD! Claim now at https://evil.example/claim"


def _naming_form(**kwargs) -> SignupForm:
    """Return a form whose confirmation email shows every name a template can reach."""
    template = TemplateFactory(
        subject="Confirm, {{ contact.first_name }} {{ contact.last_name }}",
        html_body=(
            "<p>Hi {{ contact.first_name }}|{{ contact.last_name }}|{{ contact.full_name }}: "
            '<a href="{{ confirm_url }}">Confirm</a></p>'
        ),
    )
    return SignupFormFactory(confirmation_template=template, ask_last_name=SignupForm.Ask.OPTIONAL, **kwargs)


@pytest.mark.parametrize(
    "on_file",
    [None, Contact.Status.PENDING, Contact.Status.UNSUBSCRIBED],
    ids=["a new address", "pending, named by an earlier signup", "one who unsubscribed"],
)
def test_a_confirmation_email_never_carries_the_names_a_visitor_typed(ses, on_file):
    if on_file == Contact.Status.PENDING:  # Named as signups named pending contacts before.
        ContactFactory(email="victim@example.com", status=on_file, first_name="Claim", last_name=LURE)
    elif on_file is not None:
        ContactFactory(email="victim@example.com", status=on_file, first_name="", last_name="")
    form = _naming_form()

    answer = _sign_up(_visitor(), form, email="victim@example.com", first_name=LURE, last_name="Claim")
    sending.messages_send(budget_seconds=10)

    assert answer.status_code == 303
    text = _mail_text()
    assert "/confirm/" in text
    assert "evil.example" not in text
    assert "Claim" not in text
    assert Signup.objects.get(email="victim@example.com").first_name == LURE  # Kept as evidence.


def test_a_confirmation_email_to_a_contact_on_file_keeps_the_name_staff_gave_them(ses):
    ContactFactory(email="kim@example.com", status=Contact.Status.SUBSCRIBED, first_name="Kim", last_name="")
    form = _naming_form()

    _sign_up(_visitor(), form, email="kim@example.com", first_name=LURE)
    sending.messages_send(budget_seconds=10)

    text = _mail_text()
    assert "Confirm, Kim" in text
    assert "evil.example" not in text


def test_a_single_opt_in_signup_names_a_pending_contact_an_unconfirmed_signup_left_nameless(ses):
    _sign_up(_visitor(), SignupFormFactory(), first_name="Ada")
    _sign_up(_visitor(), SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE), first_name="Ada", last_name="L")

    contact = Contact.objects.get(email="ada@example.com")
    assert (contact.status, contact.first_name) == (Contact.Status.SUBSCRIBED, "Ada")


@pytest.mark.parametrize("character", ["\u202e", "\u2066", "\u200b", "\ufeff", "\x1b", "\n"])
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_holding_a_control_bidi_override_or_invisible_space_is_refused_on_the_form(field, character):
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE, ask_last_name=SignupForm.Ask.OPTIONAL)

    answer = _sign_up(_visitor(), form, **{field: f"Ada{character}moc.elpmaxe"})

    page = answer.content.decode()
    assert answer.status_code == 400
    assert f"U+{ord(character):04X}" in page
    assert 'class="error"' in page
    assert not Signup.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("field", "values", "label"),
    [
        ("email", ["ada@example.com", "bob@example.com"], "Email address"),
        ("first_name", ["Ada", "Bob"], "First name"),
        ("email", ["ada@example.com", "ada@example.com"], "Email address"),
    ],
    ids=["two addresses", "two names", "one address twice"],
)
def test_a_form_sent_with_a_field_twice_is_a_400_naming_it_and_signs_no_one_up(field, values, label):
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE)

    answer = _sign_up(_visitor(), form, **{field: values})

    page = answer.content.decode()
    assert answer.status_code == 400
    assert f"“{label}” more than once" in page
    assert not Signup.objects.exists()
    assert not Contact.objects.exists()


def test_a_form_whose_visitor_ticks_several_of_its_lists_signs_them_up_to_each():
    chosen = [ContactListFactory(name="News"), ContactListFactory(name="Offers")]
    form = SignupFormFactory(opt_in=SignupForm.OptIn.SINGLE, visitor_chooses_lists=True, lists=chosen)

    answer = _sign_up(_visitor(), form, lists=[chosen[0].pk, chosen[1].pk])

    assert answer.status_code == 303
    assert set(Contact.objects.get().lists.all()) == set(chosen)
