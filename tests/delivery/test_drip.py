"""Drip campaigns: each contact's own clock, conditions on human engagement, exits, windows, cap."""

import email
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from campaigns import preferences
from campaigns import services as campaign_services
from campaigns.consent import contact_unsubscribe
from campaigns.models import Campaign, CampaignStep, Contact
from delivery import drip, fan_out
from delivery import ledger as delivery_ledger
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import (
    ContactFactory,
    ListMembershipFactory,
    SegmentFactory,
    StepExecutionFactory,
    TemplateFactory,
    TransactionalMessageFactory,
    sendable_campaign,
)
from tracking import hits as tracking_hits

pytestmark = pytest.mark.django_db

Status, Condition = StepExecution.Status, CampaignStep.Condition
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # A Monday.
PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"
LINKED = '<p>Hi {{ contact.first_name }}, <a href="https://shop.example.com/sale">sale</a>.</p>'


def _drip(*, contacts: int = 3, steps=(), at: datetime = START, **campaign_fields) -> Campaign:
    """Build a campaign whose first step is `LINKED` mail, then the given later steps, scheduled at `at`."""
    campaign = sendable_campaign(contacts=contacts, **campaign_fields)
    campaign.steps.update(template=TemplateFactory(html_body=LINKED))
    for order, fields in enumerate(steps, start=2):
        CampaignStep.objects.create(
            campaign=campaign, order=order, template=TemplateFactory(html_body=LINKED), **fields
        )
    with time_machine.travel(at, tick=False):
        campaign_services.campaign_schedule(campaign=campaign)
    return campaign


def _run(campaign: Campaign, at: datetime) -> None:
    """Let the engine do at `at` what its tick and send task would."""
    with time_machine.travel(at, tick=False):
        delivery_services.delivery_tick()
        delivery_services.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk), budget_seconds=10)


def _ledger(campaign: Campaign) -> dict[tuple[str, int], str]:
    return {
        (row.contact.email, row.step.order): row.status
        for row in StepExecution.objects.filter(step__campaign=campaign).select_related("contact", "step")
    }


def _emails(campaign: Campaign) -> list[str]:
    return list(
        Contact.objects.filter(lists__campaigns=campaign).order_by("pk").values_list("email", flat=True)
    )


def _mail_of(address: str, nth: int) -> str:
    """Return the HTML of the nth email sent to `address`."""
    mails = [email.message_from_string(message.raw_data) for message in sent_messages()]
    mine = [mail for mail in mails if address in mail["To"]]
    part = next(p for p in mine[nth - 1].walk() if p.get_content_type() == "text/html")
    return part.get_payload(decode=True).decode()


def _visit(html: str, kind: str, at: datetime, user_agent: str = PERSON) -> None:
    """Open the email's pixel, or click its first visible link, at `at`; the consumer records it."""
    visible = re.sub(r'<a [^>]*aria-hidden="true"[^>]*>', "", html)
    url = re.findall(rf'"(https?://[^"]+/{kind}/[^"]+)"', visible)[0]
    with time_machine.travel(at, tick=False):
        Client().get("/" + url.split("/", 3)[3], HTTP_USER_AGENT=user_agent)
        tracking_hits.tracking_hits_apply()


