"""Filters given a contact's data they cannot use: Django's answer, never a failed email."""

import datetime
import email.policy

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape

from campaigns import services as campaign_services
from campaigns.exceptions import TemplateLimitExceeded, TemplateRenderError
from campaigns.render_limits import register
from campaigns.rendering import CompiledTemplate, template_compile, template_render, template_validate
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import ContactFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

# A value of every JSON type a contact's attribute may hold, and a few texts filters read.
JSON_VALUES = [
    "",
    "text",
    "<b>bold</b> & more",
    "2026-05-01",
    0,
    7,
    -3,
    10**20,
    1.5,
    True,
    False,
    None,
    [],
    ["a", 1],
    {},
    {"a": 1},
    [[1, ["b"]], {"a": [None]}],
    [{"a": 1}, {"b": 2}],
]
# Arguments a template may write itself, as Django reads them: text, numbers and a slice step of 0.
LITERAL_ARGUMENTS = ['""', '"abc"', "0", "-1", "1.5", '"::0"', '"%d"']


def _rendered(html_body: str, attributes: dict) -> str:
    template = TemplateFactory.build(subject="Hi", text_body="-", html_body=html_body)
    return template_render(
        compiled=template_compile(template=template), contact=ContactFactory.build(attributes=attributes)
    ).html


@pytest.mark.parametrize(
    "tag",
    [
        '{{ attributes.renewal|date:"r" }}',
        '{{ attributes.renewal|date:"U" }}',
        '{{ attributes.renewal|date:"Y" }}',
        "{{ attributes.renewal|date }}",
        "{{ attributes.renewal|time }}",
        "{{ attributes.renewal|timesince }}",
        "{{ attributes.renewal|timeuntil }}",
        '{{ "2026-05-01"|timeuntil:attributes.renewal }}',
    ],
)
def test_a_date_filter_on_a_contacts_text_that_is_no_date_renders_nothing(tag):
    template = TemplateFactory.build(subject="Hi", text_body="-", html_body=f"<p>[{tag}]</p>")
    template_validate(template=template)  # The sample contact holds no attribute.

    for text in ("next week", "2026-02-30", "1 May 2026"):
        assert _rendered(f"<p>[{tag}]</p>", {"renewal": text}) == "<p>[]</p>"


def _sent_to_contacts_holding(html_body: str, attributes: list[dict]) -> list[StepExecution]:
    """Send a campaign whose email has this HTML to one contact per attributes given (no first
    name); return its rows."""
    campaign = sendable_campaign(contacts=len(attributes))
    step = campaign.steps.get()
    step.template = TemplateFactory(text_body="-", html_body=html_body)
    step.save()
    for contact, held in zip(campaign.lists.get().contacts.order_by("pk"), attributes, strict=True):
        contact.first_name, contact.attributes = "", held
        contact.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)
    return list(StepExecution.objects.filter(step=step))


def test_an_email_whose_contact_holds_text_for_a_date_is_sent_like_the_others(ses):
    held = [{"renewal": "soon"}, {"renewal": "2026-05-01"}, {"renewal": None}]
    rows = _sent_to_contacts_holding('<p>Renews on {{ attributes.renewal|date:"r" }}.</p>', held)

    assert [row.status for row in rows if row.status == StepExecution.Status.FAILED] == []
    assert len(sent_messages()) == 3


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-05-01", datetime.date(2026, 5, 1)),
        ("2026-05-01T10:00:00Z", datetime.datetime(2026, 5, 1, 10, tzinfo=datetime.UTC)),
        ("2026-05-01T10:00:00+02:00", datetime.datetime(2026, 5, 1, 8, tzinfo=datetime.UTC)),
        ("2026-05-01T10:00:00", timezone.make_aware(datetime.datetime(2026, 5, 1, 10))),
    ],
    ids=["date", "utc", "offset", "naive in the project's time zone"],
)
@pytest.mark.parametrize("tag", ['date:"r"', 'date:"U"', 'date:"Y-m-d H:i e"', "date", "time"])
def test_a_date_a_contact_holds_as_iso_text_renders_as_that_date(text, moment, tag):
    template = TemplateFactory.build(
        subject="Hi",
        text_body="-",
        html_body=f"<p>{{{{ attributes.when|{tag} }}}}|{{{{ moment|{tag} }}}}</p>",
    )
    rendered = template_render(
        compiled=template_compile(template=template),
        contact=ContactFactory.build(attributes={"when": text}),
        extra={"moment": moment},
    )

    from_text, from_moment = rendered.html.removeprefix("<p>").removesuffix("</p>").split("|")
    assert from_text == from_moment
    assert from_text or not isinstance(moment, datetime.datetime)  # A date alone has no time of day.


