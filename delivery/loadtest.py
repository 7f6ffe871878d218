"""The built-in load test: real traffic through the real pipeline, then proof of exactly-once.

A run labels every recipient address (`success+<label>-<n>@simulator.amazonses.com`), so its
mail is told apart on the ledger and at SES. It starts its own send workers (`manage.py
send_worker`, the services the Celery tasks call) and, for the API path, a gunicorn; offers the
messages at the set rate; watches the ledger until it drains, killing and restarting a worker on
request; then counts, per address, the ledger rows and what SES received.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from email import message_from_string
from email.utils import parseaddr
from pathlib import Path
from types import SimpleNamespace

import urllib3
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignStep, Contact, ContactList, ListMembership, Template
from core import fleet_metrics as fleet
from core.db import database_url
from core.models import ApiKey
from core.services import api_key_create
from delivery import ledger, metrics
from delivery.exceptions import LoadTestError
from delivery.models import LoadTestRun, StepExecution, TransactionalMessage
from delivery.throttle import send_rate_current

SIMULATOR_DOMAIN = "simulator.amazonses.com"
TEMPLATE_NAME = "Campanile load test"
ROOT = Path(settings.BASE_DIR)
Status = StepExecution.Status
FINAL = (Status.SENT, Status.FAILED, Status.SUPPRESSED, Status.UNKNOWN, Status.CANCELLED)
Proof = LoadTestRun.Proof


def _run_name(label: str) -> str:
    """Name what a run makes (its list, campaign and API key) after its label."""
    return f"Load test {label}"


# --- Addresses ------------------------------------------------------------------------------------


def loadtest_addresses(*, run: LoadTestRun) -> list[str]:
    """Return the run's recipient for each message, labelled; refuse real mailboxes unless allowed."""
    bases = [address.strip() for address in run.to.split(",") if address.strip()]
    if not bases:
        raise LoadTestError("Give at least one recipient address.")
    for address in bases:
        local, at, domain = address.rpartition("@")
        if not at or not local:
            raise LoadTestError(f"{address!r} is not an email address.")
        if domain.lower() != SIMULATOR_DOMAIN and not run.allow_real_recipients:
            raise LoadTestError(
                f"{address} is a real mailbox: a load test mails only the SES mailbox simulator "
                f"(…@{SIMULATOR_DOMAIN}) unless real recipients are allowed."
            )
    return [_labelled(bases[n % len(bases)], f"{run.label}-{n}") for n in range(run.messages)]


def _labelled(address: str, tag: str) -> str:
    local, _, domain = address.rpartition("@")
    # The simulator (and most mailboxes) ignore what follows "+"; a local part with its own
    # "+" gets the tag after it.
    return f"{local}{'-' if '+' in local else '+'}{tag}@{domain}"


def _index(address: str, label: str) -> int | None:
    tail = address.rpartition("@")[0].rpartition(f"{label}-")[2]
    return int(tail) if tail.isdigit() else None


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


def loadtest_receipts(*, run: LoadTestRun, moto=None) -> dict | None:
    """Return what SES's side received for the run, per address, with the message id of each
    tracking id where known: the stand-in's log, moto's record (while it runs), SES Send events;
    None when nothing is known."""
    log = Path(run.context.get("ses_log", "") or "/nonexistent")
    if run.ses == LoadTestRun.Ses.STANDIN:
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        ours = [r for r in records if not r.get("throttled") and f"+{run.label}-" in (r.get("to") or "")]
        return {
            "by_address": Counter(r["to"] for r in ours),
            "ids": {r["tracking"]: r["id"] for r in ours if r.get("tracking")},
            "source": "the stand-in's record of every message it accepted",
        }
    if run.ses == LoadTestRun.Ses.MOTO:
        return _moto_receipts(run, moto) if moto else None
    return _send_event_receipts(run)