def test_a_three_step_drip_sends_each_contact_the_steps_its_engagement_and_clock_call_for(ses, settings):
    settings.REDIS_URL = ""
    campaign = _drip(
        steps=[
            {"delay": timedelta(days=2), "condition": Condition.NOT_OPENED},
            {"delay": timedelta(days=3), "condition": Condition.CLICKED},
        ]
    )
    ada, bob, cy = _emails(campaign)
    _run(campaign, START)
    assert _ledger(campaign) == {(ada, 1): "sent", (bob, 1): "sent", (cy, 1): "sent"}

    _visit(_mail_of(ada, 1), "o", START + timedelta(hours=3))  # Ada opens step 1.
    _visit(_mail_of(bob, 1), "o", START + timedelta(hours=3), user_agent="Mozilla/5.0")  # Apple's proxy.
    _run(campaign, START + timedelta(days=1, hours=23))  # Not two days yet: nobody moves.
    assert len(_ledger(campaign)) == 3

    _run(campaign, START + timedelta(days=2, minutes=5))
    assert _ledger(campaign) == {
        (ada, 1): "sent",
        (bob, 1): "sent",
        (cy, 1): "sent",
        (ada, 2): "skipped",  # She opened: no reminder.
        (bob, 2): "sent",  # A machine's open is no open.
        (cy, 2): "sent",
    }
    step2 = StepExecution.objects.get(step__order=2, contact__email=ada)
    assert step2.due_at == StepExecution.objects.get(step__order=1, contact__email=ada).sent_at + timedelta(
        days=2
    )

    _visit(_mail_of(cy, 2), "c", START + timedelta(days=2, hours=4))  # Cy clicks the reminder.
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # Contacts wait.
    _run(campaign, START + timedelta(days=4, hours=23))
    assert len(_ledger(campaign)) == 6  # Step 3 is three days after each one's step 2.

    _run(campaign, START + timedelta(days=5, hours=1))
    ledger = _ledger(campaign)
    assert (ledger[ada, 3], ledger[bob, 3], ledger[cy, 3]) == ("skipped", "skipped", "sent")
    assert len(sent_messages()) == 3 + 2 + 1
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_contact_who_clicked_without_loading_the_pixel_opened_and_gets_no_reminder(ses, settings):
    settings.REDIS_URL = ""
    campaign = _drip(contacts=2, steps=[{"delay": timedelta(days=2), "condition": Condition.NOT_OPENED}])
    ada, bob = _emails(campaign)
    _run(campaign, START)

    _visit(_mail_of(ada, 1), "c", START + timedelta(hours=3))  # Images blocked: a click, no open.
    _run(campaign, START + timedelta(days=2, minutes=5))

    assert _ledger(campaign) == {(ada, 1): "sent", (bob, 1): "sent", (ada, 2): "skipped", (bob, 2): "sent"}


def test_a_contact_who_unsubscribes_between_steps_leaves_the_sequence(ses):
    campaign = _drip(steps=[{"delay": timedelta(days=1)}])
    ada, bob, _cy = _emails(campaign)
    _run(campaign, START)
    contact_unsubscribe(contact=Contact.objects.get(email=ada))
    _run(campaign, START + timedelta(days=1, minutes=1))
    exited = StepExecution.objects.get(step__order=2, contact__email=ada)
    assert (exited.status, exited.last_error) == ("exited", "Left the sequence: unsubscribed.")
    assert _ledger(campaign)[bob, 2] == "sent"
    assert len(sent_messages()) == 3 + 2


def test_a_contact_who_leaves_the_campaigns_lists_gets_none_of_its_later_steps(ses):
    from tracking.unsubscribe import step_execution_leave_lists

    campaign = _drip(steps=[{"delay": timedelta(days=1)}])
    ada, bob, _cy = _emails(campaign)
    _run(campaign, START)
    # The unsubscribe page's "only leave these lists": Ada stays subscribed, off the campaign's list.
    step_execution_leave_lists(execution=StepExecution.objects.get(step__order=1, contact__email=ada))
    assert Contact.objects.get(email=ada).status == Contact.Status.SUBSCRIBED
    _run(campaign, START + timedelta(days=1, minutes=1))
    exited = StepExecution.objects.get(step__order=2, contact__email=ada)
    assert (exited.status, exited.last_error) == (
        "exited",
        "Left the sequence: left the campaign's audience.",
    )
    assert _ledger(campaign)[bob, 2] == "sent"
    assert sum(ada in mail.raw_data for mail in sent_messages()) == 1


