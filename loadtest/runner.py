"""Running a load test: real traffic through the real pipeline, then proof of exactly-once.

A run labels every recipient address (`success+<label>-<n>@simulator.amazonses.com`), so its
mail is told apart on the ledger and at SES. It starts its own send workers (`manage.py
send_worker`: the tick and the delivery rounds the Celery tasks run) and, for the API path, a
gunicorn; offers the messages at the set rate; watches the ledger until it drains, killing and
restarting a worker on request; then counts, per address, the ledger rows and what SES received.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import urllib3
from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignStep, Contact, ContactList, ListMembership, Template
from core import fleet_metrics as fleet
from core.db import database_url
from core.services import api_key_create
from delivery.models import StepExecution
from delivery.throttle import send_rate_current
from loadtest.exceptions import LoadTestError
from loadtest.models import LoadTestRun
from loadtest.proof import (
    loadtest_addresses,
    loadtest_finish,
    loadtest_receipts,
    loadtest_reconcile,
    loadtest_report,
    percentiles,
    run_name,
    ses_latency_percentiles,
)

TEMPLATE_NAME = "Campanile load test"
ROOT = Path(settings.BASE_DIR)
Status = StepExecution.Status
FINAL = (Status.SENT, Status.FAILED, Status.SUPPRESSED, Status.UNKNOWN, Status.CANCELLED)


# --- Addresses ------------------------------------------------------------------------------------


# --- Processes ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _child_env(**overrides: str) -> dict[str, str]:
    """Return the environment of a child process: this process's database, Redis and secrets."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env["METRICS_REDIS_KEY"] = settings.METRICS_REDIS_KEY  # The report reads their SES timings.
    env.update(overrides)
    return env


def _wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LoadTestError(f"{what} exited with status {process.returncode} before it was ready.")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise LoadTestError(f"{what} did not listen on 127.0.0.1:{port} within {seconds:.0f} s.")


def _spawn(stack: ExitStack, command: list[str], env: dict, *, quiet: bool = False) -> subprocess.Popen:
    # Their output would mix into the report (--json): they speak through the ledger and logs;
    # a stand-in logs every request to stderr, and is quiet.
    process = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    stack.callback(stop)
    return process


def _worker(stack: ExitStack, env: dict) -> subprocess.Popen:
    return _spawn(stack, [sys.executable, "manage.py", "send_worker"], env)


