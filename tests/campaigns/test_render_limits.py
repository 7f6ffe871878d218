"""Bounds on one email's render: output size and CPU time, refused at save where they show."""

import pytest
from django.core.exceptions import ValidationError

from campaigns import services as campaign_services
from campaigns.exceptions import TemplateLimitExceeded
from campaigns.rendering import template_compile, template_render, template_validate
from delivery import services as delivery_services
from delivery.models import StepExecution
from tests.conftest import sent_messages
from tests.factories import ContactFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

HUNDRED = '"' + "x" * 100 + '"'
MILLION_STEPS = (
    f"{{% for a in {HUNDRED} %}}{{% for b in {HUNDRED} %}}{{% for c in {HUNDRED} %}}"
    "{% endfor %}{% endfor %}{% endfor %}"
)


def test_a_filter_asked_for_a_hundred_megabytes_is_refused_when_saved_over_the_api(api_client):
    response = api_client.post(
        "/api/v1/templates",
        {"name": "big", "subject": "Hi", "html_body": "<p>{{ 'x'|ljust:100000000 }}</p>"},
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["html_body"]
    assert "100,000,000 characters" in message


def test_a_million_step_loop_is_refused_when_saved(settings):
    settings.TEMPLATE_RENDER_MAX_SECONDS = 0.05
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=MILLION_STEPS))
    assert "0.05 s to render" in str(refused.value.message_dict["html_body"])


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x'|rjust:'3000' }}",
        "{{ 1|floatformat:3000 }}",
        "{{ 7|stringformat:'03000d' }}",
        "{% lorem 3000 w %}",
        "{% with a='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% with b=a|add:a|add:a|add:a %}"
        "{% with c=b|add:b|add:b|add:b|add:b|add:b|add:b|add:b %}{{ c|add:c|add:c }}"
        "{% endwith %}{% endwith %}{% endwith %}",
        "{% for x in " + HUNDRED + " %}{% for y in " + HUNDRED + " %}ab{% endfor %}{% endfor %}",
        "{{ 'abcdefghij'|join:'" + "-" * 400 + "' }}",
        "{% with a='x'|make_list %}" + "{% with a=a|add:a %}" * 15 + "{{ a|length }}" + "{% endwith %}" * 16,
        "{% with a='ab'|make_list %}{% with b=a|add:a|add:a|add:a %}"
        "{% regroup b by lower|ljust:'1999' as groups %}{{ groups|length }}{% endwith %}{% endwith %}",
    ],
)
def test_every_way_of_growing_the_output_stops_at_the_limit(settings, source):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 2000
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=source))
    assert "2,000" in str(refused.value.message_dict["html_body"])


@pytest.mark.parametrize("width", ["'3_000'", "' 3000 '", "'+3000'", "3e3", "3000.0"])
def test_a_width_spelled_any_way_int_reads_is_refused_before_it_is_built(settings, width):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 2000
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=f"{{{{ 'x'|ljust:{width} }}}}"))
    assert "asked for 3,000 characters" in str(refused.value.message_dict["html_body"])


@pytest.mark.parametrize(
    "name", ["truncatewords_html:1000000", "truncatechars_html:1000000", "striptags", "wordwrap:1"]
)
def test_filters_slow_on_long_input_refuse_it_before_they_start(name):
    source = f"{{% with s='<a>'|ljust:100001 %}}{{{{ s|{name}|length }}}}{{% endwith %}}"
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=source))
    assert "it takes at most 100,000" in str(refused.value.message_dict["html_body"])


def test_a_date_format_that_would_render_past_the_limit_is_refused_before_it_is_built(settings):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 2000
    for source in ('{% now "' + "r" * 100 + '" %}', "{{ contact.email|date:'" + "r" * 100 + "' }}"):
        with pytest.raises(ValidationError) as refused:
            template_validate(template=TemplateFactory.build(html_body=source))
        assert "3,200 characters" in str(refused.value.message_dict["html_body"])


def test_a_list_over_the_item_limit_is_refused_before_any_filter_walks_it():
    template = TemplateFactory(html_body="{{ attributes.l|safeseq|length }}{{ attributes.l|unordered_list }}")
    contact = ContactFactory(attributes={"l": ["a"] * 10_001})
    with pytest.raises(TemplateLimitExceeded) as refused:
        template_render(compiled=template_compile(template=template), contact=contact)
    assert "is given 10,001 items" in str(refused.value)


def test_pprint_is_not_offered_in_an_email():
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body="{{ attributes|pprint }}"))
    assert "pprint" in str(refused.value.message_dict["html_body"])


@pytest.mark.parametrize(
    "source", ["{{ contact.first_name|urlize }}", "{{ contact.first_name|urlizetrunc:5 }}"]
)
def test_filters_that_make_links_of_a_contacts_data_are_not_offered(source):
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=f"<p>{source}</p>"))
    assert "no place in an email" in str(refused.value.message_dict["html_body"])


def test_lists_stop_at_their_item_limit_before_filters_walk_them():
    doubled = "{% with a='xy'|make_list %}" + "{% with a=a|add:a %}" * 19
    source = doubled + "{{ a|escapeseq|escapeseq|length }}" + "{% endwith %}" * 20
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=source))
    assert "10,000 items" in str(refused.value.message_dict["html_body"])


def test_a_small_template_of_slow_filters_is_stopped_by_the_clock(settings):
    # The template takes about 45 ms of CPU unbounded on a 2-core machine: 10 ms leaves a margin.
    settings.TEMPLATE_RENDER_MAX_SECONDS = 0.01
    doubled = "{% with a='xy'|make_list %}" + "{% with a=a|add:a %}" * 12  # 8,192 items: allowed.
    # Sixty passes over the list, in two tags of thirty (a tag holds at most 500 characters).
    thirty = "|escapeseq" * 30
    source = doubled + f"{{% with b=a{thirty} %}}{{{{ b{thirty}|length }}}}" + "{% endwith %}" * 14
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=source))
    assert "0.01 s to render" in str(refused.value.message_dict["html_body"])


