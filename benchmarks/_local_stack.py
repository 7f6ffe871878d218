"""`make run` in a fresh copy of the project, on ports of its own: for the soak benchmark and the tests.

The copy holds what a fresh clone holds (tracked and new files, nothing ignored: no .env, no
database); its .venv is a link to the running interpreter's, so nothing is installed again.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What `make run` would otherwise take from a developer's or CI's environment.
NOT_EMBEDDED = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_", "DJANGO_", "LOCAL_", "SES_", "SNS_")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_project(target: Path) -> None:
    """Copy the project's files (tracked and new, not ignored): what a fresh clone holds."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def http(method: str, url: str, body: dict | None = None, **headers: str) -> tuple[int, dict]:
    """Call the stack; return the status and the JSON answer (0 and {} when nothing answered)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            payload = response.read()
            return response.status, json.loads(payload) if payload.startswith(b"{") else {}
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, json.loads(payload) if payload.startswith(b"{") else {}
    except OSError:
        return 0, {}


class LocalStack:
    """A `make run` in a copy of the project at `folder`, started and stopped like a person would."""

    def __init__(self, folder: Path):
        self.folder, self.project = folder, folder / "campanile"
        self.web, self.ses, self.redis = _free_port(), _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.web}"
        self.log_path = folder / "run.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Copy the project and start `make run` in it, its output going to run.log."""
        copy_project(self.project)
        (self.project / ".venv").symlink_to(Path(sys.executable).parent.parent)
        stamp = self.folder / "installed"  # The linked venv is installed already.
        stamp.touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_EMBEDDED)}
        env.update(
            LOCAL_WEB_PORT=str(self.web), LOCAL_SES_PORT=str(self.ses), LOCAL_REDIS_PORT=str(self.redis)
        )
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["make", "run", f"STAMP={stamp}"],
            cwd=self.project,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def terminal(self, command: list[str]) -> subprocess.CompletedProcess:
        """Run a command in a new terminal of the project: none of this process's settings leak in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_EMBEDDED)}
        return subprocess.run(command, cwd=self.project, env=env, capture_output=True, text=True, check=False)

    def manage(self, *arguments: str) -> str:
        """Run a manage.py command as the docs print it; return what it printed."""
        done = self.terminal([".venv/bin/python", "manage.py", *arguments])
        done.check_returncode()
        return done.stdout

    def standin(self) -> dict:
        """Return the SES stand-in's own count of what it did."""
        return http("GET", f"http://127.0.0.1:{self.ses}/_standin/stats")[1]

    def output(self) -> str:
        return self.log_path.read_text()

    def stopped_processes(self) -> list[str]:
        """Return honcho's lines about processes that stopped: none should, before Ctrl-C."""
        return re.findall(r".*\| \S+ stopped \(rc=.*", self.output())

    def stop(self) -> str:
        """Ctrl-C: SIGINT to the whole foreground process group; return what survived it."""
        if self.process is None:
            return ""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        finally:
            self.log.close()
            leftover = subprocess.run(
                ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True
            ).stdout
            if leftover:
                os.killpg(self.process.pid, signal.SIGKILL)
        return leftover
