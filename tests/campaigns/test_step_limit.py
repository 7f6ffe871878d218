"""A campaign holds at most Campaign.MAX_STEPS steps, however they come, and its admin page costs
no more than a few queries per step."""

from typing import cast

import pytest
from django.contrib.admin import site
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign, CampaignStep, Template
from tests.campaigns.test_admin import _campaign_form
from tests.factories import CampaignFactory, CampaignStepFactory, TemplateFactory, sendable_campaign

pytestmark = pytest.mark.django_db

MAX = Campaign.MAX_STEPS
LIMIT_SAID = f"A campaign holds at most {MAX} steps"


def _campaign_with_steps(count: int) -> Campaign:
    """Build a draft campaign of `count` steps of one template, each after the first looking at it."""
    campaign, template = cast(Campaign, CampaignFactory()), cast(Template, TemplateFactory())
    first = cast(CampaignStep, CampaignStepFactory(campaign=campaign, order=1, template=template))
    CampaignStep.objects.bulk_create(
        CampaignStep(
            campaign=campaign, order=order, template=template, condition="opened", condition_step=first
        )
        for order in range(2, count + 1)
    )
    return campaign


def _api_steps(template, count: int) -> list[dict]:
    return [{"order": order, "template": template.name} for order in range(1, count + 1)]


# --- The API --------------------------------------------------------------------------------------


def test_the_api_refuses_a_campaign_of_more_steps_than_it_holds_and_takes_as_many(api_client):
    template = TemplateFactory()
    body = {"name": "Drip", "from_email": "news@campanile.test"}

    refused = api_client.post(
        "/api/v1/campaigns", body | {"steps": _api_steps(template, MAX + 1)}, format="json"
    )

    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["steps"] == [f"{LIMIT_SAID}; this one would hold {MAX + 1}."]
    assert not Campaign.objects.filter(name="Drip").exists()

    taken = api_client.post("/api/v1/campaigns", body | {"steps": _api_steps(template, MAX)}, format="json")

    assert taken.status_code == 201, taken.content
    assert Campaign.objects.get(name="Drip").steps.count() == MAX


def test_the_api_refuses_an_edit_to_more_steps_than_a_campaign_holds_and_keeps_its_steps(api_client):
    campaign = sendable_campaign(contacts=0)
    template = TemplateFactory()

    response = api_client.patch(
        f"/api/v1/campaigns/{campaign.pk}", {"steps": _api_steps(template, MAX + 1)}, format="json"
    )

    assert response.status_code == 400, response.content
    assert LIMIT_SAID in response.json()["error"]["fields"]["steps"][0]
    assert campaign.steps.count() == 1


def test_the_api_refuses_too_many_steps_before_reading_any(api_client, django_assert_max_num_queries):
    template = TemplateFactory()
    body = {"name": "Flood", "from_email": "news@campanile.test", "steps": _api_steps(template, 2_000)}

    # The key's own checks and nothing per step: each step would look its template up.
    with django_assert_max_num_queries(20):
        response = api_client.post("/api/v1/campaigns", body, format="json")

    assert response.status_code == 400
    assert LIMIT_SAID in response.json()["error"]["fields"]["steps"][0]


# --- The services ---------------------------------------------------------------------------------


def test_the_services_refuse_more_steps_than_a_campaign_holds_and_save_nothing():
    template = TemplateFactory()
    steps = [{"order": order, "template": template} for order in range(1, MAX + 2)]

    with pytest.raises(ValidationError) as refused:
        services.campaign_create(name="Drip", from_email="news@campanile.test", steps=steps)
    assert LIMIT_SAID in refused.value.message_dict["steps"][0]
    assert not Campaign.objects.filter(name="Drip").exists()  # Not a campaign without its steps.

    campaign = sendable_campaign(contacts=0)
    with pytest.raises(ValidationError):
        services.campaign_update(campaign=campaign, steps=steps)
    assert campaign.steps.count() == 1


def test_a_run_of_a_recurring_campaign_past_the_limit_is_refused_not_cut_short():
    campaign = sendable_campaign(contacts=1, recurrence="30 8 * * *")
    services.campaign_schedule(campaign=campaign)
    template = campaign.steps.get().template
    # Saved before campaigns were bounded.
    CampaignStep.objects.bulk_create(
        CampaignStep(campaign=campaign, order=order, template=template) for order in range(2, MAX + 2)
    )

    with pytest.raises(ValidationError, match=LIMIT_SAID):
        services.campaign_run_create(campaign=campaign)

    assert not Campaign.objects.filter(parent=campaign).exists()


