"""manage.py loadtest: drive real traffic through the pipeline and prove every message went out once."""

import argparse
import json
import math

from django.core.management.base import BaseCommand, CommandError

from loadtest import proof, runner
from loadtest.exceptions import LoadTestError
from loadtest.models import LoadTestRun


def _finite(value: str) -> float:
    """Read a number an operator typed; refuse nan and infinity, as no rate or time is either."""
    number = float(value)
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number.")
    return number


class Command(BaseCommand):
    help = (
        "Send N labelled messages at a rate, through POST /api/v1/messages or as a campaign, with "
        "send workers of its own; watch the ledger drain; then count per address what the ledger "
        "and SES's side hold. Exits 1 on any duplicate or missing message."
    )

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=500, help="How many messages (default 500).")
        parser.add_argument("--rate", type=_finite, default=50.0, help="Messages per second (default 50).")
        parser.add_argument("--via", choices=LoadTestRun.Via.values, default=LoadTestRun.Via.API)
        parser.add_argument(
            "--ses",
            choices=LoadTestRun.Ses.values,
            default=LoadTestRun.Ses.STANDIN,
            help="standin (default): the load stand-in, started for the run; moto: moto_server, "
            "started for the run; current: the SES the settings point at (real SES included).",
        )
        parser.add_argument(
            "--to",
            default="success@simulator.amazonses.com",
            help="Recipients, comma-separated; each message adds +<label>-<n> to one of them.",
        )
        parser.add_argument("--allow-real-recipients", action="store_true")
        parser.add_argument(
            "--kill-worker-at", type=float, metavar="PERCENT", help="SIGKILL a worker then, and restart it."
        )
        parser.add_argument("--workers", type=int, default=2, help="Send worker processes (default 2).")
        parser.add_argument("--url", default="", help="A running Campanile to post to (default: start one).")
        parser.add_argument(
            "--standin-latency-ms", type=_finite, default=50.0, help="The stand-in's answer time."
        )
        parser.add_argument("--verify", metavar="LABEL", help="Count a finished run again; run nothing.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        try:
            if options["verify"]:
                run = LoadTestRun.objects.filter(label=options["verify"]).first()
                if run is None:
                    raise CommandError(f"No load test run is labelled {options['verify']!r}.")
                run = proof.loadtest_verify(run=run)
            else:
                run = runner.loadtest_create(
                    messages=options["messages"],
                    rate=options["rate"],
                    via=options["via"],
                    ses=options["ses"],
                    to=options["to"],
                    kill_worker_at=options["kill_worker_at"],
                    allow_real_recipients=options["allow_real_recipients"],
                    started_by="manage.py loadtest",
                    context={"standin_latency_ms": options["standin_latency_ms"]},
                )
                if not options["json"]:
                    self.stdout.write(f"Load test {run.label}: {run.messages} messages at {run.rate}/s …")
                run = runner.loadtest_execute(run=run, url=options["url"], workers=options["workers"])
        except LoadTestError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            verdict = proof.loadtest_verdict(run=run)
            self.stdout.write(json.dumps({"status": run.status, "verdict": verdict, **run.report}, indent=2))
        else:
            self.stdout.write(proof.loadtest_summary(run=run))
        if run.status != LoadTestRun.Status.PASSED:
            raise CommandError(f"Load test {run.label}: {run.get_status_display()}.", returncode=1)
