"""Soak: `make run`'s stack kept busy for half an hour; crashes, lost mail and memory growth.

Run by hand (nothing else needed: it is the embedded stack, in a fresh copy of the project):

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--api-rate 2] [--campaign-every 3]
        [--campaign-size 400] [--broker-loss-every 5] [--json]

It starts `make run` in a copy of the project (tracked and new files, as a fresh clone), checks the
demo's first minute (the newsletter's figures, non-zero, and the SES stand-in's own count), then
for --minutes posts transactional messages to the API at --api-rate a second, creates and
schedules a campaign of --campaign-size new contacts every --campaign-every minutes, and drops
every broker connection every --broker-loss-every minutes (Redis CLIENT KILL: what a broker
restart or a network blip does to the worker and beat). Every 30 s it samples each process's
resident memory. Then it lets the queue drain and proves, per address, from the ledger (the
SQLite file) and the stand-in's record of every message it accepted:

- crashes: processes honcho saw stop, and tracebacks in the log;
- lost: an accepted API message or campaign row not sent, or marked sent but never received;
- duplicates: an address SES received more than once;
- memory: each process's resident set after the first 3 minutes and at the end.
"""

import argparse
import itertools
import json
import re
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._local_stack import LocalStack, http

SIMULATOR = "simulator.amazonses.com"
DEMO_FIGURES = ("delivered", "bounced_hard", "complained", "suppressed", "opens_unique", "clicks_unique")
ROLES = {
    "redis": "redis-server",
    "ses": "ses_standin",
    "web": "runserver",
    "worker": "worker",
    "beat": " beat",
}


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--api-rate", type=float, default=2.0, help="Transactional messages a second.")
    parser.add_argument("--campaign-every", type=float, default=3.0, help="Minutes between new campaigns.")
    parser.add_argument("--campaign-size", type=int, default=400)
    parser.add_argument("--broker-loss-every", type=float, default=5.0, help="Minutes; 0: never.")
    parser.add_argument("--drain-minutes", type=float, default=10.0)
    parser.add_argument("--folder", help="Where the copy goes (default: a new temporary folder, kept).")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def _processes(stack: LocalStack) -> dict[str, psutil.Process]:
    """Find the stack's processes by what they run."""
    found = {}
    for process in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            line = " ".join(process.cmdline())
        except psutil.Error:
            continue
        for role, marker in ROLES.items():
            if marker in line and "ses_verify_sender" not in line and role not in found:
                found[role] = process
    return found


def _rss_mb(processes: dict[str, psutil.Process]) -> dict[str, float]:
    sizes = {}
    for role, process in processes.items():
        try:
            sizes[role] = round(process.memory_info().rss / 2**20, 1)
        except psutil.Error:
            sizes[role] = 0.0
    return sizes


class Traffic:
    """Transactional messages at a steady rate, each to an address of its own."""

    def __init__(self, stack: LocalStack, key: str, rate: float, label: str):
        self.stack, self.key, self.rate, self.label = stack, key, rate, label
        self.accepted: dict[str, int] = {}
        self.refused: Counter = Counter()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        for n in itertools.count():
            if self.stopping.is_set():
                return
            time.sleep(max(0.0, start + n / self.rate - time.monotonic()))
            address = f"success+{self.label}-api-{n}@{SIMULATOR}"
            body = {
                "from": "demo@campanile.test",
                "to": address,
                "template_name": "SimpleEmail",
                "unique_code": f"{self.label}-{n}",
            }
            for _attempt in range(3):  # A connection error is retried with the same code, safely.
                status, answer = http(
                    "POST", f"{self.stack.url}/api/v1/messages", body, **{"X-API-Key": self.key}
                )
                if status:
                    break
                time.sleep(1)
            if status == 202:
                self.accepted[address] = answer["id"]
            else:
                self.refused[status] += 1


