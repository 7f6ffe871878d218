"""Start the SES stand-in as the real process `make run` starts, on a free port."""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.utils import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class StandIn:
    """A running stand-in: its endpoint, and its own count of what it did."""

    def __init__(self, process: subprocess.Popen, port: int, state: Path):
        self.process, self.state = process, state
        self.endpoint = f"http://127.0.0.1:{port}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.endpoint}/_standin/stats", timeout=5) as answer:  # noqa: S310
            return json.load(answer)

    def settled(self, timeout: float = 30) -> bool:
        """Wait until every event and reader it scheduled has run."""
        return wait_until(lambda: self.stats()["pending"] == 0, timeout)


@pytest.fixture
def start_standin(tmp_path, aws_credentials):
    """Return a function starting a stand-in with extra arguments; each is stopped after the test."""
    started = []

    def start(*arguments: str) -> StandIn:
        port, state = free_port(), tmp_path / f"standin-{len(started)}"
        command = [
            sys.executable,
            "-m",
            "ses_standin",
            "--port",
            str(port),
            "--state",
            str(state),
            *arguments,
        ]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().startswith("SES stand-in on"), "the stand-in did not start"
        return StandIn(process, port, state)

    yield start
    for process in started:
        process.kill()
        process.wait(10)
