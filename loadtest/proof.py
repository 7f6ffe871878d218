"""The proof of a run: per labelled address, the ledger's rows against what SES's side received."""

import json
import statistics
from collections import Counter
from email import message_from_string
from email.utils import parseaddr
from pathlib import Path
from types import SimpleNamespace

import urllib3
from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.utils import timezone

from core import fleet_metrics as fleet
from core.addresses import email_canonical
from delivery import ledger, metrics
from delivery.models import StepExecution
from loadtest.exceptions import LoadTestError
from loadtest.models import LoadTestRun
from tracking.selectors import send_events_by_recipient

Proof = LoadTestRun.Proof

Status = StepExecution.Status

SIMULATOR_DOMAIN = "simulator.amazonses.com"


def loadtest_addresses(*, run: LoadTestRun) -> list[str]:
    """Return the run's recipient for each message, labelled; refuse real mailboxes unless allowed."""
    try:
        bases = [email_canonical(address) for address in run.to.split(",") if address.strip()]
    except ValidationError as exc:
        raise LoadTestError(exc.messages[0]) from None
    if not bases:
        raise LoadTestError("Give at least one recipient address.")
    for address in bases:
        domain = address.rpartition("@")[2]
        if domain != SIMULATOR_DOMAIN and not run.allow_real_recipients:
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
    by_address: Counter[str] = Counter()
    ids: dict[str, str] = {}
    for message in dump.get("ses", {}).get("RawMessage", []):
        addresses = {parseaddr(destination)[1] for destination in message.get("destinations", [])}
        ours = {address for address in addresses if f"+{run.label}-" in address}
        by_address.update(ours)
        tags = message_from_string(message.get("raw_data", "")).get("X-SES-MESSAGE-TAGS", "")
        tracking = dict(part.strip().split("=", 1) for part in tags.split(",") if "=" in part)
        if ours and tracking.get("campanile_step_execution"):
            ids[tracking["campanile_step_execution"]] = message["id"]
    return {"by_address": by_address, "ids": ids, "source": "moto's record of every message it accepted"}


def _send_event_receipts(run: LoadTestRun) -> dict | None:
    """Count SES Send events per address: SES's own word, when a configuration set publishes them."""
    by_address = Counter(send_events_by_recipient(f"+{run.label}-"))
    if not by_address:
        return None  # No Send events (no configuration set publishing them): the ledger alone.
    return {"by_address": by_address, "ids": {}, "source": "SES Send events"}


def _ledger_rows(run: LoadTestRun):
    """Return every ledger row addressed to the run's labels, whatever made it: the proof's scope."""
    return StepExecution.objects.filter(email__contains=f"+{run.label}-")


def loadtest_reconcile(run: LoadTestRun, receipts: dict | None) -> int:
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


def percentiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {"p50": values[0] if values else None, "p95": None, "p99": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def ses_latency_percentiles(before: dict, after: dict) -> dict:
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
    by_address: Counter[int] = Counter()
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


def loadtest_finish(run: LoadTestRun, report: dict) -> None:
    ok = not report["duplicates"] and not report["missing"] and not report.get("timed_out")
    run.status = LoadTestRun.Status.PASSED if ok else LoadTestRun.Status.FAILED
    run.report, run.finished_at = report, timezone.now()
    run.save(update_fields=["status", "report", "finished_at"])
    close_old_connections()


def loadtest_verify(*, run: LoadTestRun) -> LoadTestRun:
    """Count a finished run again (after late SES events, or to check the check); store the verdict."""
    loadtest_finish(run, {**run.report, **loadtest_report(run=run, receipts=loadtest_receipts(run=run))})
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


def run_name(label: str) -> str:
    """Name what a run makes (its list, campaign and API key) after its label."""
    return f"Load test {label}"
