"""Segments: definitions checked, and read as SQL over the contacts."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.segments import segment_contacts, segment_definition_check
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db


def _emails(definition: dict) -> set[str]:
    segment_definition_check(definition)
    return set(segment_contacts(definition).values_list("email", flat=True))


def _all(*rules) -> dict:
    return {"match": "all", "rules": list(rules)}


def test_attributes_compare_as_text_numbers_dates_or_presence():
    ContactFactory(email="pro@example.com", attributes={"plan": "Pro", "seats": "12", "renews": "2027-01-31"})
    ContactFactory(email="free@example.com", attributes={"plan": "free", "seats": 3, "renews": "2026-02-01"})
    ContactFactory(email="odd@example.com", attributes={"seats": "n/a"})
    ContactFactory(email="blank@example.com", attributes={"plan": None, "seats": ""})

    assert _emails(_all({"field": "attributes.plan", "op": "eq", "value": "pro"})) == {"pro@example.com"}
    assert _emails(_all({"field": "attributes.plan", "op": "neq", "value": "pro"})) == {
        "free@example.com",
        "odd@example.com",  # No plan at all is not "pro",
        "blank@example.com",  # nor is a plan held as null.
    }
    # Numbers whether stored as text (a CSV import) or as JSON numbers; "n/a" is no number.
    assert _emails(_all({"field": "attributes.seats", "op": "gt", "value": 5})) == {"pro@example.com"}
    assert _emails(_all({"field": "attributes.seats", "op": "lte", "value": "5"})) == {"free@example.com"}
    assert _emails(_all({"field": "attributes.renews", "op": "after", "value": "2026-12-31"})) == {
        "pro@example.com"
    }
    assert _emails(_all({"field": "attributes.plan", "op": "is_not_set"})) == {
        "odd@example.com",
        "blank@example.com",
    }
    assert _emails(_all({"field": "attributes.seats", "op": "is_set"})) == {
        "pro@example.com",
        "free@example.com",
        "odd@example.com",
    }


def test_an_attribute_named_by_digits_is_a_key_and_numbers_keep_their_decimals():
    ContactFactory(email="zero@example.com", attributes={"0": "zero", "rate": "1.123456789"})
    ContactFactory(email="other@example.com", attributes={"rate": "1.12345678"})

    assert _emails(_all({"field": "attributes.0", "op": "eq", "value": "zero"})) == {"zero@example.com"}
    assert _emails(_all({"field": "attributes.0", "op": "is_set"})) == {"zero@example.com"}
    assert _emails(_all({"field": "attributes.rate", "op": "gt", "value": 1.123456785})) == {
        "zero@example.com"
    }
    assert _emails(_all({"field": "attributes.rate", "op": "lt", "value": 1e-07})) == set()


def test_a_date_rule_on_an_attribute_reads_only_values_that_are_dates():
    ContactFactory(email="pro@example.com", attributes={"plan": "pro", "renews": "2027-01-31"})

    assert _emails(_all({"field": "attributes.plan", "op": "after", "value": "2026-01-01"})) == set()
    assert _emails(_all({"field": "attributes.plan", "op": "within_days", "value": 30})) == set()
    assert _emails(_all({"field": "attributes.renews", "op": "after", "value": "2026-01-01"})) == {
        "pro@example.com"
    }


def test_contact_fields_and_dates_and_lists_combine_in_and_or_groups():
    fair = ContactListFactory()
    old = ContactFactory(email="old@acme.com", first_name="Ada")
    old.created_at = timezone.now() - timedelta(days=90)
    old.save()
    new = ContactFactory(email="new@acme.com", first_name="")
    ContactFactory(email="other@example.com", first_name="Bob")
    ListMembershipFactory(contact=new, contact_list=fair)

    assert _emails(_all({"field": "email", "op": "contains", "value": "@ACME.com"})) == {
        "old@acme.com",
        "new@acme.com",
    }
    assert _emails(_all({"field": "created_at", "op": "within_days", "value": 30})) == {
        "new@acme.com",
        "other@example.com",
    }
    assert _emails(_all({"field": "first_name", "op": "is_not_set"})) == {"new@acme.com"}
    either = {
        "match": "any",
        "rules": [
            {"list": fair.pk, "op": "in"},
            _all({"field": "first_name", "op": "eq", "value": "bob"}, {"list": fair.pk, "op": "not_in"}),
        ],
    }
    assert _emails(either) == {"new@acme.com", "other@example.com"}


@pytest.mark.parametrize(
    ("definition", "said"),
    [
        ({"match": "some", "rules": []}, '"match"'),
        ({"match": "all", "rules": []}, "at least one rule"),
        (_all({"field": "password", "op": "eq", "value": "x"}), "not a field"),
        (_all({"field": "email", "op": "gt", "value": 3}), "cannot be compared"),
        (_all({"field": "attributes.seats", "op": "gt", "value": "n/a"}), "not a number"),
        (_all({"field": "attributes.seats", "op": "gt", "value": "9" * 40}), "at most 21 digits"),
        (_all({"field": "created_at", "op": "before", "value": "yesterday"}), "not a date"),
        (_all({"field": "created_at", "op": "after", "value": "9999-12-31"}), "before the year 9999"),
        (_all({"field": "attributes.renews", "op": "after", "value": "2026-W01-1"}), "not a date"),
        (_all({"field": "created_at", "op": "within_days", "value": 0}), "whole number"),
        (_all({"field": "email", "op": "eq", "value": "\x00"}), "NUL"),
        (_all({"field": "email", "op": "contains", "value": "\ud800"}), "unpaired surrogate"),
        (_all({"field": "email", "op": "eq", "value": "x" * 1001}), "longer than 1000"),
        (_all({"field": "attributes.a\x00b", "op": "is_set"}), "An attribute's name"),
        (_all({"field": "attributes.", "op": "is_set"}), "An attribute's name: none given"),
        (_all({"field": "status", "op": "eq", "value": "abonniert"}), "A status is one of"),
        (_all({"field": "status", "op": "contains", "value": "sub"}), "cannot be compared"),
        (_all({"field": "email", "op": "contains", "value": ""}), "Give the text"),
        (_all({"field": "email", "op": "is_set", "value": "ignored"}), "takes no value"),
        (_all({"field": "attributes.n", "op": "gt", "value": "1e-4000000"}), "not a number"),
        (_all({"field": "attributes.n", "op": "gt", "value": 1e21}), "not a number"),
        (_all({"field": "attributes.\udfff", "op": "is_set"}), "An attribute's name"),
        (_all({"field": "email", "op": "is_set", "extra": 1}), "not extra"),
        ({"match": "all", "rules": [{"field": "email", "op": "is_set"}], "x": 1}, "not x"),
        (
            {"match": "all", "rules": [{"field": "email", "op": "is_set"}, {"field": "pw", "op": "eq"}]},
            'Rule 2: "pw" is not a field',
        ),
        (_all(_all({"field": "email", "op": "is_set"}, {"list": 999999, "op": "in"})), "Rule 1.2: No list"),
        (_all({"list": 999999, "op": "in"}), "No list"),
        (_all({"nothing": 1}), "A rule names"),
        (_all(_all(_all(_all({"field": "email", "op": "is_set"})))), "nest at most"),
        (_all(*[{"engagement": "opened", "days": n} for n in range(1, 12)]), "at most 10 rules on what"),
    ],
)
def test_a_definition_a_segment_cannot_read_is_refused_saying_why(definition, said):
    with pytest.raises(ValidationError, match=said):
        segment_definition_check(definition)


def test_load_test_contacts_are_in_no_segment():
    ContactFactory(email="lt-probe1@example.com", is_load_test=True)
    ContactFactory(email="real@example.com")

    assert _emails(_all({"field": "email", "op": "contains", "value": "@example.com"})) == {
        "real@example.com"
    }


def test_an_attribute_too_large_for_a_number_is_no_number_and_breaks_no_count():
    ContactFactory(email="big@example.com", attributes={"n": "9" * 22 + ".9999999999999999999"})
    ContactFactory(email="small@example.com", attributes={"n": "5"})

    assert _emails(_all({"field": "attributes.n", "op": "gt", "value": 0})) == {"small@example.com"}


def test_within_the_last_days_leaves_out_dates_ahead():
    today = timezone.now().date()
    ContactFactory(
        email="recent@example.com", attributes={"renewal": (today - timedelta(days=3)).isoformat()}
    )
    ContactFactory(
        email="ahead@example.com", attributes={"renewal": (today + timedelta(days=400)).isoformat()}
    )

    assert _emails(_all({"field": "attributes.renewal", "op": "within_days", "value": 30})) == {
        "recent@example.com"
    }


def test_a_rule_naming_a_list_or_a_campaign_gone_since_it_was_saved_matches_no_one():
    from campaigns.segments import segment_summary
    from tests.factories import CampaignFactory, CampaignStepFactory, StepExecutionFactory

    gone = ContactListFactory()
    ListMembershipFactory(contact_list=gone, contact=ContactFactory())
    spring, autumn = CampaignFactory(), CampaignFactory()
    StepExecutionFactory(step=CampaignStepFactory(campaign=spring), status="sent", sent_at=timezone.now())
    never_opened = {"engagement": "never_opened", "campaigns": [spring.pk, autumn.pk]}
    assert segment_summary(_all(never_opened))["contacts"] == 1  # Sent spring, opened nothing.
    # Stored before the list and a campaign went (a deletion that raced the segment's save).
    stored = [_all({"list": gone.pk, "op": op}) for op in ("in", "not_in")] + [_all(never_opened)]
    gone.delete()
    autumn.delete()

    for definition in stored:
        assert segment_summary(definition)["contacts"] == 0, definition