def test_time_between_dates_held_as_text_renders_like_time_between_those_dates():
    start, end = datetime.date(2026, 5, 1), datetime.date(2026, 7, 15)
    source = (
        "<p>{{ attributes.start|timeuntil:attributes.end }}|{{ attributes.end|timesince:attributes.start }}"
        "|{{ start|timeuntil:end }}|{{ end|timesince:start }}</p>"
    )
    template = TemplateFactory.build(subject="Hi", text_body="-", html_body=source)
    rendered = template_render(
        compiled=template_compile(template=template),
        contact=ContactFactory.build(attributes={"start": "2026-05-01", "end": "2026-07-15T00:00:00"}),
        extra={"start": start, "end": end},
    )

    until, since, until_dates, since_dates = rendered.html.removeprefix("<p>").removesuffix("</p>").split("|")
    assert (until, since) == (until_dates, since_dates)
    assert until


@pytest.mark.parametrize(
    ("tag", "attributes", "shown"),
    [
        (
            "{{ attributes.note|truncatechars:attributes.n }}",
            {"note": "Hello there", "n": None},
            "Hello there",
        ),
        ("{{ attributes.note|ljust:attributes.n }}", {"note": "Hello", "n": ""}, "Hello"),
        ("{{ attributes.note|wordwrap:attributes.n }}", {"note": "Hello there", "n": 0}, "Hello there"),
        ("{{ attributes.note|cut:attributes.n }}", {"note": "Hello", "n": 1}, "Hello"),
        ("{{ attributes.plan|first }}", {"plan": 3}, ""),
        ("{{ attributes.n|divisibleby:attributes.d }}", {"n": 4, "d": 0}, ""),
        ("{{ attributes.code|get_digit:2 }}", {"code": -3}, "-3"),
        ("{{ attributes.n|pluralize:attributes.suffixes }}", {"n": 2, "suffixes": ["y", "ies"]}, ""),
    ],
)
def test_a_filter_that_cannot_use_a_contacts_data_renders_djangos_answer_for_it(tag, attributes, shown):
    assert _rendered(f"<p>[{tag}]</p>", attributes) == f"<p>[{shown}]</p>"


@pytest.mark.parametrize("name", ["linebreaks", "linebreaksbr", "linenumbers", "unordered_list"])
def test_an_argument_to_a_filter_that_takes_none_is_refused_when_saved(name):
    template = TemplateFactory.build(html_body=f'<p>{{{{ contact.first_name|{name}:"x" }}}}</p>')

    with pytest.raises(ValidationError) as refused:
        template_validate(template=template)

    assert name in str(refused.value.message_dict["html_body"])


def _forms(name: str) -> list[tuple[CompiledTemplate, list]]:
    """Return the ways a template may call a filter on each value, with the arguments a contact may give."""
    calls = [(name, [None]), (f"{name}:attributes.a", JSON_VALUES)]
    calls += [(f"{name}:{literal}", [None]) for literal in LITERAL_ARGUMENTS]
    forms = []
    for call, arguments in calls:
        source = f"{{% for v in attributes.values %}}{{{{ v|{call} }}}}{{% endfor %}}"
        # The text part too: it renders without autoescaping, which some filters read.
        template = TemplateFactory.build(subject="-", text_body=source, html_body=source)
        try:  # A filter takes an argument or not: the other form is refused when saved.
            forms.append((template_compile(template=template), arguments))
        except TemplateRenderError:
            continue
    return forms


@pytest.mark.parametrize("name", sorted(register.filters))
def test_every_filter_renders_every_json_value_and_argument_without_failing_the_email(name):
    forms = _forms(name)
    assert forms, f"|{name} compiles in none of its forms"
    failures = []
    for compiled, arguments in forms:
        for argument in arguments:
            contact = ContactFactory.build(attributes={"values": JSON_VALUES, "a": argument})
            try:
                template_render(compiled=compiled, contact=contact)
            except TemplateLimitExceeded:
                continue  # The engine's own bounds: a clear reason, the same for every contact.
            except TemplateRenderError as exc:
                failures.append((compiled.sources[1], argument, str(exc)))

    assert failures == []


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("<p>{{ attributes.name|default:attributes.nickname }}</p>", "<p></p>"),
        ("<p>{{ attributes.n|add:attributes.bonus }}</p>", "<p></p>"),
        ("<p>{% if attributes.n|default:attributes.bonus %}yes{% else %}no{% endif %}</p>", "<p>yes</p>"),
        ("<p>{% if attributes.gone|default:attributes.bonus %}yes{% else %}no{% endif %}</p>", "<p>no</p>"),
        ("<p>{% with x=attributes.gone|default:attributes.bonus %}[{{ x }}]{% endwith %}</p>", "<p>[]</p>"),
        ("<p>{% firstof attributes.gone|default:attributes.also_gone 'x' %}</p>", "<p>x</p>"),
        ("<p>{% for c in attributes.tags|slice:attributes.cut %}{{ c }}{% endfor %}</p>", "<p>ab</p>"),
    ],
)
def test_a_filter_argument_naming_data_a_contact_lacks_is_blank_and_the_email_goes(tag, shown):
    assert shown in _rendered(tag, {"n": 5, "tags": ["a", "b"]})


