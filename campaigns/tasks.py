"""Celery tasks of the base app: thin wrappers around services."""

from celery import shared_task

from campaigns import metrics


@shared_task(name="campaigns.tasks.metrics_snapshot", ignore_result=True)
def metrics_snapshot() -> None:
    """Keep this minute's fleet counters for the delivery dashboard (beat calls this every minute)."""
    metrics.metrics_snapshot()