def test_a_contact_who_stops_matching_a_segment_only_campaign_gets_none_of_its_later_steps(ses):
    campaign = _drip(steps=[{"delay": timedelta(days=1)}])
    ada, bob, cy = _emails(campaign)
    Contact.objects.update(attributes={"plan": "pro"})
    campaign.lists.clear()  # The segment alone is the audience.
    campaign.segments.add(
        SegmentFactory(
            definition={"match": "all", "rules": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}
        )
    )
    _run(campaign, START)
    assert {email for email, order in _ledger(campaign)} == {ada, bob, cy}
    Contact.objects.filter(email=ada).update(attributes={"plan": "free"})  # Ada downgrades.

    _run(campaign, START + timedelta(days=1, minutes=1))

    exited = StepExecution.objects.get(step__order=2, contact__email=ada)
    assert (exited.status, exited.last_error) == (
        "exited",
        "Left the sequence: left the campaign's audience.",
    )
    assert (_ledger(campaign)[bob, 2], _ledger(campaign)[cy, 2]) == ("sent", "sent")


def test_a_row_queued_before_its_contact_left_the_lists_is_not_sent(ses):
    campaign = sendable_campaign(contacts=2)
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    from delivery import fan_out

    fan_out.step_fan_out(step=campaign.steps.get())  # Rows queued…
    gone = Contact.objects.filter(lists__campaigns=campaign).order_by("pk").first()
    gone.memberships.all().delete()  # …then staff take one contact off the list.
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    row = StepExecution.objects.get(contact=gone)
    assert (row.status, row.last_error) == ("exited", "Left the sequence: left the campaign's audience.")
    assert len(sent_messages()) == 1
    assert all(gone.email not in mail.raw_data for mail in sent_messages())


def test_a_later_step_goes_to_the_address_the_contact_has_now(ses):
    campaign = _drip(contacts=1, steps=[{"delay": timedelta(days=1)}])
    (old,) = _emails(campaign)
    _run(campaign, START)
    contact = Contact.objects.get(email=old)
    contact.email = "new-" + old  # Changed in the admin or through the API: the old box may be another's.
    contact.save()
    _run(campaign, START + timedelta(days=1, minutes=1))
    second = email.message_from_string(sent_messages()[1].raw_data)
    assert second["To"] == contact.email
    assert StepExecution.objects.get(step__order=2).email == contact.email


def test_a_row_queued_before_its_contact_changed_address_goes_to_the_new_one(ses):
    campaign = sendable_campaign(contacts=1)
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    from delivery import fan_out

    fan_out.step_fan_out(step=campaign.steps.get())
    contact = Contact.objects.get(lists__campaigns=campaign)
    contact.email = "moved-" + contact.email
    contact.save()
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    (sent,) = sent_messages()
    assert email.message_from_string(sent.raw_data)["To"] == contact.email


def test_a_contact_time_zone_this_machine_lacks_falls_back_and_the_batch_goes_on(ses):
    campaign = _drip(contacts=2, send_window_start=time(9), send_window_end=time(17), timezone="Europe/Paris")
    odd = Contact.objects.filter(lists__campaigns=campaign).order_by("pk").first()
    Contact.objects.filter(pk=odd.pk).update(timezone="Mars/Olympus")  # Saved where tzdata knew it.
    _run(campaign, START)  # 09:00 in Paris: the odd zone falls back to the campaign's, open too.
    assert set(StepExecution.objects.values_list("status", flat=True)) == {"sent"}


def test_bounced_and_goal_reaching_contacts_exit(ses, settings):
    settings.REDIS_URL = ""
    campaign = _drip(steps=[{"delay": timedelta(days=1)}], goal_url="https://shop.example.com/")
    ada, bob, cy = _emails(campaign)
    _run(campaign, START)
    StepExecution.objects.filter(contact__email=bob).update(outcome=StepExecution.Outcome.BOUNCED)
    _visit(_mail_of(cy, 1), "c", START + timedelta(hours=2))  # The sale link: the goal.
    _run(campaign, START + timedelta(days=1, minutes=1))
    rows = {
        row.contact.email: row
        for row in StepExecution.objects.filter(step__order=2).select_related("contact")
    }
    assert rows[ada].status == "sent"
    assert (rows[bob].status, rows[bob].last_error) == ("exited", "Left the sequence: bounced.")
    assert (rows[cy].status, rows[cy].last_error) == ("exited", "Left the sequence: goal reached.")


