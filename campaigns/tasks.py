"""Celery tasks of campaigns: thin wrappers that load by id and call one service."""

import logging

from celery import shared_task

from campaigns import import_jobs, services
from campaigns.models import Campaign

logger = logging.getLogger(__name__)


@shared_task(name=services.RECUR_TASK, ignore_result=True)
def campaign_recur(campaign_id: int) -> None:
    """Start a run of a recurring campaign (its beat entry calls this); the tick then sends it."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        logger.warning("Recurring campaign %s no longer exists.", campaign_id)
        return
    run = services.campaign_run_create(campaign=campaign)
    if run is not None:
        logger.info("Campaign %s: run %s started.", campaign_id, run.pk)


@shared_task(ignore_result=True)
def contact_import_run(job_id: int) -> None:
    """Run (or resume) a contact import started in the admin."""
    import_jobs.contact_import_run(job_id=job_id)


@shared_task(ignore_result=True)
def contact_imports_resume() -> None:
    """Queue again the contact imports whose worker went away, and delete the files of those never
    started (beat, every minute)."""
    if resumed := import_jobs.contact_imports_resume():
        logger.info("Contact imports %s resumed.", resumed)
    if dropped := import_jobs.contact_imports_abandoned_drop():
        logger.info("%s contact imports never started: their files deleted.", dropped)
