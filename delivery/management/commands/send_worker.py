"""A broker-less worker: the tick, transactional messages and every sending campaign, in a loop."""

import os
import signal
import time

from django.core.management.base import BaseCommand

from core import fleet_metrics as fleet
from delivery import sending, services
from delivery.selectors import campaign_list_sending


class Command(BaseCommand):
    help = (
        "Do what beat and the Celery workers do, in one process and without a broker: the delivery "
        "tick (sweeps, fan-out, completion), transactional messages and campaign batches, round "
        "after round, until SIGTERM or its parent process ends. `manage.py loadtest` runs these."
    )

    def add_arguments(self, parser):
        parser.add_argument("--budget", type=float, default=1.0, help="Seconds per send round.")

    def handle(self, *args, budget, **options):
        parent, stopping = os.getppid(), []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping and os.getppid() == parent:  # An orphan stops by itself.
                services.delivery_tick()
                busy = sending.messages_send(budget_seconds=budget)
                for campaign in campaign_list_sending():
                    busy = services.campaign_send(campaign=campaign, budget_seconds=budget) or busy
                if not busy:
                    time.sleep(0.1)
        finally:
            fleet.metrics_flush()  # SES call times reach the fleet's store before the process ends.
