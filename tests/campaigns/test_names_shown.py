"""Names staff and contacts read (campaigns, segments, signup forms, templates) hold no bidi override
or invisible space, as list names do not: such a name could read as another in every message naming it."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Campaign, Segment
from tests.factories import CampaignFactory, SegmentFactory, SignupFormFactory, TemplateFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
#: A right-to-left override, a zero-width space, an isolate, a byte-order mark.
REFUSED = ["\u202e", "\u200b", "\u2066", "\ufeff"]
DEFINITION = {"match": "all", "rules": [{"field": "email", "op": "is_set"}]}


@pytest.mark.parametrize("character", REFUSED)
def test_a_campaign_or_segment_name_holding_a_bidi_override_or_invisible_space_is_a_400_naming_it(
    api_client, character
):
    name = f"s2{character}evil"
    named = f"U+{ord(character):04X}"
    campaign = CampaignFactory(name="Spring sale")

    answers = {
        "campaign": api_client.post(
            f"{API}/campaigns", {"name": name, "from_email": "News <news@campanile.test>"}, format="json"
        ),
        "renamed campaign": api_client.patch(f"{API}/campaigns/{campaign.pk}", {"name": name}, format="json"),
        "segment": api_client.post(
            f"{API}/segments", {"name": name, "definition": DEFINITION}, format="json"
        ),
    }

    for what, answer in answers.items():
        assert answer.status_code == 400, what
        assert named in answer.json()["error"]["fields"]["name"][0], what
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Spring sale"]
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "made",
    [CampaignFactory.build, SegmentFactory.build, SignupFormFactory.build, TemplateFactory.build],
    ids=["campaign", "segment", "signup form", "template"],
)
def test_a_name_holding_a_bidi_override_fails_the_models_own_check(made):
    row = made(name="Spring\u202esale")

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert "name" in refused.value.message_dict


def test_a_campaign_or_segment_name_may_hold_the_marks_and_joiners_its_script_needs(api_client):
    names = ["\u05d7\u05d3\u05e9\u05d5\u05ea\u200f 2026", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]

    for name in names:
        campaign = {"name": name, "from_email": "News <news@campanile.test>"}
        assert api_client.post(f"{API}/campaigns", campaign, format="json").status_code == 201
        segment = {"name": name, "definition": DEFINITION}
        assert api_client.post(f"{API}/segments", segment, format="json").status_code == 201
    assert set(Campaign.objects.values_list("name", flat=True)) == set(names)
    assert set(Segment.objects.values_list("name", flat=True)) == set(names)
