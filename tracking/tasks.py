"""Celery tasks of tracking: thin wrappers around services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from tracking import alerts, cloudwatch, hits, inbox, ses_account, signups, unknown_rows


@shared_task(name="tracking.tasks.sns_messages_apply", ignore_result=True)
def sns_messages_apply() -> None:
    """Apply stored SNS notifications (beat calls this every SNS_APPLY_SECONDS).

    Several at once on different workers are fine: each message is taken under SKIP LOCKED.
    """
    inbox.sns_messages_apply(budget_seconds=settings.SNS_APPLY_BUDGET_SECONDS)


@shared_task(name="tracking.tasks.suppressions_sync_ses", ignore_result=True)
def suppressions_sync_ses() -> None:
    """Sync with SES's account-level suppression list, both ways, over the last two periods (a run
    missed is caught up by the next; after a longer gap, ses_suppressions_sync takes it all).

    Removals here are taken off SES's list after the pull, which leaves them out, so an address SES
    listed again since is ours again first and stays on it.
    """
    since = timezone.now() - timedelta(seconds=2 * settings.SES_SUPPRESSION_SYNC_SECONDS)
    ses_account.suppressions_pull_from_ses(since=since)
    ses_account.suppressions_push_to_ses(since=since)
    ses_account.suppressions_delete_from_ses(since=since)


@shared_task(name="tracking.tasks.tracking_hits_apply", ignore_result=True)
def tracking_hits_apply() -> None:
    """Turn recorded opens and clicks into events, batch by batch (beat calls this every few seconds)."""
    while hits.tracking_hits_apply():
        pass


@shared_task(name="tracking.tasks.campaign_metrics_publish", ignore_result=True)
def campaign_metrics_publish() -> None:
    """Publish recent campaigns' figures to CloudWatch (beat calls this when it is configured)."""
    cloudwatch.campaign_metrics_publish()


@shared_task(name="tracking.tasks.alerts_check", ignore_result=True)
def alerts_check() -> None:
    """Raise alerts on recent campaigns (beat calls this every ALERT_CHECK_SECONDS)."""
    alerts.alerts_check()


@shared_task(name="tracking.tasks.unknown_rows_resolve", ignore_result=True)
def unknown_rows_resolve() -> None:
    """Re-queue the unknown rows SES demonstrably never took (beat calls this every minute)."""
    unknown_rows.unknown_rows_resolve()


@shared_task(name="tracking.tasks.signup_process", ignore_result=True)
def signup_process(signup_id: int) -> None:
    """Decide on a signup a form took: drop it, apply it, or mail its confirmation."""
    signups.signup_process(signup_id=signup_id)


@shared_task(name="tracking.tasks.signups_process_waiting", ignore_result=True)
def signups_process_waiting() -> None:
    """Decide on the signups whose task never came (beat, every minute)."""
    signups.signups_process_waiting()


@shared_task(name="tracking.tasks.signups_expire", ignore_result=True)
def signups_expire() -> None:
    """Delete signups left unconfirmed past SIGNUP_CONFIRM_DAYS, and the pending contacts they alone
    made (beat, hourly)."""
    signups.signups_expire(days=settings.SIGNUP_CONFIRM_DAYS)
