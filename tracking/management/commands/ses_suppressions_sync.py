"""Sync the whole suppression list with SES's account-level list, both ways, once."""

from django.core.management.base import BaseCommand

from tracking import ses_account


class Command(BaseCommand):
    help = (
        "Copy SES's account-level suppression list into Campanile's, our bounces and complaints into it, "
        "and take off it the addresses whose suppression was removed here."
    )

    def handle(self, *args, **options):
        pulled = ses_account.suppressions_pull_from_ses()
        pushed = ses_account.suppressions_push_to_ses()
        deleted = ses_account.suppressions_delete_from_ses()
        self.stdout.write(
            f"{pulled} new suppressions from SES; {pushed} addresses put on SES's list; "
            f"{deleted} taken off it."
        )
