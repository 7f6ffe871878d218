"""Recount opens and clicks from the events: after an upgrade, or to audit the counters."""

from django.core.management.base import BaseCommand

from tracking import engagement


class Command(BaseCommand):
    help = (
        "Recount every email's, step's and link's opens and clicks from the stored events. "
        "Stop the tracking ticks (beat) while it runs."
    )

    def handle(self, *args, **options):
        emails = engagement.engagement_rebuild()
        self.stdout.write(f"Recounted the opens and clicks of {emails} emails.")