def _moto_receipts(run: LoadTestRun, endpoint: str) -> dict:
    """Read what moto_server accepted from its model dump (its send count counts each recipient
    of a raw message twice: the Destinations parameter and the To header)."""
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(30))
    dump = json.loads(pool.request("GET", f"{endpoint}/moto-api/data.json").data)
    by_address, ids = Counter(), {}
    for message in dump.get("ses", {}).get("RawMessage", []):
        addresses = {parseaddr(destination)[1] for destination in message.get("destinations", [])}
        ours = {address for address in addresses if f"+{run.label}-" in address}
        by_address.update(ours)
        tags = message_from_string(message.get("raw_data", "")).get("X-SES-MESSAGE-TAGS", "")
        tracking = dict(part.strip().split("=", 1) for part in tags.split(",") if "=" in part)
        if ours and tracking.get("campanile_step_execution"):
            ids[tracking["campanile_step_execution"]] = message["id"]
    return {"by_address": by_address, "ids": ids, "source": "moto's record of every message it accepted"}


#: Counts distinct SES message ids of Send events per recipient address containing a fragment.
#: Supplied by the tracking app when it loads: it owns the events and depends on this app.
send_events_by_recipient: Callable[[str], dict[str, int]] | None = None


def _send_event_receipts(run: LoadTestRun) -> dict | None:
    """Count SES Send events per address: SES's own word, when a configuration set publishes them."""
    if send_events_by_recipient is None:
        return None
    by_address = Counter(send_events_by_recipient(f"+{run.label}-"))
    if not by_address:
        return None  # No Send events (no configuration set publishing them): the ledger alone.
    return {"by_address": by_address, "ids": {}, "source": "SES Send events"}


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
    audience = ContactList.objects.create(name=_run_name(run.label), is_load_test=True)
    contacts = Contact.objects.bulk_create(Contact(email=address, is_load_test=True) for address in addresses)
    if not contacts or contacts[0].pk is None:  # Backends that return no ids on bulk insert.
        contacts = list(Contact.objects.filter(email__in=addresses))
    ListMembership.objects.bulk_create(ListMembership(contact_list=audience, contact=c) for c in contacts)
    campaign = Campaign.objects.create(
        name=_run_name(run.label), from_email=settings.DEFAULT_FROM_EMAIL, is_load_test=True
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


def _ledger_rows(run: LoadTestRun):
    """Return every ledger row addressed to the run's labels, whatever made it: the proof's scope."""
    return StepExecution.objects.filter(email__contains=f"+{run.label}-")


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
    _reconcile(run, receipts)  # Changes the ledger's rows, not what SES received.
    report = loadtest_report(run=run, receipts=receipts)
    report.update(
        {
            "configured_rate": configured,
            "drained_seconds": drained,
            "timed_out": drained > timeout,
            "queue_depth": samples,
            "ses_latency_ms": _ses_latency(before, fleet.metrics_read()),
            "worker_killed_at": fleet_of_run.killed_at,
        }
    )
    if traffic is not None:
        report["accepted"] = traffic.accepted()
        report["api_statuses"] = {str(status): n for status, n in traffic.statuses.items()}
        report["api_retries"] = traffic.retries
        report["api_latency_ms"] = _percentiles(traffic.latencies)
    _finish(run, report)


def _api_traffic(run: LoadTestRun, stack: ExitStack, addresses: list[str], url: str, env: dict) -> ApiTraffic:
    """Make the run's API key (revoked when the run ends) and, without a URL, a gunicorn to post to.

    The key is a load-test key: the contacts its messages create are load-test contacts.
    """
    api_key, secret = api_key_create(
        name=_run_name(run.label), rate_limit=f"{max(600, int(run.rate * 120))}/minute", is_load_test=True
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
        self.stack, self.env, self.killed_at = stack, env, None
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


def _reconcile(run: LoadTestRun, receipts: dict | None) -> int:
    """Settle `unknown` rows SES is known to have accepted, as its Send events would; return how many."""
    ids = (receipts or {}).get("ids") or {}
    settled = 0
    for row in _ledger_rows(run).filter(status=Status.UNKNOWN):
        if str(row.tracking_id) in ids:
            ledger.step_execution_reconcile(
                tracking_id=row.tracking_id,
                ses_message_id=ids[str(row.tracking_id)],
                accepted_at=timezone.now(),
            )
            settled += 1
    return settled


def _percentiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {"p50": values[0] if values else None, "p95": None, "p99": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def _ses_latency(before: dict, after: dict) -> dict:
    snapshots = [SimpleNamespace(at=0, values=before), SimpleNamespace(at=1, values=after)]
    quantile = {q: fleet.histogram_quantile(snapshots, metrics.SES_SECONDS.name, q) for q in (0.5, 0.95)}
    return {f"p{int(q * 100)}": round(v * 1000, 1) if v is not None else None for q, v in quantile.items()}


def loadtest_report(*, run: LoadTestRun, receipts: dict | None) -> dict:
    """Count the run per address: sent, failed, unknown, duplicated and missing messages.

    A duplicate is a second ledger row for one address, or a second message SES received for it.
    A missing message has no ledger row, a row that never settled, or, when SES's side is known
    per address, a row marked sent that SES never received.
    """
    rows = list(_ledger_rows(run).values_list("email", "status"))
    per_address: dict[int, list[str]] = {}
    for email, status in rows:
        index = _index(email, run.label)
        if index is not None and index < run.messages:
            per_address.setdefault(index, []).append(status)
    by_address = Counter()
    if receipts and "by_address" in receipts:
        for email, n in receipts["by_address"].items():
            index = _index(email, run.label)
            if index is not None:
                by_address[index] += n
    duplicates = sum(len(statuses) - 1 for statuses in per_address.values())
    duplicates += sum(n - 1 for n in by_address.values() if n > 1)
    final = Counter(statuses[0] for statuses in per_address.values())
    missing = run.messages - len(per_address)  # Never reached the ledger.
    missing += final[Status.PENDING] + final[Status.SENDING]  # Never settled.
    if receipts and "by_address" in receipts:
        missing += sum(
            1
            for index, statuses in per_address.items()
            if statuses[0] == Status.SENT and not by_address.get(index)
        )
    # Over the middle 80% of the sends, as a steady rate: start-up and a drained tail left out.
    times = sorted(_ledger_rows(run).filter(status=Status.SENT).values_list("sent_at", flat=True))
    low, high = int(len(times) * 0.1), int(len(times) * 0.9) - 1
    span = (times[high] - times[low]).total_seconds() if high > low else 0
    return {
        "label": run.label,
        "requested": run.messages,
        "accepted": len(per_address),
        "sent": final[Status.SENT],
        "failed": final[Status.FAILED] + final[Status.SUPPRESSED] + final[Status.CANCELLED],
        "unknown": final[Status.UNKNOWN],
        "duplicates": duplicates,
        "missing": missing,
        "achieved_rate": round((high - low) / span, 2) if span > 0 else None,
        "receipts": (receipts or {}).get("source", "none: the ledger alone"),
        "proof": (Proof.SES if receipts and "by_address" in receipts else Proof.LEDGER).value,
    }


def _finish(run: LoadTestRun, report: dict) -> None:
    ok = not report["duplicates"] and not report["missing"] and not report.get("timed_out")
    run.status = LoadTestRun.Status.PASSED if ok else LoadTestRun.Status.FAILED
    run.report, run.finished_at = report, timezone.now()
    run.save(update_fields=["status", "report", "finished_at"])
    close_old_connections()


def loadtest_verify(*, run: LoadTestRun) -> LoadTestRun:
    """Count a finished run again (after late SES events, or to check the check); store the verdict."""
    _finish(run, {**run.report, **loadtest_report(run=run, receipts=loadtest_receipts(run=run))})
    return run


def loadtest_proof(*, run: LoadTestRun) -> Proof:
    """Return what the run's messages were counted against: SES's side, or the ledger alone."""
    proof = run.report.get("proof")
    if proof is None:  # A report from before the proof was recorded: its receipts tell.
        proof = Proof.LEDGER if run.report.get("receipts", "none").startswith("none") else Proof.SES
    return Proof(proof)


def loadtest_verdict(*, run: LoadTestRun) -> str:
    """Return the run's verdict in words; a pass names what it was counted against."""
    if run.status != LoadTestRun.Status.PASSED:
        return run.get_status_display()
    proof = loadtest_proof(run=run)
    source = f" ({run.report.get('receipts')})" if proof == Proof.SES else ""
    return f"{run.get_status_display()} — {proof.label}{source}"


def loadtest_summary(*, run: LoadTestRun) -> str:
    """Return the run's report as the lines a person reads."""
    r = run.report
    if run.status == LoadTestRun.Status.ERROR:
        return f"Load test {run.label} could not run: {r.get('error', 'unknown error')}"

    def ms(figures: dict | None) -> str:
        figures = figures or {}
        return " / ".join(f"{k} {v} ms" for k, v in figures.items() if v is not None) or "n/a"

    depth = r.get("queue_depth") or []
    step = max(1, len(depth) // 12)
    lines = [
        f"Load test {run.label} ({run.messages} via {run.via}, SES: {run.ses}): {loadtest_verdict(run=run)}",
        f"  requested {r.get('requested')}  accepted {r.get('accepted')}  sent {r.get('sent')}  "
        f"failed {r.get('failed')}  unknown {r.get('unknown')}",
        f"  duplicates {r.get('duplicates')}  missing {r.get('missing')}  (SES side: {r.get('receipts')})",
        f"  send rate {r.get('achieved_rate')}/s achieved, {r.get('configured_rate')}/s configured; "
        f"drained in {r.get('drained_seconds')} s" + (" (timed out)" if r.get("timed_out") else ""),
        f"  API latency {ms(r.get('api_latency_ms'))}; answers {r.get('api_statuses')}, "
        f"{r.get('api_retries', 0)} retried after a connection error"
        if "api_latency_ms" in r
        else "",
        f"  SES call latency {ms(r.get('ses_latency_ms'))}",
        f"  worker killed after {r['worker_killed_at']} settled rows and restarted"
        if r.get("worker_killed_at") is not None
        else "",
        "  queue depth (s: rows): " + ", ".join(f"{t}: {q}" for t, q, _ in depth[::step]) if depth else "",
    ]
    return "\n".join(line for line in lines if line)


# --- Clean-up -------------------------------------------------------------------------------------

#: Rows deleted per statement: a big run's rows go in short transactions that each hold their
#: locks briefly, and memory stays flat (Django loads the rows it deletes, for their cascades).
CLEANUP_BATCH = 2_000


def _loadtest_data(*, label: str | None) -> dict[str, QuerySet]:
    """Return what load tests made (one run's, with a label), in an order that can be deleted."""
    campaigns = Campaign.objects.filter(is_load_test=True)
    lists = ContactList.objects.filter(is_load_test=True)
    contacts = Contact.objects.filter(is_load_test=True)
    keys = ApiKey.objects.filter(is_load_test=True)
    if label is not None:
        if not LoadTestRun.objects.filter(label=label).exists():
            raise LoadTestError(f"No load test run is labelled {label!r}.")
        # Every address of the run carries its label (`success+<label>-<n>@…`, see _labelled).
        campaigns, lists = campaigns.filter(name=_run_name(label)), lists.filter(name=_run_name(label))
        contacts, keys = contacts.filter(email__contains=f"{label}-"), keys.filter(name=_run_name(label))
    steps = CampaignStep.objects.filter(campaign__in=campaigns)
    messages = TransactionalMessage.objects.filter(Q(api_key__in=keys) | Q(contact__in=contacts))
    # Each condition reads one indexed column of the ledger: no join, no scan of a million rows.
    ledger = StepExecution.objects.filter(
        Q(step__in=steps) | Q(message__in=messages) | Q(contact__in=contacts)
    )
    # The ledger first: its rows point at everything else.
    return {
        "ledger_rows": ledger,
        "messages": messages,
        "steps": steps,
        "campaigns": campaigns,
        "lists": lists,
        "contacts": contacts,
    }


def loadtest_data_delete(*, label: str | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete what load tests made, or one run's (label): ledger rows, transactional messages of
    load-test keys, campaigns with their steps, lists and contacts; return how many of each.

    The runs themselves stay, as history. Deletion goes in batches, each committed: stopped
    halfway, it leaves load-test data only, and running it again finishes the job.
    """
    data = _loadtest_data(label=label)
    counts = {kind: rows.count() for kind, rows in data.items()}
    if not dry_run:
        for rows in data.values():
            _delete_in_batches(rows)
    return counts


def _delete_in_batches(rows: QuerySet) -> None:
    while batch := list(rows.values_list("pk", flat=True)[:CLEANUP_BATCH]):
        rows.model.objects.filter(pk__in=batch).delete()
