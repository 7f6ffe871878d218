"""Celery tasks of the load test: thin wrappers around its runner."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="loadtest.tasks.loadtest_run", ignore_result=True)
def loadtest_run(run_id: int) -> None:
    """Run a load test started from the admin; its verdict lands on the run."""
    from loadtest.models import LoadTestRun
    from loadtest.runner import loadtest_execute

    run = LoadTestRun.objects.filter(pk=run_id, status=LoadTestRun.Status.QUEUED).first()
    if run is None:
        logger.warning("Load test run %s is gone or already ran.", run_id)
        return
    loadtest_execute(run=run)
    logger.info("Load test %s: %s %s", run.label, run.status, run.report)
