"""Benchmark: POST /api/v1/messages under gunicorn, next to a bare DRF one-INSERT view, same run.

Run by hand on a quiet machine (needs PostgreSQL, Redis and wrk):

    .venv/bin/python benchmarks/api_messages.py [--seconds 10] [--rounds 5] [--connections 32] [--workers 4]

Each endpoint is loaded in turn, round after round (bare, messages, bare, …), from wrk on loopback, with
a fresh idempotency code per request so every request queues a new email. Prints accepted
requests/s, p50 and p99 latency, and the ratio messages / bare.
"""

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    database_reset,
    django_setup,
    gunicorn_start,
    load_parser,
    wait_healthy,
    wrk_run,
)

CONTACTS = 10_000
LUA = """
local counter = 0
local run, key, path
function init(args)
  run = args[1] .. "-" .. tostring(math.random(1, 1000000000))
  key = args[2]
  path = args[3]
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"from":"sender@campanile.test","to":"success@simulator.amazonses.com",' ..
    '"template_name":"SimpleEmail","user_id":"%d","config_set":"load-test-config",' ..
    '"tags":[{"Name":"campaign","Value":"run1"}],"unique_code":"%s-%d"}',
    (counter % {contacts}) + 1, run, counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT requests=%d seconds=%.3f non2xx=%d p50=%.3f p99=%.3f\\n",
    summary.requests, summary.duration / 1e6, non2xx,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
""".replace("{contacts}", str(CONTACTS))


def seed() -> str:
    """Create the sample's template, contacts with external ids 1..N, and an unthrottled key."""
    django_setup()
    from django.db import connection

    from benchmarks.urls import BARE_TABLE
    from campaigns.models import Contact, Template
    from core.services import api_key_create

    Template.objects.create(name="SimpleEmail", subject="Hi {{ contact.first_name }}", html_body="<p>Hi</p>")
    Contact.objects.bulk_create(
        [
            Contact(email=f"user{i}@example.com", external_id=str(i), first_name=f"U{i}")
            for i in range(1, CONTACTS + 1)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, unique_code text, body text)")
    _key, secret = api_key_create(name="benchmark", rate_limit="100000000/second")
    return secret


def main() -> None:
    parser = load_parser(__doc__, rounds=5)
    args = parser.parse_args()

    database_reset()
    key = seed()
    server, base = gunicorn_start(workers=args.workers)
    results = {"bare": [], "messages": []}
    try:
        wait_healthy(base)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        for round_ in range(args.rounds):
            for label, path in (("bare", "/bench/bare-insert"), ("messages", "/api/v1/messages")):
                result = wrk_run(base, Path(script.name), args, f"{label}{round_}", key, path)
                results[label].append(result)
                print(
                    f"{label:9} round {round_ + 1}: {result['rps']:8.1f} req/s accepted, "
                    f"p50 {result['p50']:6.1f} ms, p99 {result['p99']:6.1f} ms, non-2xx {result['non2xx']}"
                )
    finally:
        server.terminate()
        server.wait(10)
    bare = statistics.median(r["rps"] for r in results["bare"])
    messages = statistics.median(r["rps"] for r in results["messages"])
    p99 = statistics.median(r["p99"] for r in results["messages"])
    # Each round's ratio pairs runs a few seconds apart, so it shrugs off the machine's drift.
    paired = statistics.median(
        m["rps"] / b["rps"] for b, m in zip(results["bare"], results["messages"], strict=True)
    )
    print(f"\nmedian: bare {bare:.1f} req/s, messages {messages:.1f} req/s (p99 {p99:.1f} ms)")
    print(f"messages / bare = {messages / bare:.2f}, median of rounds {paired:.2f}   (goal >= 0.60)")
    print(f"messages / 100 req/s usage plan = {messages / 100:.1f}x   (goal >= 10x)")


if __name__ == "__main__":
    main()