def test_clicked_a_given_link_and_a_fixed_time(ses, settings):
    settings.REDIS_URL = ""
    at = START + timedelta(days=10)
    campaign = _drip(
        steps=[
            {
                "send_at": at,
                "condition": Condition.CLICKED_LINK,
                "condition_url": "https://shop.example.com/sale",
            }
        ]
    )
    ada, bob, _cy = _emails(campaign)
    _run(campaign, START)
    _visit(_mail_of(ada, 1), "c", START + timedelta(hours=2))
    _run(campaign, at - timedelta(minutes=1))
    assert len(_ledger(campaign)) == 3  # Not before its time.
    _run(campaign, at + timedelta(minutes=1))
    ledger = _ledger(campaign)
    assert (ledger[ada, 2], ledger[bob, 2]) == ("sent", "skipped")
    assert StepExecution.objects.get(step__order=2, contact__email=bob).due_at == at


def test_an_evergreen_contact_joining_late_starts_at_step_one_on_its_own_clock(ses):
    campaign = _drip(contacts=1, steps=[{"delay": timedelta(days=1)}], audience_mode="evergreen")
    (ada,) = _emails(campaign)
    _run(campaign, START)
    late = ContactFactory()
    ListMembershipFactory(contact=late, contact_list=campaign.lists.get())
    _run(campaign, START + timedelta(hours=12))
    assert _ledger(campaign) == {(ada, 1): "sent", (late.email, 1): "sent"}
    _run(campaign, START + timedelta(days=1, minutes=1))
    assert _ledger(campaign)[ada, 2] == "sent"
    assert (late.email, 2) not in _ledger(campaign)  # Its day is not over yet.
    _run(campaign, START + timedelta(days=1, hours=13))
    assert _ledger(campaign)[late.email, 2] == "sent"
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENDING  # Evergreen: open.


def test_moving_on_is_idempotent_and_never_duplicates_a_contact(ses):
    campaign = _drip(steps=[{"delay": timedelta(0)}])
    _run(campaign, START)
    step = campaign.steps.get(order=2)
    with time_machine.travel(START + timedelta(minutes=1)):
        moved = drip.step_advance(step=step)
        assert drip.step_advance(step=step) == 0
        assert drip.step_advance(step=step, full=True) == 0
    assert moved == 3


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Paris, window 09:00–17:00 Monday to Friday. Summer time ends on Sunday 25 October 2026.
        (
            datetime(2026, 10, 23, 18, 0, tzinfo=UTC),
            datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
        ),  # Fri 20:00 CEST
        (
            datetime(2026, 10, 26, 7, 59, tzinfo=UTC),
            datetime(2026, 10, 26, 8, 0, tzinfo=UTC),
        ),  # Mon 08:59 CET
        (datetime(2026, 10, 26, 8, 0, tzinfo=UTC), None),  # Mon 09:00 CET: open.
        (datetime(2026, 10, 22, 7, 0, tzinfo=UTC), None),  # Thu 09:00 CEST: open.
        (datetime(2026, 10, 22, 6, 59, tzinfo=UTC), datetime(2026, 10, 22, 7, 0, tzinfo=UTC)),
        # Summer time begins on Sunday 28 March 2027: Monday 09:00 is 07:00 UTC again.
        (datetime(2027, 3, 26, 17, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 0, tzinfo=UTC)),
    ],
)
def test_send_windows_are_local_hours_on_both_sides_of_a_daylight_saving_change(now, opens):
    campaign = Campaign(send_window_start=time(9), send_window_end=time(17), send_weekdays="12345")
    assert drip.send_window_next(campaign=campaign, tz_name="Europe/Paris", now=now) == opens


