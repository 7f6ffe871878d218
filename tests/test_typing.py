"""mypy, as `make lint` runs it, catches a misspelt keyword argument in a call to a service.

The call sits in an unannotated function, as most view and admin code does: without
check_untyped_defs mypy would not look inside it at all.
"""

import gc
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]

PROBE = """\
from campaigns import services


def schedule_misspelt(campaign):
    services.campaign_schedule(campain=campaign)


def schedule(campaign):
    services.campaign_schedule(campaign=campaign)
"""
MISSPELT_LINE = 5


def test_mypy_reports_a_wrong_keyword_argument_to_a_service_inside_an_unannotated_function(
    tmp_path, monkeypatch
):
    probe = tmp_path / "typing_probe.py"
    probe.write_text(PROBE)
    monkeypatch.chdir(ROOT)  # mypy finds the apps from the working directory, as in `make lint`.
    threshold, recursion_limit = gc.get_threshold(), sys.getrecursionlimit()
    try:
        # The project's cache: after a `make lint`, only the probe is checked anew.
        config = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache")]
        report, _warnings, status = api.run([*config, str(probe)])
    finally:
        # mypy tunes both for its own run; the tests after this one in the process get theirs back.
        gc.set_threshold(*threshold)
        sys.setrecursionlimit(recursion_limit)

    errors = [line for line in report.splitlines() if ": error:" in line]
    assert status == 1, report
    misspelt = 'Unexpected keyword argument "campain" for "campaign_schedule"'
    assert any(misspelt in line for line in errors), report
    # The correct call, and nothing else, passes.
    # (mypy may print the probe's path otherwise than it was given: the file's name and line say.)
    assert all(f"{probe.name}:{MISSPELT_LINE}: error:" in line for line in errors), report
