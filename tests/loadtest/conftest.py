"""The load test's shared fixtures: the workers' environment, and its command's report."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def loadtest_json(*args) -> tuple[dict, CommandError | None]:
    """Run manage.py loadtest --json; return its report and the error it exited with, if any."""
    out, error = StringIO(), None
    try:
        call_command("loadtest", *args, "--json", stdout=out)
    except CommandError as exc:
        error = exc
    return json.loads(out.getvalue()), error


@pytest.fixture
def standin_env(monkeypatch):
    """Keep claims short-lived so a killed worker's rows come back within a small run."""
    monkeypatch.setenv("SEND_BATCH_SIZE", "25")
    monkeypatch.setenv("SEND_CONCURRENCY", "4")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