def _campaign(stack: LocalStack, key: str, label: str, k: int, size: int) -> list[str]:
    """Create a list of new contacts and a campaign to it, scheduled now; return its addresses."""
    auth = {"X-API-Key": key}
    addresses = [f"success+{label}-c{k}-{i}@{SIMULATOR}" for i in range(size)]
    _status, made = http("POST", f"{stack.url}/api/v1/lists", {"name": f"Soak {label} list {k}"}, **auth)
    contacts = [{"email": address, "first_name": f"Soak {i}"} for i, address in enumerate(addresses)]
    http("POST", f"{stack.url}/api/v1/contacts/bulk", {"contacts": contacts, "lists": [made["id"]]}, **auth)
    campaign = {
        "name": f"Soak {label} campaign {k}",
        "from_email": "Campanile Demo <demo@campanile.test>",
        "lists": [made["id"]],
        "steps": [{"order": 1, "template": "demo-welcome"}],
    }
    _status, created = http("POST", f"{stack.url}/api/v1/campaigns", campaign, **auth)
    status, answer = http("POST", f"{stack.url}/api/v1/campaigns/{created['id']}/schedule", {}, **auth)
    if status != 200:
        raise RuntimeError(f"scheduling campaign {k} answered {status}: {answer}")
    return addresses


def _first_minute(stack: LocalStack, key: str, up: float) -> dict:
    """Time until each of the newsletter's figures is non-zero, and whether it matched the stand-in."""
    auth = {"X-API-Key": key}
    campaigns = http("GET", f"{stack.url}/api/v1/campaigns?ordering=created_at", **auth)[1]["results"]
    newsletter = next(c for c in campaigns if c["name"].startswith("Spring"))
    seen: dict[str, float] = {}
    while len(seen) < len(DEMO_FIGURES) and time.monotonic() - up < 120:
        stats = http("GET", f"{stack.url}/api/v1/campaigns/{newsletter['id']}/stats", **auth)[1]
        for figure in DEMO_FIGURES:
            if stats.get(figure) and figure not in seen:
                seen[figure] = round(time.monotonic() - up, 1)
        time.sleep(1)
    return {"seconds_to_non_zero": seen, "newsletter_id": newsletter["id"]}


