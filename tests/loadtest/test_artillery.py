"""loadtest/artillery.yml: its shape, its processor under Node, and one smoke run when Artillery is there."""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from rest_framework.test import APIClient

from core.db import database_url
from core.services import api_key_create
from delivery.models import TransactionalMessage
from tests.conftest import _services_required
from tests.factories import TemplateFactory
from tests.utils import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "loadtest" / "artillery.yml"
PROCESSOR = ROOT / "loadtest" / "processor.js"
NODE = shutil.which("node")
NPX = shutil.which("npx")
# The AWS sample's payload fields; user_id is left out, as the scenario does by default.
SAMPLE_FIELDS = {"from", "to", "template_name", "config_set", "tags", "unique_code"}
FROM = "sender@campanile.test"

# Calls the processor's hook as Artillery's HTTP engine does, on the scenario's own request
# (argv[1]: its json and headers), then renders the templates the way Artillery does after
# beforeRequest hooks: a value that is one {{ variable }} and nothing else becomes the variable's
# value, arrays included. Prints one {json, headers} per call, or the hook's error.
HOOK_RUNNER = r"""
const EventEmitter = require('events');
const processor = require(process.env.PROCESSOR);
const request = JSON.parse(process.argv[1]);
const calls = parseInt(process.argv[2], 10);
const render = (value, vars) => {
  if (Array.isArray(value)) return value.map((v) => render(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, vars)]));
  }
  const whole = typeof value === 'string' && value.match(/^{{\s*([\w$.]+)\s*}}$/);
  return whole ? vars[whole[1]] : value;
};
const sent = [];
for (let i = 0; i < calls; i++) {
  const params = { ...request };
  const context = { vars: {} };
  processor.campanileMessage(params, context, new EventEmitter(), (err) => {
    if (err) {
      console.log(JSON.stringify({ error: err.message }));
      process.exit(0);
    }
    sent.push({ json: render(params.json, context.vars), headers: render(params.headers, context.vars) });
  });
}
const untouched = JSON.stringify(request) === JSON.stringify(JSON.parse(process.argv[1]));
console.log(JSON.stringify({ sent, untouched }));
"""


# Calls the processor's afterResponse hook as Artillery's HTTP engine does, on each answer of
# argv[1] ([status, body as text]); prints the error message each call passed on, or null.
ANSWER_RUNNER = r"""
const EventEmitter = require('events');
const processor = require(process.env.PROCESSOR);
const outcomes = JSON.parse(process.argv[1]).map(([statusCode, body]) => {
  let outcome;
  processor.campanileAnswer({}, { statusCode, body }, { vars: {} }, new EventEmitter(), (err) => {
    outcome = err ? err.message : null;
  });
  return outcome;
});
console.log(JSON.stringify(outcomes));
"""


def _scenario() -> dict:
    return yaml.safe_load(SCENARIO.read_text())


def _post_step() -> dict:
    (scenario,) = _scenario()["scenarios"]
    (step,) = scenario["flow"]
    return step["post"]