def test_a_missing_filter_argument_fails_no_email_in_a_real_send(ses):
    rows = _sent_to_contacts_holding(
        "<p>Hi {{ first_name|default:attributes.nickname }}</p>", [{}, {"nickname": "Bo"}]
    )

    assert [row.status for row in rows if row.status == StepExecution.Status.FAILED] == []
    bodies = [
        email.message_from_string(message.raw_data, policy=email.policy.default)
        .get_body(("html",))
        .get_content()
        for message in sent_messages()
    ]
    assert sorted("Hi Bo" in body for body in bodies) == [False, True]


@pytest.mark.parametrize(
    ("tag", "attributes", "shown"),
    [
        ("[{% widthratio 1 2 attributes.width %}]", {}, "[]"),
        ("[{% widthratio 1 2 attributes.width %}]", {"width": "wide"}, "[]"),
        ("[{% for item in attributes.cart %}{{ item }}{% endfor %}]", {"cart": 3}, "[]"),
        ("[{% for item in attributes.cart %}{{ item }}{% endfor %}]", {"cart": True}, "[]"),
        ("[{% for a, b in attributes.pairs %}{{ a }}{% endfor %}]", {"pairs": [3, 4]}, "[]"),
        ("[{% regroup attributes.v by k as g %}{% for x in g %}{{ x.grouper }}{% endfor %}]", {"v": 5}, "[]"),
        # A sum one digit past the longest integer Python writes out (4,300 digits).
        ("[{{ attributes.x|add:1 }}]", {"x": 10**4300 - 1}, "[]"),
        # What a node can use still shows, beside one that cannot.
        (
            "[{{ contact.first_name }}{% for item in attributes.cart %}{{ item }}{% endfor %}]",
            {"cart": 3},
            "[Ada]",
        ),
        ("[{% for item in attributes.cart %}{{ item }}{% endfor %}]", {"cart": ["a", "b"]}, "[ab]"),
    ],
)
def test_a_tag_that_cannot_use_a_contacts_data_renders_nothing_and_the_email_goes(tag, attributes, shown):
    template = TemplateFactory.build(subject="Hi", text_body="-", html_body=f"<p>{tag}</p>")
    template_validate(template=template)  # The sample contact holds no attribute.
    contact = ContactFactory.build(first_name="Ada", attributes=attributes)

    assert (
        template_render(compiled=template_compile(template=template), contact=contact).html
        == f"<p>{shown}</p>"
    )


def test_a_tag_that_cannot_use_one_contacts_data_fails_no_email_in_a_real_send(ses):
    rows = _sent_to_contacts_holding(
        "<p>Your cart: {% for item in attributes.cart %}{{ item }} {% endfor %}</p>",
        [{"cart": 3}, {"cart": ["a"]}],
    )

    assert [row.status for row in rows if row.status == StepExecution.Status.FAILED] == []
    assert len(sent_messages()) == 2


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("{{ attributes.tags }}", '["a", ["b", 1], {"k": true}, null]'),
        ('{{ attributes.tags|join:" / " }}', 'a / ["b", 1] / {"k": true} / None'),
        ("{{ attributes.plan }}", '{"name": "Gold", "seats": [1, 2]}'),
        ("{{ attributes.plan.seats }}", "[1, 2]"),
        ("{{ attributes.plan.name }}", "Gold"),
        ("{% for tag in attributes.tags %}({{ tag }}){% endfor %}", '(a)(["b", 1])({"k": true})(None)'),
        ("{{ attributes.tags|length }} {{ attributes.tags.1.0 }}", "4 b"),
    ],
)
def test_a_list_or_an_object_in_a_contacts_attributes_is_written_as_the_json_stored(tag, shown):
    attributes = {"tags": ["a", ["b", 1], {"k": True}, None], "plan": {"name": "Gold", "seats": [1, 2]}}

    # Escaped as any contact data is: the quotes are &quot; in the HTML.
    assert _rendered(f"<p>{tag}</p>", attributes) == f"<p>{escape(shown)}</p>"