def test_a_template_within_the_bounds_renders_as_before(settings):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 2000
    template = TemplateFactory(
        subject="Hi {{ contact.first_name|upper }}",
        html_body="{% for item in attributes.items %}<li>{{ item|ljust:5 }}|</li>{% empty %}none{% endfor %}"
        "{% lorem 2 w %} {{ 3.14159|floatformat:2 }} {{ attributes.items|join:', ' }}",
        text_body="{{ contact.first_name }}",
    )
    template_validate(template=template)
    rendered = template_render(
        compiled=template_compile(template=template),
        contact=ContactFactory(first_name="Ada", attributes={"items": ["a", "b"]}),
    )
    assert rendered.subject == "Hi ADA"
    assert rendered.html == "<li>a    |</li><li>b    |</li>lorem ipsum 3.14 a, b"


@pytest.mark.parametrize("depth", [51, 451, 2000])
def test_tags_nested_past_the_limit_are_refused_when_saved_never_a_500(api_client, depth):
    source = "{% if 1 %}" * depth + "x" + "{% endif %}" * depth
    response = api_client.post(
        "/api/v1/templates", {"name": "deep", "subject": "Hi", "html_body": source}, format="json"
    )
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["html_body"][0]
    assert "nest" in message
    assert "deep" in message


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("x" * 500_001, "500,001 characters long; the limit is 500,000"),
        ("{{a}}" * 10_001, "hold 10,001 words and filters; the limit is 10,000"),
        ("{% if 0 %}" + "{{a}}" * 10_000 + "{% endif %}", "hold 10,003 words and filters"),
        (("{% firstof " + "a " * 200 + "%}") * 50, "hold 10,050 words and filters"),
        (("{{ a" + "|lower" * 80 + " }}") * 125, "hold 10,125 words and filters"),
        ("{%" * 40_000, "its unclosed {% or {{ would take reading"),
        ("{%" * 1_000 + "x" * 490_000, "its unclosed {% or {{ would take reading"),
        ("{{ x" + " " * 30_000 + "y }}", "one of its tags is 30,002 characters long; the limit is 500"),
        ("{% firstof " + "\\' " * 300 + "a" * 1_000 + " %}", "one of its tags is"),
    ],
    ids=[
        "too long",
        "too many variables",
        "too many, even unreachable",
        "long tags",
        "filter chains",
        "unclosed openers",
        "unclosed openers on a long line",
        "one tag full of spaces",
        "one tag full of open quotes",
    ],
)
def test_a_template_part_too_long_or_with_too_many_tags_is_refused_before_it_is_compiled(source, said):
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=source))
    assert said in str(refused.value.message_dict["html_body"])


def test_tags_nested_to_the_limit_render():
    source = "{% if 1 %}" * 50 + "{{ contact.first_name }}" + "{% endif %}" * 50
    template = TemplateFactory(html_body=source)
    template_validate(template=template)
    rendered = template_render(
        compiled=template_compile(template=template), contact=ContactFactory(first_name="Ada")
    )
    assert rendered.html == "Ada"


@pytest.mark.parametrize(
    "tag", ["{% debug %}", "{% url 'admin:index' %}", "{% csrf_token %}", "{% querystring a=1 %}"]
)
def test_tags_that_reveal_the_server_are_refused(tag):
    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(html_body=tag))
    assert "no place in an email" in str(refused.value)


def test_a_contact_whose_data_passes_the_bounds_fails_alone_and_the_others_are_sent(ses, settings):
    settings.TEMPLATE_MAX_OUTPUT_CHARS = 5000
    campaign = sendable_campaign(contacts=3)
    step = campaign.steps.get()
    step.template = TemplateFactory(html_body="<p>{{ attributes.note|rjust:attributes.width }}</p>")
    step.save()
    greedy, *others = campaign.lists.get().contacts.order_by("pk")
    for contact, width in ((greedy, 100_000_000), *((other, 5) for other in others)):
        contact.attributes = {"note": "hi", "width": width}
        contact.save()
    campaign_services.campaign_schedule(campaign=campaign)
    delivery_services.campaign_dispatch(campaign=campaign)
    delivery_services.campaign_send(campaign=campaign, budget_seconds=10)

    failed = StepExecution.objects.get(step=step, contact=greedy)
    assert failed.status == StepExecution.Status.FAILED
    assert "100,000,000 characters" in failed.last_error
    assert len(sent_messages()) == 2


def test_a_template_saved_before_the_bounds_fails_its_preview_with_a_clear_answer(api_client):
    template = TemplateFactory(html_body="<p>{{ 'x'|ljust:100000000 }}</p>")  # Saved without clean().
    contact = ContactFactory()
    response = api_client.post(
        f"/api/v1/templates/{template.pk}/preview", {"contact_id": contact.pk}, format="json"
    )
    assert response.status_code == 409
    assert "100,000,000 characters" in response.json()["error"]["message"]
    with pytest.raises(TemplateLimitExceeded):
        template_render(compiled=template_compile(template=template), contact=contact)


@pytest.mark.parametrize("part", ["subject", "text_body"])
def test_a_template_too_slow_in_its_subject_or_text_is_refused_on_that_part(part):
    fields = {"subject": "Hi", "html_body": "", "text_body": "Hello"} | {part: "{% lorem 999999 p %}"}

    with pytest.raises(ValidationError) as refused:
        template_validate(template=TemplateFactory.build(**fields))

    assert list(refused.value.message_dict) == [part]