# --- The admin ------------------------------------------------------------------------------------


def _campaign_form_adding(campaign, steps, new: int, template) -> dict:
    """Return the campaign page's fields: its saved steps as stored, and `new` steps more."""
    fields = _campaign_form(campaign, steps) | {"steps-TOTAL_FORMS": str(len(steps) + new)}
    for n in range(len(steps), len(steps) + new):
        fields |= {
            f"steps-{n}-campaign": str(campaign.pk),
            f"steps-{n}-order": str(n + 1),
            f"steps-{n}-template": str(template.pk),
            f"steps-{n}-condition": "always",
        }
    return fields


def test_the_campaign_page_offers_no_more_steps_than_a_campaign_holds(admin_client):
    campaign = _campaign_with_steps(2)

    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    assert f'name="steps-MAX_NUM_FORMS" value="{MAX}"' in page


def test_the_campaign_page_refuses_a_post_of_one_step_too_many_and_takes_as_many(admin_client):
    campaign = _campaign_with_steps(MAX - 1)
    steps = list(campaign.steps.order_by("order"))
    template = steps[0].template
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    response = admin_client.post(change, _campaign_form_adding(campaign, steps, 2, template))

    assert response.status_code == 200  # The form again, saying why.
    assert LIMIT_SAID in response.content.decode()
    assert campaign.steps.count() == MAX - 1

    response = admin_client.post(change, _campaign_form_adding(campaign, steps, 1, template))

    assert response.status_code == 302
    assert campaign.steps.count() == MAX


def test_a_step_page_refuses_a_step_more_than_its_campaign_holds(admin_client):
    full, other = _campaign_with_steps(MAX), _campaign_with_steps(1)
    moved = other.steps.get()
    fields = {"order": str(MAX + 1), "template": moved.template_id, "delay": "", "condition": "always"}

    added = admin_client.post(reverse("admin:campaigns_campaignstep_add"), fields | {"campaign": full.pk})
    into = admin_client.post(
        reverse("admin:campaigns_campaignstep_change", args=[moved.pk]), fields | {"campaign": full.pk}
    )

    for response in (added, into):
        assert response.status_code == 200
        assert LIMIT_SAID in response.content.decode()
    assert full.steps.count() == MAX
    assert CampaignStep.objects.get(pk=moved.pk).campaign == other
    # A step kept in its full campaign still changes.
    kept = full.steps.get(order=1)
    fields |= {"campaign": full.pk, "order": "1", "delay": "1 day"}
    assert (
        admin_client.post(reverse("admin:campaigns_campaignstep_change", args=[kept.pk]), fields).status_code
        == 302
    )


def _condition_choices_queries(admin_user, rf, campaign) -> int:
    """Count the queries drawing every step form's condition_step select on the campaign's page."""
    request = rf.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    request.user = admin_user
    model_admin = site._registry[Campaign]
    steps, inline = next(
        (formset, inline)
        for formset, inline in model_admin.get_formsets_with_inlines(request, campaign)
        if inline.model is CampaignStep
    )
    forms = steps(instance=campaign, queryset=inline.get_queryset(request)).forms
    with CaptureQueriesContext(connection) as queries:
        for form in forms:
            assert f'value="{form.instance.pk}"' in str(form["condition_step"])
    return len(queries.captured_queries)


def test_a_campaigns_steps_are_read_once_for_all_the_conditions_the_page_offers(admin_user, rf):
    assert _condition_choices_queries(admin_user, rf, _campaign_with_steps(3)) <= 1
    assert _condition_choices_queries(admin_user, rf, _campaign_with_steps(30)) <= 1


def test_the_campaign_pages_queries_grow_with_its_steps_by_a_few_each_not_by_their_square(admin_client):
    def queries(count: int) -> int:
        url = reverse("admin:campaigns_campaign_change", args=[_campaign_with_steps(count).pk])
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured.captured_queries)

    few, many = queries(3), queries(30)

    # Linear costs outside the steps' forms remain: the progress panel counts each step, each
    # step's sentence and template box read their own row. Squared, 30 steps would cost hundreds more.
    assert many - few <= 27 * 20  # About 12 a step now; the condition selects alone cost 50 a step at 30.
