"""`make run` on embedded defaults serves the admin, sends the demo campaign and stops on Ctrl-C."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.utils import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
# What `make run` would otherwise take from a developer's or CI's environment.
NOT_EMBEDDED = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_ENDPOINT_URL", "DJANGO_", "LOCAL_")


def _copy_project(target: Path) -> None:
    """Copy the project's files (tracked and new, not ignored) so the run's SQLite and broker are its own."""
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


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback only
            return response.status
    except OSError:
        return 0


def _demo_progress(db: Path) -> tuple[str, int]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            (status,) = conn.execute(
                "SELECT status FROM campaigns_campaign ORDER BY id DESC LIMIT 1"
            ).fetchone()
            (sent,) = conn.execute(
                "SELECT count(*) FROM delivery_stepexecution WHERE status = 'sent' AND ses_message_id != ''"
            ).fetchone()
    except (sqlite3.Error, TypeError):
        return "", 0
    return status, sent


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_sends_the_demo_campaign_on_embedded_defaults(tmp_path):
    project = tmp_path / "campanile"
    _copy_project(project)
    # Reuse the running interpreter's environment instead of installing a second one.
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)
    stamp = tmp_path / "installed"
    stamp.touch()
    web, ses = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_EMBEDDED)}
    env.update(LOCAL_WEB_PORT=str(web), LOCAL_SES_PORT=str(ses))
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen(
        ["make", "run", f"STAMP={stamp}"],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        healthy = wait_until(lambda: _get(f"http://127.0.0.1:{web}/healthz") == 200, 90)
        assert healthy, "the web server never answered /healthz with 200"
        assert _get(f"http://127.0.0.1:{web}/admin/login/") == 200
        db = project / "db.sqlite3"
        assert wait_until(lambda: _demo_progress(db) == ("completed", 49), 60), _demo_progress(db)
    finally:
        # What Ctrl-C does: SIGINT to the whole foreground process group.
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=30)
        finally:
            log.close()
            leftover = subprocess.run(["pgrep", "-g", str(run.pid)], capture_output=True, text=True).stdout
            if leftover:
                os.killpg(run.pid, signal.SIGKILL)
    assert not leftover, f"processes survived Ctrl-C: {leftover}"
    assert "Demo campaign" in (tmp_path / "run.log").read_text()
