"""manage.py loadtest_cleanup: delete what load tests made, keeping the record of their runs."""

from django.core.management.base import BaseCommand, CommandError

from loadtest.cleanup import loadtest_data_delete
from loadtest.exceptions import LoadTestError


class Command(BaseCommand):
    help = (
        "Delete the data load tests made: their campaigns (with steps and ledger rows), lists and "
        "contacts, and the messages of load-test API keys. Load test runs are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--label", help="Only this run's data (its label, e.g. lt0123456789).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args, label, dry_run, **options):
        try:
            counts = loadtest_data_delete(label=label, dry_run=dry_run)
        except LoadTestError as exc:
            raise CommandError(str(exc)) from exc
        whose = f"load test {label}" if label else "all load tests"
        verb = "Would delete" if dry_run else "Deleted"
        figures = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in counts.items())
        self.stdout.write(f"{verb} the data of {whose}: {figures}.")