def _wait_for_health(url: str, seconds: float = 60.0) -> None:
    """Wait until the web app answers, so its start-up is not counted as API latency."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(5))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if pool.request("GET", f"{url.rstrip('/')}/healthz").status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.2)
    raise LoadTestError(f"{url}/healthz did not answer 200 within {seconds:.0f} s.")


class SesSide:
    """Where the run's mail goes: the configured SES, or a stand-in started for the run."""

    def __init__(self, run: LoadTestRun, stack: ExitStack):
        self.env, self.moto = {}, ""
        if run.ses == LoadTestRun.Ses.CURRENT:
            return
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_SES_REGION_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "loadtest",
            "AWS_SECRET_ACCESS_KEY": "loadtest",
            "SES_MAX_SEND_RATE": str(run.rate),
            "SES_CONFIGURATION_SET": "",
        }
        if run.ses == LoadTestRun.Ses.STANDIN:
            command = [
                sys.executable, "-m", "ses_standin", "--port", str(port),
                "--log", run.context["ses_log"],
                "--latency-ms", str(run.context.get("standin_latency_ms", 50)),
                "--max-send-rate", str(run.rate),
            ]  # fmt: skip
            _wait_for_port(port, _spawn(stack, command, _child_env(), quiet=True), "The SES stand-in")
        else:
            moto = Path(sys.executable).with_name("moto_server")
            command = [
                str(moto) if moto.exists() else "moto_server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            _wait_for_port(port, _spawn(stack, command, _child_env(), quiet=True), "moto_server")
            # moto refuses senders whose domain it has not verified.
            subprocess.run(
                [sys.executable, "manage.py", "ses_verify_sender", "--wait", "30"],
                cwd=ROOT,
                env=_child_env(**self.env),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            self.moto = endpoint


# --- Traffic --------------------------------------------------------------------------------------


API_ATTEMPTS = 3  # Per message, on connection errors only; an HTTP answer is final.


class ApiTraffic:
    """Offer the messages to POST /api/v1/messages at the run's rate, from a pool of threads."""

    def __init__(self, run: LoadTestRun, addresses: list[str], url: str, key: str):
        self.run, self.addresses, self.url, self.key = run, addresses, url.rstrip("/"), key
        self.latencies: list[float] = []
        self.statuses: Counter = Counter()
        self.retries = 0
        self.next, self.lock = 0, threading.Lock()
        self.pool = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(30))
        threads = max(4, min(64, int(run.rate // 4) + 4))
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def _work(self) -> None:
        from_email = settings.DEFAULT_FROM_EMAIL
        while True:
            with self.lock:
                n = self.next
                self.next += 1
            if n >= len(self.addresses):
                return
            time.sleep(max(0.0, self.started + n / self.run.rate - time.monotonic()))
            body = {
                "from": from_email,
                "to": self.addresses[n],
                "template_name": TEMPLATE_NAME,
                "tags": [{"Name": "loadtest", "Value": self.run.label}],
                "unique_code": f"{self.run.label}-{n}",
            }
            began = time.perf_counter()
            status: int | str  # The HTTP status, or the connection error's name.
            for attempt in range(API_ATTEMPTS):
                try:
                    response = self.pool.request(
                        "POST",
                        f"{self.url}/api/v1/messages",
                        body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json", "X-API-Key": self.key},
                    )
                    status = response.status
                    break
                except urllib3.exceptions.HTTPError as exc:
                    # A kept-alive connection the server closed meanwhile, a reset: the code
                    # makes a retry safe (the first answer is replayed), as any client would.
                    status = type(exc).__name__
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.1 * (attempt + 1))
            with self.lock:
                self.latencies.append((time.perf_counter() - began) * 1000)
                self.statuses[status] += 1

    def accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in (200, 201, 202))


def _campaign_start(run: LoadTestRun, addresses: list[str], template: Template) -> Campaign:
    """Make the run's contacts, list and one-step campaign, all marked as load-test data, and
    schedule it for now."""
    audience = ContactList.objects.create(name=run_name(run.label), is_load_test=True)
    contacts = Contact.objects.bulk_create(Contact(email=address, is_load_test=True) for address in addresses)
    if not contacts or contacts[0].pk is None:  # Backends that return no ids on bulk insert.
        contacts = list(Contact.objects.filter(email__in=addresses))
    ListMembership.objects.bulk_create(ListMembership(contact_list=audience, contact=c) for c in contacts)
    campaign = Campaign.objects.create(
        name=run_name(run.label), from_email=settings.DEFAULT_FROM_EMAIL, is_load_test=True
    )
    campaign.lists.add(audience)
    CampaignStep.objects.create(campaign=campaign, template=template, order=1)
    return campaign_services.campaign_schedule(campaign=campaign)


# --- The run --------------------------------------------------------------------------------------


def loadtest_create(**fields) -> LoadTestRun:
    """Create a load test run with a fresh label, checking its recipients first."""
    run = LoadTestRun(label=f"lt{uuid.uuid4().hex[:10]}", **fields)
    if run.messages < 1 or run.rate <= 0:
        raise LoadTestError("A load test needs at least one message and a rate above zero.")
    if run.via not in LoadTestRun.Via.values or run.ses not in LoadTestRun.Ses.values:
        raise LoadTestError("Unknown --via or --ses choice.")
    loadtest_addresses(run=run)
    run.save()
    return run


def _watched_rows(run: LoadTestRun):
    """Return the rows the run made, found through indexes: watching must not scan the ledger."""
    if "campaign_id" in run.context:
        return StepExecution.objects.filter(step__campaign_id=run.context["campaign_id"])
    return StepExecution.objects.filter(message__api_key_id=run.context["api_key_id"])


def loadtest_execute(*, run: LoadTestRun, url: str = "", workers: int = 2) -> LoadTestRun:
    """Run the load test end to end and store its report; the run's status tells the verdict."""
    run.status, run.report = LoadTestRun.Status.RUNNING, {}
    run.save(update_fields=["status", "report"])
    try:
        with ExitStack() as stack:
            _execute(run=run, stack=stack, url=url, workers=workers)
    except Exception as exc:
        run.status = LoadTestRun.Status.ERROR
        run.report = {**run.report, "error": str(exc) or type(exc).__name__}
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "report", "finished_at"])
        if not isinstance(exc, LoadTestError | OSError | subprocess.SubprocessError):
            raise  # A bug, not a circumstance: recorded on the run, and shown whole.
    return run


