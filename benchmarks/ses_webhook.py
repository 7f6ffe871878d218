"""Benchmark: signed SNS notifications posted to /webhooks/ses/ under gunicorn, next to a bare view.

Run by hand on a quiet machine (needs PostgreSQL, Redis and wrk):

    .venv/bin/python benchmarks/ses_webhook.py [--seconds 10] [--rounds 5] [--connections 32] [--workers 4]

Signs enough distinct SES Delivery notifications (SignatureVersion 2, a 2048-bit test key, like
AWS's) for every request of the run, then loads, in turn, a bare Django view that INSERTs the body
and the webhook (certificate cached after its first use). Prints accepted requests/s, p50 and
p99, the ratio webhook / bare, and whether every acknowledged notification was stored.
"""

import json
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    ROOT,
    database_reset,
    django_setup,
    gunicorn_start,
    load_parser,
    wait_healthy,
    wrk_run,
)

LUA = """
local threads = 0
function setup(thread)
  thread:set("number", threads)
  threads = threads + 1
end
local bodies = {}
local counter = 0
local path, first
function init(args)
  path = args[2]
  for line in io.lines(args[3]) do bodies[#bodies + 1] = line end
  -- Each thread takes its own stretch of the bodies: no notification is sent twice.
  first = number * math.floor(#bodies / tonumber(args[4]))
end
function request()
  counter = counter + 1
  local body = bodies[first + counter]
  return wrk.format("POST", path, {["Content-Type"] = "text/plain; charset=UTF-8",
    ["x-amz-sns-message-type"] = "Notification"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f non2xx=%d p50=%.3f p99=%.3f\\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""

_signer = None


def _sign(index: int) -> str:
    from tests.tracking.sns_signing import notification

    record = json.loads((ROOT / "tests/fixtures/ses/event-delivery.json").read_text())
    record["mail"]["messageId"] = f"bench-{index}"
    return json.dumps(_signer.sign(notification(record), version="2"))


def _init_signer(key_pem: bytes, cert_pem: bytes) -> None:
    global _signer
    from cryptography.hazmat.primitives import serialization

    from tests.tracking.sns_signing import TestSigner

    _signer = TestSigner(key=serialization.load_pem_private_key(key_pem, None), pem=cert_pem)


def main() -> None:
    parser = load_parser(__doc__, rounds=5)
    parser.add_argument("--max-rate", type=int, default=1200, help="Bodies signed per second of each round.")
    args = parser.parse_args()

    database_reset()
    django_setup()
    from cryptography.hazmat.primitives import serialization
    from django.db import connection

    from benchmarks.urls import BARE_TABLE
    from tests.tracking.sns_signing import TOPIC, make_signer
    from tracking.models import SnsMessage

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, unique_code text, body text)")
    signer = make_signer()
    key_pem = signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    work = Path(tempfile.mkdtemp())
    (work / "cert.pem").write_bytes(signer.pem)
    per_round = args.seconds * args.max_rate
    print(f"signing {per_round * args.rounds} notifications…", flush=True)
    with ProcessPoolExecutor(initializer=_init_signer, initargs=(key_pem, signer.pem)) as pool:
        bodies = list(pool.map(_sign, range(per_round * args.rounds), chunksize=500))
    (work / "script.lua").write_text(LUA)

    server, base = gunicorn_start(
        workers=args.workers,
        extra=("--config=python:benchmarks.gunicorn_webhook",),
        SES_SNS_TOPIC_ARNS=TOPIC,
        BENCH_SNS_CERTIFICATE=str(work / "cert.pem"),
    )
    results = {"bare": [], "webhook": []}
    accepted_webhook = 0
    try:
        wait_healthy(base)
        for round_ in range(args.rounds):
            chunk = work / f"bodies-{round_}.txt"
            chunk.write_text("\n".join(bodies[round_ * per_round : (round_ + 1) * per_round]) + "\n")
            for label, path in (("bare", "/bench/bare-django-insert"), ("webhook", "/webhooks/ses/")):
                result = wrk_run(base, work / "script.lua", args, label, path, str(chunk), str(args.threads))
                results[label].append(result)
                if label == "webhook":
                    accepted_webhook += result["accepted"]
                print(
                    f"{label:8} round {round_ + 1}: {result['rps']:8.1f} req/s accepted, "
                    f"p50 {result['p50']:6.1f} ms, p99 {result['p99']:6.1f} ms, non-2xx {result['non2xx']}"
                )
    finally:
        server.terminate()
        server.wait(10)
    stored = SnsMessage.objects.count()
    bare = statistics.median(r["rps"] for r in results["bare"])
    webhook = statistics.median(r["rps"] for r in results["webhook"])
    paired = statistics.median(
        w["rps"] / b["rps"] for b, w in zip(results["bare"], results["webhook"], strict=True)
    )
    p99 = statistics.median(r["p99"] for r in results["webhook"])
    print(f"\nmedian: bare {bare:.1f} req/s, webhook {webhook:.1f} req/s (p99 {p99:.1f} ms)")
    print(f"webhook / bare = {webhook / bare:.2f}, median of rounds {paired:.2f}   (goal >= 0.80)")
    # Requests still in flight when wrk stops are stored but not counted as acknowledged.
    verdict = "none lost" if stored >= accepted_webhook else "LOST"
    print(f"acknowledged {accepted_webhook}, stored {stored}: {verdict}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
