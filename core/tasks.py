"""Celery tasks of the base app: thin wrappers around services."""

from celery import shared_task

from core import fleet_metrics as metrics


@shared_task(name="core.tasks.metrics_snapshot", ignore_result=True)
def metrics_snapshot() -> None:
    """Keep this minute's fleet counters for the delivery dashboard (beat calls this every minute)."""
    metrics.metrics_snapshot()


@shared_task(name="core.tasks.tallies_compact", ignore_result=True)
def tallies_compact() -> None:
    """Fold every tally's deltas (beat calls this every minute)."""
    from django.apps import apps

    from core.db import tally_compact
    from core.models import Tally

    for model in apps.get_models():
        if issubclass(model, Tally):
            tally_compact(model)
