"""What a template makes of a contact's lists and objects is written as JSON, never Python's spelling."""

import email
import email.policy

import pytest
from django.utils.html import escape

from campaigns import services as campaign_services
from campaigns.exceptions import TemplateLimitExceeded
from campaigns.render_limits import MAX_LIST_ITEMS
from campaigns.rendering import RenderedEmail, template_compile, template_render
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import ContactFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

ATTRIBUTES = {
    "tags": ["vip", "new"],
    "more": ["x"],
    "orders": [{"n": 2, "kind": "b"}, {"n": 1, "kind": "a"}, {"n": 3, "kind": "a"}],
    "plan": {"name": "Gold", "seats": [1, 2]},
    "code": "ab",
    "number": 12,
}


def _rendered(tag: str, attributes: dict = ATTRIBUTES) -> RenderedEmail:
    """Render a tag in the subject, the HTML and the text of one email to a contact holding these."""
    template = TemplateFactory.build(subject=f"Hi {tag}", html_body=f"<p>{tag}</p>", text_body=tag)
    contact = ContactFactory.build(attributes=attributes)
    return template_render(compiled=template_compile(template=template), contact=contact)


def _assert_shown(tag: str, shown: str) -> None:
    rendered = _rendered(tag)
    # The HTML escapes it as any contact data; the subject and the text are not escaped.
    assert (rendered.subject, rendered.html, rendered.text) == (
        f"Hi {shown}",
        f"<p>{escape(shown)}</p>",
        shown,
    )


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("{{ attributes.tags|slice:':1' }}", '["vip"]'),
        ("{{ attributes.tags|add:attributes.more }}", '["vip", "new", "x"]'),
        (
            "{{ attributes.orders|dictsort:'n' }}",
            '[{"n": 1, "kind": "a"}, {"n": 2, "kind": "b"}, {"n": 3, "kind": "a"}]',
        ),
        (
            "{{ attributes.orders|dictsortreversed:'n' }}",
            '[{"n": 3, "kind": "a"}, {"n": 2, "kind": "b"}, {"n": 1, "kind": "a"}]',
        ),
        ("{{ attributes.tags|safeseq }}", '["vip", "new"]'),
        ("{{ attributes.tags|escapeseq }}", '["vip", "new"]'),
        ("{{ attributes.code|make_list }}", '["a", "b"]'),
        ("{{ attributes.number|make_list }}", '["1", "2"]'),
        ("{{ attributes.plan.seats|slice:':1' }}", "[1]"),
        ("{{ attributes.tags|slice:':1'|slice:':1' }}", '["vip"]'),
    ],
)
def test_a_list_a_filter_makes_of_a_contacts_attributes_is_written_as_json(tag, shown):
    _assert_shown(tag, shown)


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("{{ attributes.plan.items }}", '[["name", "Gold"], ["seats", [1, 2]]]'),
        ("{{ attributes.plan.keys }}", '["name", "seats"]'),
        ("{{ attributes.plan.values }}", '["Gold", [1, 2]]'),
        ("{{ attributes.plan.copy }}", '{"name": "Gold", "seats": [1, 2]}'),
        ("{{ attributes.tags.copy }}", '["vip", "new"]'),
        ("{{ attributes.plan.items|first }}", '["name", "Gold"]'),
        ("{{ attributes.plan.values|last }}", "[1, 2]"),
        (
            "{% for pair in attributes.plan.items %}{{ pair }}{% endfor %}",
            '["name", "Gold"]["seats", [1, 2]]',
        ),
    ],
)
def test_what_an_objects_items_keys_values_and_copy_return_is_written_as_json(tag, shown):
    _assert_shown(tag, shown)


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("{% for k, v in attributes.plan.items %}{{ k }}={{ v }};{% endfor %}", "name=Gold;seats=[1, 2];"),
        ("{{ attributes.tags|slice:':2'|join:', ' }}", "vip, new"),
        ("{{ attributes.tags|add:attributes.more|length }}", "3"),
        ("{{ attributes.tags|add:attributes.more|first }}", "vip"),
        ("{% for o in attributes.orders|dictsort:'n' %}{{ o.kind }}{{ o.n }}{% endfor %}", "a1b2a3"),
        ("{% if 'name' in attributes.plan.keys %}yes{% endif %} {{ attributes.plan.keys|length }}", "yes 2"),
        ("{{ attributes.plan.copy.seats.1 }}", "2"),
        ("{{ attributes.plan.items.1.1.0 }}", "1"),
        # {% regroup %}'s groups keep what a template reads of them when a filter hands them on.
        (
            "{% regroup attributes.orders|dictsort:'kind' by kind as groups %}"
            "{% for g in groups|slice:':2' %}{{ g.grouper }}:{{ g.list|length }};{% endfor %}",
            "a:2;b:1;",
        ),
        # Plain values stay as Django writes them.
        (
            "{{ attributes.tags|first }} {{ attributes.code|slice:':1' }} {{ attributes.number|add:1 }}",
            "vip a 13",
        ),
    ],
)
def test_loops_joins_lengths_and_lookups_still_read_what_filters_and_methods_make(tag, shown):
    _assert_shown(tag, shown)


@pytest.mark.parametrize(
    ("tag", "attributes", "said"),
    [
        ("{{ attributes.code|make_list }}", {"code": "a" * (MAX_LIST_ITEMS + 1)}, "made 10,001 items"),
        (
            "{{ attributes.tags|add:attributes.more }}",
            {"tags": ["a"] * MAX_LIST_ITEMS, "more": ["b"]},
            "more than 10,000 items",
        ),
        (
            "{{ attributes.big.values|safeseq }}",
            {"big": {str(n): n for n in range(MAX_LIST_ITEMS + 1)}},
            "10,001 items",
        ),
    ],
)
def test_a_list_made_of_a_contacts_attributes_still_stops_at_the_item_limit(tag, attributes, said):
    with pytest.raises(TemplateLimitExceeded) as refused:
        _rendered(tag, attributes)
    assert said in str(refused.value)


def test_a_sent_email_writes_a_sliced_list_as_json_in_its_subject_and_both_parts(ses):
    campaign = sendable_campaign(contacts=1)
    step = campaign.steps.get()
    step.template = TemplateFactory(
        subject="Hi {{ attributes.tags|slice:':1' }}",
        html_body="<p>{{ attributes.plan.items }}</p>",
        text_body="{{ attributes.plan.keys }}",
    )
    step.save()
    campaign.lists.get().contacts.update(attributes={"tags": ["vip", "new"], "plan": {"name": "Gold"}})
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)

    assert list(StepExecution.objects.filter(step=step).values_list("status", flat=True)) == [
        StepExecution.Status.SENT
    ]
    (message,) = sent_messages()
    parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
    assert parsed["Subject"] == 'Hi ["vip"]'
    # Link tracking writes the HTML out again, with no &quot; in its text.
    assert '<p>[["name", "Gold"]]</p>' in parsed.get_body(("html",)).get_content()
    assert '["name"]' in parsed.get_body(("plain",)).get_content()
