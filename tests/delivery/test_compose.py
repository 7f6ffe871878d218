"""Composing campaign mail: the ids of a step's tracked links."""

import pytest

from delivery.compose import step_link_ids
from delivery.erasure import tracked_links_erase
from tests.factories import CampaignStepFactory

pytestmark = pytest.mark.django_db


def test_a_link_naming_someone_is_looked_up_again_after_an_erasure_rewrote_it():
    step = CampaignStepFactory()
    named, plain = "https://shop.example.com/u/ada@example.com", "https://shop.example.com/sale"
    first = step_link_ids(step_id=step.pk, urls=[named, plain])

    tracked_links_erase(emails={"ada@example.com"})  # In another process, say: the web's.
    again = step_link_ids(step_id=step.pk, urls=[named, plain])  # Ada signed up again.

    assert again[named] != first[named]  # Her new email links where it says, not to "[erased]".
    assert again[plain] == first[plain]