def test_a_window_may_pass_midnight_and_falls_back_to_the_campaigns_time_zone():
    campaign = Campaign(send_window_start=time(22), send_window_end=time(2), timezone="America/New_York")
    assert (
        drip.send_window_next(campaign=campaign, tz_name="", now=datetime(2026, 6, 1, 3, 30, tzinfo=UTC))
        is None
    )
    assert drip.send_window_next(
        campaign=campaign, tz_name="", now=datetime(2026, 6, 1, 12, tzinfo=UTC)
    ) == datetime(2026, 6, 2, 2, 0, tzinfo=UTC)


def test_mail_outside_the_window_waits_for_it_in_the_contacts_time_zone(ses):
    campaign = _drip(contacts=2, send_window_start=time(9), send_window_end=time(17), timezone="Europe/Paris")
    tokyo, paris = Contact.objects.filter(lists__campaigns=campaign).order_by("pk")
    tokyo.timezone = "Asia/Tokyo"
    tokyo.save()
    _run(campaign, START)  # 08:00 UTC: 09:00 in Paris, 17:00 in Tokyo (closed).
    tokyo_row = StepExecution.objects.get(contact=tokyo)
    assert (tokyo_row.status, tokyo_row.attempts) == ("pending", 0)
    assert tokyo_row.not_before == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo.
    assert StepExecution.objects.get(contact=paris).status == "sent"
    _run(campaign, datetime(2026, 3, 3, 0, 1, tzinfo=UTC))
    assert StepExecution.objects.get(contact=tokyo).status == "sent"


def test_the_frequency_cap_postpones_across_campaigns_and_drops_nothing(ses, settings):
    settings.MARKETING_MAX_PER_DAY, settings.MARKETING_MAX_PER_WEEK = 1, 2
    first = _drip(contacts=1)
    contact = Contact.objects.get(lists__campaigns=first)
    _run(first, START)
    second = _drip(contacts=0)
    ListMembershipFactory(contact=contact, contact_list=second.lists.get())
    _run(second, START + timedelta(hours=1))
    row = StepExecution.objects.get(step__campaign=second)
    assert (row.status, row.not_before) == ("pending", START + timedelta(days=1))  # One a day.
    _run(second, START + timedelta(days=1, minutes=1))
    assert StepExecution.objects.get(step__campaign=second).status == "sent"

    third = _drip(contacts=0, at=START + timedelta(days=3))
    ListMembershipFactory(contact=contact, contact_list=third.lists.get())
    _run(third, START + timedelta(days=3))
    row = StepExecution.objects.get(step__campaign=third)
    assert row.not_before == START + timedelta(days=7)  # Two a week: the first must age out.
    _run(third, START + timedelta(days=7, minutes=1))
    assert StepExecution.objects.get(step__campaign=third).status == "sent"


def test_transactional_mail_does_not_count_towards_the_cap(settings):
    settings.MARKETING_MAX_PER_DAY = 1
    campaign_row = StepExecutionFactory()
    message = TransactionalMessageFactory(contact=campaign_row.contact)
    StepExecutionFactory(
        step=None, message=message, contact=campaign_row.contact, status=Status.SENT, sent_at=timezone.now()
    )
    assert drip.frequency_cap_until(executions=[campaign_row], now=timezone.now()) == {}
    StepExecutionFactory(contact=campaign_row.contact, status=Status.SENT, sent_at=timezone.now())
    assert campaign_row.pk in drip.frequency_cap_until(executions=[campaign_row], now=timezone.now())


def test_a_row_settled_as_sent_long_after_its_send_still_moves_on_at_the_next_full_pass(ses, settings):
    settings.DRIP_LATE_SECONDS = 3600
    campaign = _drip(steps=[{"delay": timedelta(0)}])
    _run(campaign, START)
    late = StepExecution.objects.filter(step__order=1).order_by("pk").first()
    StepExecution.objects.filter(pk=late.pk).update(status=Status.UNKNOWN, sent_at=None)  # A timed-out call.
    step = campaign.steps.get(order=2)
    assert drip.step_advance(step=step, now=START + timedelta(minutes=10)) == 2  # The first pass reads all.
    assert drip.step_advance(step=step, now=START + timedelta(hours=2)) == 0
    # Hours later SES's Send event says it went out at the time: far behind the recent window.
    delivery_ledger.step_execution_reconcile(
        tracking_id=late.tracking_id, ses_message_id="ses-late", accepted_at=START
    )
    assert drip.step_advance(step=step, now=START + timedelta(hours=2, minutes=10)) == 0
    assert drip.step_advance(step=step, now=START + timedelta(hours=3, minutes=1)) == 1  # A full pass.
    assert StepExecution.objects.filter(step=step).count() == 3


