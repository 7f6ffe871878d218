"""List stored addresses the address rule would refuse or store in another form."""

from django.core.management.base import BaseCommand

from campaigns.selectors import addresses_off_rule


class Command(BaseCommand):
    help = (
        "List contacts, suppressions and campaign senders saved before the address rule that it would "
        "refuse or store in another form; changes nothing (see docs/operations.md)."
    )

    def handle(self, *args, **options):
        found = 0
        for row in addresses_off_rule():
            found += 1
            self.stdout.write(f"{row.model} {row.pk} {row.field} {row.stored!r}: {row.problem}")
        self.stderr.write(
            f"{found} stored addresses are off the rule."
            if found
            else "Every stored address follows the rule."
        )
