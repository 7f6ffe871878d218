from datetime import timedelta

import pytest

from core.templatetags.campanile import duration, percent


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (None, "—"),
        (0, "0.0%"),
        (0.25, "25.0%"),
        (1 / 3, "33.3%"),
        (0.0004, "0.04%"),
        (0.001, "0.10%"),
        (0.29, "29.0%"),  # 28.999999999999996 in floats: rounded, never cut to 28.9.
        (2 / 3, "66.7%"),
        (1 / 86, "1.2%"),
        (1 / 30000, "0.003%"),  # One complaint in 30,000 is no 0.00%.
        (0.009999, "1.0%"),  # Rounded to 1%: read as 1%, not as 1.00%.
        (0.0096, "0.96%"),
        (float("nan"), "—"),
    ],
)
def test_a_rate_reads_as_a_percentage_and_a_small_one_keeps_its_digits(rate, shown):
    assert percent(rate) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(40, "40 s"), (200, "3 min"), (7500, "2 h 5 min"), (7200, "2 h")]
)
def test_a_duration_reads_as_a_person_says_it(seconds, shown):
    assert duration(timedelta(seconds=seconds)) == shown


def test_a_rate_beside_its_limit_shows_the_places_that_tell_them_apart():
    from core.templatetags.campanile import percent_beside

    assert percent_beside(1 / 1249, 0.0008, 3) == ("0.0801%", "0.0800%")
    assert percent_beside(0.2, 0.1) == ("20.0%", "10.0%")
    assert percent(19_999 / 20_000) == "99.995%"  # Short of all never reads as all.


def test_a_rate_just_under_its_floor_and_one_beside_its_limit_on_the_home_page_differ():
    from core.templatetags.campanile import percent_as, percent_beside

    assert percent_beside(0.1, 0.10003) == ("10.000%", "10.003%")  # The drop alerts' words.
    assert (percent_as(0.04001, 0.04), percent_as(0.04, 0.04001)) == ("4.001%", "4.000%")
    assert percent_as(None, 0.04) == "—"