def test_a_step_that_falls_due_is_sent_within_a_tick_of_its_time(ses, settings):
    settings.REDIS_URL = ""
    campaign = _drip(contacts=1, steps=[{"delay": timedelta(seconds=5)}])

    def tick(at: datetime) -> None:
        """Beat's tick, and the send tasks it starts, as Celery would run them."""
        with time_machine.travel(at, tick=False):
            for pk in delivery_services.delivery_tick():
                delivery_services.campaign_send(campaign=Campaign.objects.get(pk=pk), budget_seconds=10)

    tick(START)
    assert len(sent_messages()) == 1
    tick(START + timedelta(seconds=5 + settings.CAMPAIGN_TICK_SECONDS))  # The first tick after it is due.
    assert len(sent_messages()) == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_an_exit_note_reads_in_the_readers_language():
    from django.utils import translation

    from delivery.drip import LEFT_THE_LISTS, exit_note, exit_note_shown

    with translation.override("de"):
        shown = exit_note_shown(exit_note(LEFT_THE_LISTS))
    assert shown == "Vor diesem Schritt beendet: der Kontakt hat die Zielgruppe der Kampagne verlassen."
    assert exit_note_shown("MessageRejected: address blacklisted") == "MessageRejected: address blacklisted"


def test_a_contact_on_a_break_when_a_drip_starts_gets_its_steps_due_after_the_break(ses):
    campaign = _drip(contacts=2, steps=[{"delay": timedelta(days=40)}])
    resting, reading = Contact.objects.filter(lists__campaigns=campaign).order_by("pk")
    with time_machine.travel(START - timedelta(minutes=1), tick=False):
        preferences.contact_pause(contact=resting, days=30)

    _run(campaign, START)
    _run(campaign, START + timedelta(days=40, minutes=1))

    ledger = _ledger(campaign)
    # The first email came due during the break: skipped, never sent late; the drip went on.
    assert ledger[(resting.email, 1)] == Status.SKIPPED
    assert ledger[(resting.email, 2)] == Status.SENT
    assert (ledger[(reading.email, 1)], ledger[(reading.email, 2)]) == (Status.SENT, Status.SENT)


def test_an_email_due_during_a_break_is_skipped_not_put_off_past_it_by_a_send_window(ses):
    # 08:00 in Paris is outside its 09:00–17:00 window; the break ends at 08:30.
    campaign = _drip(contacts=1, send_window_start=time(9), send_window_end=time(17), timezone="Europe/Paris")
    resting = Contact.objects.get(lists__campaigns=campaign)
    with time_machine.travel(START - timedelta(days=30) + timedelta(minutes=30), tick=False):
        preferences.contact_pause(contact=resting, days=30)

    _run(campaign, START)
    _run(campaign, START + timedelta(hours=2))  # The window is open and the break over.

    assert _ledger(campaign) == {(resting.email, 1): Status.SKIPPED}
    assert sent_messages() == []


def test_an_email_due_during_a_break_but_claimed_after_it_is_still_skipped(ses):
    campaign = _drip(contacts=1)
    resting = Contact.objects.get(lists__campaigns=campaign)
    with time_machine.travel(START + timedelta(hours=1) - timedelta(days=30), tick=False):
        preferences.contact_pause(contact=resting, days=30)  # A break ending an hour from START.
    with time_machine.travel(START, tick=False):  # Its email comes due now, during the break…
        delivery_services.delivery_tick()
        fan_out.step_fan_out(step=campaign.steps.get())
    assert _ledger(campaign) == {(resting.email, 1): Status.PENDING}

    _run(campaign, START + timedelta(hours=2))  # …and is claimed only after it (workers were down).

    assert _ledger(campaign) == {(resting.email, 1): Status.SKIPPED}
    assert sent_messages() == []