def _proof(stack: LocalStack, expected: set[str]) -> dict:
    """Count, per address, the ledger's rows and what the stand-in received."""
    with sqlite3.connect(f"file:{stack.project / 'db.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
        rows = db.execute("SELECT email, status FROM delivery_stepexecution").fetchall()
    log = stack.project / "var" / "ses" / "accepted.jsonl"
    received = Counter(json.loads(line)["to"] for line in log.read_text().splitlines() if '"to"' in line)
    ledger: dict[str, list[str]] = {}
    for email, status in rows:
        ledger.setdefault(email, []).append(status)
    statuses = Counter(status for email, status in rows if email in expected)
    return {
        "expected": len(expected),
        "ledger_rows": statuses,
        "lost": sorted(
            address
            for address in expected
            if ledger.get(address, [""])[0] != "sent" or not received.get(address)
        )[:20],
        "lost_count": sum(
            1 for address in expected if ledger.get(address, [""])[0] != "sent" or not received.get(address)
        ),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "ledger_duplicates": sum(
            len(s) - 1 for address, s in ledger.items() if address in expected and len(s) > 1
        ),
        "received_total": sum(received.values()),
        "ledger_sent_total": sum(1 for _email, status in rows if status == "sent"),
    }


def main() -> None:
    options = _options()
    folder = Path(options.folder or tempfile.mkdtemp(prefix="campanile-soak-"))
    stack = LocalStack(folder)
    label = f"soak{uuid.uuid4().hex[:6]}"
    report: dict = {"folder": str(folder), "minutes": options.minutes}
    stack.start()
    try:
        deadline = time.monotonic() + 180
        while http("GET", f"{stack.url}/healthz")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack never became healthy; see {stack.log_path}")
            time.sleep(0.5)
        up = time.monotonic()
        scopes = ("send", "read", "audience:write", "campaigns:write")
        key = stack.manage(
            "createapikey", "soak", "--rate-limit", "100000/minute", *(f"--scope={s}" for s in scopes)
        ).strip()
        report["first_minute"] = _first_minute(stack, key, up)
        processes = _processes(stack)
        traffic = Traffic(stack, key, options.api_rate, label)
        traffic.thread.start()
        expected_campaign: set[str] = set()
        memory, broker_losses, started = [], 0, time.monotonic()
        next_campaign = next_loss = next_sample = started
        k = 0
        while time.monotonic() - started < options.minutes * 60:
            now = time.monotonic()
            if now >= next_campaign:
                expected_campaign |= set(_campaign(stack, key, label, k, options.campaign_size))
                k, next_campaign = k + 1, now + options.campaign_every * 60
            if options.broker_loss_every and now >= next_loss and now > started:
                redis.Redis(port=stack.redis).client_kill_filter(_type="normal")
                broker_losses += 1
            if options.broker_loss_every and now >= next_loss:
                next_loss = now + options.broker_loss_every * 60
            if now >= next_sample:
                memory.append({"minute": round((now - started) / 60, 1), **_rss_mb(processes)})
                next_sample = now + 30
                if not options.json:
                    print(f"  {memory[-1]}  api {len(traffic.accepted)} accepted, campaigns {k}", flush=True)
            time.sleep(1)
        traffic.stopping.set()
        traffic.thread.join(30)
        expected = expected_campaign | set(traffic.accepted)
        drain_deadline = time.monotonic() + options.drain_minutes * 60
        while time.monotonic() < drain_deadline:
            proof = _proof(stack, expected)
            if not proof["lost_count"]:
                break
            time.sleep(10)
        memory.append({"minute": round((time.monotonic() - started) / 60, 1), **_rss_mb(processes)})
        output = stack.output()
        report.update(
            {
                "crashes": stack.stopped_processes(),
                "tracebacks": output.count("Traceback"),
                "unrecoverable": len(re.findall(r"Unrecoverable error", output)),
                "api_accepted": len(traffic.accepted),
                "api_refused": dict(traffic.refused),
                "campaigns": k,
                "campaign_rows": len(expected_campaign),
                "broker_connection_losses": broker_losses,
                "proof": _proof(stack, expected),
                "memory_mb": memory,
                "standin": stack.standin(),
            }
        )
    finally:
        report["leftover_after_ctrl_c"] = stack.stop()
    _print(report, as_json=options.json)
    failed = report.get("crashes") or report.get("tracebacks") or report.get("proof", {}).get("lost_count")
    sys.exit(1 if failed or report.get("proof", {}).get("duplicates") else 0)


def _print(report: dict, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    proof, memory = report.get("proof", {}), report.get("memory_mb", [])
    warm = next((sample for sample in memory if sample["minute"] >= 3), memory[0] if memory else {})
    last = memory[-1] if memory else {}
    print(f"Soak of {report['minutes']} min in {report['folder']}")
    print(f"  demo, seconds until non-zero: {report.get('first_minute', {}).get('seconds_to_non_zero')}")
    print(
        f"  crashes {len(report.get('crashes', []))}, tracebacks {report.get('tracebacks')}, "
        f"unrecoverable {report.get('unrecoverable')}, "
        f"broker connection losses {report.get('broker_connection_losses')}"
    )
    print(
        f"  mail: {report.get('api_accepted')} API messages + {report.get('campaign_rows')} campaign rows "
        f"({report.get('campaigns')} campaigns); lost {proof.get('lost_count')}, "
        f"duplicates {proof.get('duplicates')}, "
        f"ledger duplicates {proof.get('ledger_duplicates')}; statuses {dict(proof.get('ledger_rows', {}))}"
    )
    for role in ROLES:
        if role in last:
            print(
                f"  {role:7} RSS {warm.get(role)} MB at minute {warm.get('minute')}, "
                f"{last[role]} MB at the end"
            )


if __name__ == "__main__":
    main()
