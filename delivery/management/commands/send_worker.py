"""A broker-less worker: beat's tick and the send tasks of a Celery worker, in one process."""

import logging
import os
import random
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections
from redis.exceptions import RedisError

from core import fleet_metrics as fleet
from delivery import ledger, services

logger = logging.getLogger(__name__)

#: The longest wait between rounds while PostgreSQL or Redis is down.
OUTAGE_BACKOFF_CAP = 10.0


class Command(BaseCommand):
    help = (
        "Do what beat and a Celery worker do, in one process and without a broker: the delivery "
        "tick (sweeps, starts, completion, restarting quiet campaigns) and the send tasks it asks "
        "for, each a delivery round, plus the transactional messages, until SIGTERM or its parent "
        "process ends. It outlives a database or Redis outage. `manage.py loadtest` runs these."
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
        outages = 0
        try:
            while not stopping and os.getppid() == parent:  # An orphan stops by itself.
                try:
                    queued, busy = self._round(queued=queued, budget=budget)
                except (DatabaseError, RedisError) as exc:
                    outages += 1
                    self._recover(exc=exc, outages=outages)
                    continue
                outages = 0
                if not busy and not queued:
                    time.sleep(0.1)
        finally:
            self._release(reason="Its worker stopped before sending it; queued again.")
            fleet.metrics_flush()  # SES call times reach the fleet's store before the process ends.

    def _round(self, *, queued: list[int], budget: float) -> tuple[list[int], bool]:
        queued = queued + [pk for pk in services.delivery_tick() if pk not in queued]
        busy = services.delivery_round(campaign_id=None, budget_seconds=budget)
        queued = [pk for pk in queued if services.delivery_round(campaign_id=pk, budget_seconds=budget)]
        ledger.step_executions_forget_claimed()  # Every row the round claimed is settled.
        return queued, busy

    def _recover(self, *, exc: Exception, outages: int) -> None:
        """Log an outage, drop the broken connections, hand back what this process held, back off."""
        delay = min(0.5 * 2 ** (outages - 1), OUTAGE_BACKOFF_CAP) * random.uniform(0.5, 1.5)  # noqa: S311
        kind = type(exc).__name__
        logger.warning("Sending round failed (%s: %s); trying again in %.1f s.", kind, exc, delay)
        connections.close_all()
        self._release(reason="Its worker lost the database or Redis before sending it; queued again.")
        time.sleep(delay)

    def _release(self, *, reason: str) -> None:
        try:
            released = ledger.step_executions_release_claimed(reason=reason)
        except (DatabaseError, RedisError):
            return  # Still down: the next round tries again, or the lease settles them.
        if released:
            logger.warning("%s claimed rows handed back: %s", released, reason)