def test_a_drip_step_due_during_a_break_but_reached_after_it_is_still_skipped(ses):
    campaign = _drip(contacts=2, steps=[{"delay": timedelta(days=1)}])
    resting, reading = Contact.objects.filter(lists__campaigns=campaign).order_by("pk")
    _run(campaign, START)
    # A break from an hour after START to two days after: step 2 falls due in the middle of it…
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        preferences.contact_pause(contact=resting, days=30)
    with time_machine.travel(START + timedelta(days=2), tick=False):
        preferences.contact_resume(contact=Contact.objects.get(pk=resting.pk))

    _run(campaign, START + timedelta(days=3))  # …and the drip reaches it only after (beat was down).

    ledger = _ledger(campaign)
    assert ledger[(resting.email, 2)] == Status.SKIPPED
    assert ledger[(reading.email, 2)] == Status.SENT


def test_a_break_ended_early_keeps_what_fell_due_during_it_skipped_and_lets_the_rest_go(ses):
    campaign = _drip(contacts=1, steps=[{"delay": timedelta(days=2)}])
    resting = Contact.objects.get(lists__campaigns=campaign)
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        preferences.contact_pause(contact=resting, days=30)
    with time_machine.travel(START, tick=False):  # Step 1 falls due during the break…
        delivery_services.delivery_tick()
        fan_out.step_fan_out(step=campaign.steps.get(order=1))
    with time_machine.travel(START + timedelta(days=1), tick=False):  # …which they end early.
        preferences.contact_resume(contact=Contact.objects.get(pk=resting.pk))

    _run(campaign, START + timedelta(days=1, hours=1))
    _run(campaign, START + timedelta(days=2, hours=1))

    ledger = _ledger(campaign)
    assert ledger[(resting.email, 1)] == Status.SKIPPED
    assert ledger[(resting.email, 2)] == Status.SENT  # Due after the break: it goes.


def test_an_email_due_during_an_earlier_break_stays_skipped_through_a_later_one(ses):
    campaign = _drip(contacts=1)
    resting = Contact.objects.get(lists__campaigns=campaign)
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        preferences.contact_pause(contact=resting, days=30)
    with time_machine.travel(START, tick=False):  # Its email falls due during a first break…
        delivery_services.delivery_tick()
        fan_out.step_fan_out(step=campaign.steps.get())
    with time_machine.travel(START + timedelta(days=1), tick=False):  # …which they end early…
        preferences.contact_resume(contact=Contact.objects.get(pk=resting.pk))
    with time_machine.travel(START + timedelta(days=2), tick=False):  # …and a second one begins.
        preferences.contact_pause(contact=Contact.objects.get(pk=resting.pk), days=30)

    _run(campaign, START + timedelta(days=33))  # Claimed once both are over (workers were down).

    assert _ledger(campaign) == {(resting.email, 1): Status.SKIPPED}
    assert sent_messages() == []
    assert Contact.objects.get(pk=resting.pk).breaks.count() == 2


def test_an_email_due_before_a_break_began_goes_once_the_break_is_over(ses):
    campaign = _drip(contacts=1)
    contact = Contact.objects.get(lists__campaigns=campaign)
    with time_machine.travel(START, tick=False):  # Due now; its campaign is held up meanwhile.
        delivery_services.delivery_tick()
        fan_out.step_fan_out(step=campaign.steps.get())
    with time_machine.travel(START + timedelta(days=1), tick=False):
        preferences.contact_pause(contact=contact, days=30)

    _run(campaign, START + timedelta(days=32))

    assert _ledger(campaign) == {(contact.email, 1): Status.SENT}
