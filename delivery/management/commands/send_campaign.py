"""Send one campaign from this process until it stops sending: for load tests and chaos drills."""

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from delivery import ledger, services


class Command(BaseCommand):
    help = (
        "Sweep stalled claims and send one campaign, budget after budget, until it is no longer "
        "sending. Celery workers do this in production; this runs the same services without a broker."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--budget", type=float, default=2.0, help="Seconds per send round.")

    def handle(self, *args, campaign_id, budget, **options):
        if not Campaign.objects.filter(pk=campaign_id).exists():
            raise CommandError(f"No campaign has id {campaign_id}.")
        while Campaign.objects.get(pk=campaign_id).status == Campaign.Status.SENDING:
            ledger.step_execution_sweep_stalled()
            services.delivery_round(campaign_id=campaign_id, budget_seconds=budget)