def _execute(*, run: LoadTestRun, stack: ExitStack, url: str, workers: int) -> None:
    addresses = loadtest_addresses(run=run)
    folder = Path(settings.VAR_DIR) / "loadtest"
    folder.mkdir(parents=True, exist_ok=True)
    run.context = {**run.context, "ses_log": str(folder / f"{run.label}-ses.jsonl")}
    ses = SesSide(run, stack)
    overrides = dict(ses.env)
    if run.kill_worker_at is not None:
        # The killed worker's claims come back once their lease lapses: keep that within the run.
        overrides["SEND_LEASE_SECONDS"] = str(max(10, int(4 * settings.SEND_BATCH_SIZE / run.rate)))
    # Each worker runs send tasks of this many seconds; a campaign whose worker died is taken up
    # by another's tick once its heartbeat is two budgets old, as in production: keep that short.
    overrides["SEND_TASK_BUDGET_SECONDS"] = os.environ.get("SEND_TASK_BUDGET_SECONDS", "2")
    env = _child_env(**overrides)
    configured = run.rate if ses.env else send_rate_current().per_second
    template, _ = Template.objects.get_or_create(
        name=TEMPLATE_NAME,
        defaults={"subject": "Campanile load test", "html_body": "<p>A load test message.</p>"},
    )
    traffic = _api_traffic(run, stack, addresses, url, env) if run.via == LoadTestRun.Via.API else None
    run.save(update_fields=["context"])
    before = fleet.metrics_read()
    fleet_of_run = Workers(stack, env, workers)
    if traffic is not None:
        traffic.start()
    else:
        run.context["campaign_id"] = _campaign_start(run, addresses, template).pk
        run.save(update_fields=["context"])
    timeout = 60 + 3 * run.messages / min(run.rate, configured or run.rate)
    timeout += int(overrides.get("SEND_LEASE_SECONDS", 0))
    samples, drained = _watch(run, fleet_of_run, traffic, timeout)
    fleet_of_run.stop()  # Before reading the metrics: a stopping worker flushes its SES timings.
    receipts = loadtest_receipts(run=run, moto=ses.moto)
    loadtest_reconcile(run, receipts)  # Changes the ledger's rows, not what SES received.
    report = loadtest_report(run=run, receipts=receipts)
    report.update(
        {
            "configured_rate": configured,
            "drained_seconds": drained,
            "timed_out": drained > timeout,
            "queue_depth": samples,
            "ses_latency_ms": ses_latency_percentiles(before, fleet.metrics_read()),
            "worker_killed_at": fleet_of_run.killed_at,
        }
    )
    if traffic is not None:
        report["accepted"] = traffic.accepted()
        report["api_statuses"] = {str(status): n for status, n in traffic.statuses.items()}
        report["api_retries"] = traffic.retries
        report["api_latency_ms"] = percentiles(traffic.latencies)
    loadtest_finish(run, report)


def _api_traffic(run: LoadTestRun, stack: ExitStack, addresses: list[str], url: str, env: dict) -> ApiTraffic:
    """Make the run's API key (revoked when the run ends) and, without a URL, a gunicorn to post to.

    The key is a load-test key: the contacts its messages create are load-test contacts.
    """
    api_key, secret = api_key_create(
        name=run_name(run.label), rate_limit=f"{max(600, int(run.rate * 120))}/minute", is_load_test=True
    )
    stack.callback(lambda: type(api_key).objects.filter(pk=api_key.pk).update(revoked=True))
    run.context["api_key_id"] = api_key.pk
    if not url:
        port = _free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "8"]
        command += ["--log-level", "warning"]
        _wait_for_port(port, _spawn(stack, command, env), "gunicorn")
        url = f"http://127.0.0.1:{port}"
    _wait_for_health(url)
    return ApiTraffic(run, addresses, url, secret)


class Workers:
    """The run's send worker processes: started, one killed and replaced on request, stopped."""

    def __init__(self, stack: ExitStack, env: dict, count: int):
        self.stack, self.env = stack, env
        self.killed_at: int | None = None
        self.processes = [_worker(stack, env) for _ in range(count)]

    def kill_one(self, settled: int) -> None:
        """SIGKILL the first worker mid-run and start another, as a supervisor would."""
        self.processes[0].send_signal(signal.SIGKILL)
        self.processes[0].wait(10)
        self.processes[0] = _worker(self.stack, self.env)
        self.killed_at = settled

    def check(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise LoadTestError(f"A send worker exited by itself (status {process.returncode}).")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(15)


def _watch(
    run: LoadTestRun, workers: Workers, traffic: ApiTraffic | None, timeout: float
) -> tuple[list, float]:
    """Count the run's rows twice a second until they are all settled (or the timeout); return the
    samples [seconds, queued, sent] and the seconds it took."""
    started, samples = time.monotonic(), []
    while True:
        time.sleep(0.5)
        workers.check()
        counts = dict(_watched_rows(run).order_by().values_list("status").annotate(n=Count("pk")))
        elapsed = round(time.monotonic() - started, 1)
        settled = sum(counts.get(status, 0) for status in FINAL)
        queued = counts.get(Status.PENDING, 0) + counts.get(Status.SENDING, 0)
        samples.append([elapsed, queued, counts.get(Status.SENT, 0)])
        kill_due = run.kill_worker_at is not None and settled >= run.messages * run.kill_worker_at / 100
        if kill_due and workers.killed_at is None:
            workers.kill_one(settled)
        offered = traffic is None or traffic.done()
        expected = traffic.accepted() if traffic is not None else run.messages
        if (offered and not queued and settled >= expected) or elapsed > timeout:
            return samples, elapsed


# --- Clean-up -------------------------------------------------------------------------------------
