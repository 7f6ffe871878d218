"""Benchmark: the open pixel and the click redirect under gunicorn, next to a bare GIF view, same run.

Run by hand on a quiet machine (needs PostgreSQL and wrk):

    .venv/bin/python benchmarks/tracking_hits.py [--seconds 10] [--rounds 3] [--connections 32] [--workers 4]

Loads, in turn, a bare Django view that answers the same 43-byte GIF, the pixel with a valid
token, and the click redirect with a valid token. Prints requests/s, p50 and p99, the ratios to
the bare view, and whether every answered hit became exactly one event, counted once, once the
consumer drained.
"""

import statistics
import sys
import tempfile
import time
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

LUA = """
local path
function init(args)
  path = args[2]
end
function request()
  return wrk.format("GET", path, {["User-Agent"] = "Mozilla/5.0 (bench)"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f non2xx=%d p50=%.3f p99=%.3f\\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def seed() -> tuple[str, str]:
    """Make one sent row with one tracked link; return its pixel and click paths."""
    django_setup()
    from django.urls import reverse

    from delivery import compose, tokens
    from delivery.models import StepExecution
    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory(status=StepExecution.Status.SENT)
    link_id = compose.step_link_id(step_id=row.step_id, url="https://example.com/landing")
    pixel = reverse(
        "open", args=[tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.OPEN)]
    )
    click = reverse("click", args=[tokens.click_token(tracking_id=row.tracking_id, link_id=link_id)])
    return pixel, click


def main() -> None:
    parser = load_parser(__doc__, rounds=3)
    args = parser.parse_args()

    database_reset()
    pixel, click = seed()
    from tracking import hits
    from tracking.models import StepEngagement, TrackingEvent, TrackingHit

    server, base = gunicorn_start(workers=args.workers)
    script = Path(tempfile.mkdtemp()) / "hits.lua"
    script.write_text(LUA)
    results = {"bare": [], "pixel": [], "click": []}
    answered = 0
    try:
        wait_healthy(base)
        for round_ in range(args.rounds):
            for label, path in (("bare", "/bench/bare-gif/x"), ("pixel", pixel), ("click", click)):
                result = wrk_run(base, script, args, label, path)
                results[label].append(result)
                # wrk counts a 302 as a success, like a 200.
                answered += result["accepted"] if label != "bare" else 0
                print(
                    f"{label:6} round {round_ + 1}: {result['rps']:8.1f} req/s, "
                    f"p50 {result['p50']:6.1f} ms, p99 {result['p99']:6.1f} ms, errors {result['non2xx']}"
                )
    finally:
        server.terminate()
        server.wait(10)
    began = time.perf_counter()
    while hits.tracking_hits_apply():
        pass
    drained = time.perf_counter() - began
    recorded = TrackingEvent.objects.count()
    bare_rps = statistics.median(r["rps"] for r in results["bare"])
    bare_p99 = statistics.median(r["p99"] for r in results["bare"])
    for label in ("pixel", "click"):
        rps = statistics.median(r["rps"] for r in results[label])
        p99 = statistics.median(r["p99"] for r in results[label])
        print(
            f"{label}: {rps / bare_rps:.2f} of the bare view's rate (goal >= 0.50), "
            f"p99 {p99 / bare_p99:.2f}x its p99 (goal <= 2)"
        )
    left = TrackingHit.objects.count()
    counted = sum(
        sum(row)
        for row in StepEngagement.objects.values_list(
            "opens_total", "machine_opens_total", "clicks_total", "machine_clicks_total"
        )
    )
    # Requests still in flight when wrk stops are recorded but not counted as answered.
    verdict = "all recorded" if recorded >= answered and not left and counted == recorded else "MISSING"
    print(f"answered {answered}, events {recorded}, counted {counted}, hits left {left}: {verdict}")
    print(f"consumer: {recorded / drained:.0f} hits/s written and counted (one process)")


if __name__ == "__main__":
    main()