def _run_hook(calls: int, **env: str) -> dict:
    """Run the processor's hook `calls` times under Node; return what each request would send."""
    post = _post_step()
    request = json.dumps({"json": post["json"], "headers": post["headers"]})
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPANILE_")}
    result = subprocess.run(
        [NODE, "-e", HOOK_RUNNER, request, str(calls)],
        env={**clean, "PROCESSOR": str(PROCESSOR), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


needs_node = pytest.mark.skipif(NODE is None, reason="needs node on PATH")


def test_scenario_posts_the_sample_payload_with_the_key_header():
    """Check the scenario mirrors the sample's LoadTest.yaml against /api/v1/messages."""
    config = _scenario()["config"]
    post = _post_step()

    assert (SCENARIO.parent / config["processor"]).resolve() == PROCESSOR
    # The sample's load: 100 arrivals a second for 60 seconds.
    assert [(p["duration"], p["arrivalRate"]) for p in config["phases"]] == [(60, 100)]
    assert config["environments"]["smoke"]["phases"] == [{"name": "smoke", "duration": 3, "arrivalCount": 20}]
    assert post["url"] == "/api/v1/messages"
    assert post["beforeRequest"] == "campanileMessage"
    assert post["afterResponse"] == "campanileAnswer"
    assert set(post["headers"]) == {"x-api-key"}
    assert set(post["json"]) == SAMPLE_FIELDS


@needs_node
def test_processor_is_valid_javascript():
    """Parse the processor with node --check."""
    subprocess.run([NODE, "--check", str(PROCESSOR)], check=True, capture_output=True, timeout=30)


@needs_node
def test_processor_fills_a_fresh_code_and_labelled_recipient_the_api_accepts(api_key):
    """Run the hook as Artillery would and post what it produces to the real endpoint."""
    TemplateFactory(name="SimpleEmail")
    _key, secret = api_key

    result = _run_hook(5, CAMPANILE_API_KEY=secret, CAMPANILE_FROM=FROM)

    # Every virtual user shares the scenario's request object: the hook must leave it as it was.
    assert result["untouched"]
    codes = [request["json"]["unique_code"] for request in result["sent"]]
    assert len(set(codes)) == 5
    client = APIClient()
    for request in result["sent"]:
        body, code = request["json"], request["json"]["unique_code"]
        assert re.fullmatch(r"[0-9a-z]{16,32}", code)
        assert body == {
            "from": FROM,
            "to": f"success+{code}@simulator.amazonses.com",
            "template_name": "SimpleEmail",
            "config_set": "",
            "tags": [{"Name": "campaign", "Value": "run1"}],
            "unique_code": code,
        }
        assert request["headers"] == {"x-api-key": secret}
        response = client.post("/api/v1/messages", body, format="json", HTTP_X_API_KEY=secret)
        assert response.status_code == 202, response.content
    assert sorted(TransactionalMessage.objects.values_list("unique_code", flat=True)) == sorted(codes)


def test_scenario_fails_the_run_when_any_virtual_user_failed():
    """Check the scenario asks Artillery's ensure plugin to exit non-zero on any failed user."""
    ensure = _scenario()["config"]["plugins"]["ensure"]

    assert ensure["conditions"] == [{"expression": "vusers.failed == 0"}]


@needs_node
def test_processor_sends_from_the_demo_sender_by_default():
    """Use the demo's verified sender when CAMPANILE_FROM is unset."""
    (request,) = _run_hook(1, CAMPANILE_API_KEY="k")["sent"]

    assert request["json"]["from"] == "demo@campanile.test"
    assert request["json"]["template_name"] == "SimpleEmail"


@needs_node
def test_processor_fails_every_non_2xx_answer_naming_its_status_and_error_code():
    """Pass 2xx answers; fail the others with the status and the body's error code, or what it was."""
    error = json.dumps({"error": {"status": 404, "code": "not_found", "message": "No template."}})
    answers = [
        [202, '{"id": "x"}'],
        [200, ""],
        [404, error],
        [401, json.dumps({"error": {"status": 401, "code": "authentication_failed"}})],
        [429, json.dumps({"detail": "slow down"})],
        [404, "<!doctype html><title>Not Found</title>"],
        [502, ""],
    ]
    result = subprocess.run(
        [NODE, "-e", ANSWER_RUNNER, json.dumps(answers)],
        env={**os.environ, "PROCESSOR": str(PROCESSOR)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert json.loads(result.stdout) == [
        None,
        None,
        "Campanile answered 404 not_found",
        "Campanile answered 401 authentication_failed",
        "Campanile answered 429 no error code",
        "Campanile answered 404 not a JSON body",
        "Campanile answered 502 empty body",
    ]


@needs_node
def test_processor_adds_a_random_user_id_only_when_asked():
    """Give user_id 1..N with CAMPANILE_USER_ID_MAX, as the sample's generateUserId does."""
    result = _run_hook(20, CAMPANILE_API_KEY="k", CAMPANILE_USER_ID_MAX="3", CAMPANILE_TO="bounce@x.test")

    assert result["untouched"]
    user_ids = {request["json"]["user_id"] for request in result["sent"]}
    assert user_ids <= {"1", "2", "3"}
    assert all(r["json"]["to"].startswith("bounce+") for r in result["sent"])


@needs_node
def test_processor_refuses_to_send_without_a_key():
    """Fail every request, saying why, when CAMPANILE_API_KEY is unset."""
    result = _run_hook(1)

    assert "CAMPANILE_API_KEY is not set" in result["error"]


@functools.cache
def _artillery_missing() -> str:
    """Return why Artillery cannot run here, or "" when it can."""
    if NPX is None:
        return "needs npx (Node.js) on PATH"
    # --no-install: never download Artillery from a test; --offline: nor ask the registry about it.
    command = [NPX, "--no-install", "--offline", "artillery", "--version"]
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`npx --no-install artillery --version` did not answer within 60 s"
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        detail = errors[0] if errors else f"exit status {result.returncode}"
        return f"needs Artillery installed for npx (npm install -g artillery): {detail}"
    return ""


@pytest.fixture
def artillery():
    """Skip the test unless `npx artillery` runs here without downloading anything; in CI, which
    installs Artillery wherever npx is, fail instead."""
    missing = _artillery_missing()
    if missing:
        if NPX and _services_required():
            pytest.fail(f"CI installs Artillery where npx is, yet: {missing}")
        pytest.skip(missing)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_smoke_run_queues_one_message_per_request(artillery, postgres_only, transactional_db, tmp_path):
    """Run the smoke environment against gunicorn: every request 202 and queued exactly once."""
    expected = _scenario()["config"]["environments"]["smoke"]["phases"][0]["arrivalCount"]
    TemplateFactory(name="SimpleEmail")
    api_key, secret = api_key_create(name="artillery", rate_limit="100000/minute")
    port = free_port()
    # Only the test database is shared; no Redis, so no metrics or throttle state leaks out.
    inherited = ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "CAMPANILE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    server_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "artillery-test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    base, report, server_log = f"http://127.0.0.1:{port}", tmp_path / "report.json", tmp_path / "gunicorn.log"
    serve = [sys.executable, "-m", "gunicorn", "config.wsgi", f"--bind=127.0.0.1:{port}", "--workers=2"]
    smoke = [NPX, "--no-install", "--offline", "artillery", "run", "-e", "smoke", "--target", base]
    with server_log.open("w") as log:
        server = subprocess.Popen(
            serve,
            cwd=ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_until(lambda: _status(f"{base}/healthz") == 200, 60), server_log.read_text()
        run = subprocess.run(
            [*smoke, "--output", str(report), str(SCENARIO)],
            cwd=ROOT,
            env={
                **env,
                "CAMPANILE_API_KEY": secret,
                "CAMPANILE_FROM": FROM,
                "ARTILLERY_DISABLE_TELEMETRY": "true",
            },
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.terminate()
        server.wait(30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok: vusers.failed == 0" in run.stdout

    counters = json.loads(report.read_text())["aggregate"]["counters"]
    assert counters.get("http.requests") == expected, counters
    assert counters.get("http.codes.202") == expected, counters
    assert counters.get("vusers.failed", 0) == 0, counters
    messages = TransactionalMessage.objects.filter(api_key=api_key).values_list("unique_code", "to_email")
    assert len(messages) == expected
    assert len({code for code, _to in messages}) == expected
    assert all(to == f"success+{code}@simulator.amazonses.com" for code, to in messages)


class _NotFound(BaseHTTPRequestHandler):
    """Answer every request as Campanile answers a message for a template it lacks: 404 not_found."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"status": 404, "code": "not_found", "message": "No template."}})
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format, *args):
        pass  # Keep the test's output to Artillery's.


def test_a_run_whose_every_request_is_refused_fails_loudly(artillery, tmp_path):
    """Run the smoke environment against a server answering 404: every user fails, Artillery exits 1."""
    expected = _scenario()["config"]["environments"]["smoke"]["phases"][0]["arrivalCount"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPANILE_")}
    target = f"http://127.0.0.1:{server.server_port}"
    smoke = [NPX, "--no-install", "--offline", "artillery", "run", "-e", "smoke", "--target", target]
    try:
        run = subprocess.run(
            [*smoke, "--output", str(report), str(SCENARIO)],
            cwd=ROOT,
            env={**env, "CAMPANILE_API_KEY": "any", "ARTILLERY_DISABLE_TELEMETRY": "true"},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert run.returncode != 0, run.stdout + run.stderr
    assert "fail: vusers.failed == 0" in run.stdout
    counters = json.loads(report.read_text())["aggregate"]["counters"]
    assert counters.get("http.codes.404") == expected, counters
    assert counters.get("vusers.failed") == expected, counters
    assert counters.get("errors.Campanile answered 404 not_found") == expected, counters
    assert counters.get("vusers.completed", 0) == 0, counters
