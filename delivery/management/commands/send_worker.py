"""A broker-less worker: beat's tick and the send tasks of a Celery worker, in one process."""

import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from core import fleet_metrics as fleet
from delivery import services


class Command(BaseCommand):
    help = (
        "Do what beat and a Celery worker do, in one process and without a broker: the delivery "
        "tick (sweeps, starts, completion, restarting quiet campaigns) and the send tasks it asks "
        "for, each a delivery round, plus the transactional messages, until SIGTERM or its parent "
        "process ends. `manage.py loadtest` runs these."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--budget",
            type=float,
            default=None,
            help="Seconds per send task (default: SEND_TASK_BUDGET_SECONDS, as the Celery tasks).",
        )

    def handle(self, *args, budget, **options):
        budget = settings.SEND_TASK_BUDGET_SECONDS if budget is None else budget
        parent, stopping = os.getppid(), []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        # The campaigns whose send task this process holds, as a broker's queue would: the tick adds
        # those it starts or finds quiet; a round that leaves work queues its campaign again.
        queued: list[int] = []
        try:
            while not stopping and os.getppid() == parent:  # An orphan stops by itself.
                queued += [pk for pk in services.delivery_tick() if pk not in queued]
                busy = services.delivery_round(campaign_id=None, budget_seconds=budget)
                queued = [
                    pk for pk in queued if services.delivery_round(campaign_id=pk, budget_seconds=budget)
                ]
                if not busy and not queued:
                    time.sleep(0.1)
        finally:
            fleet.metrics_flush()  # SES call times reach the fleet's store before the process ends.
