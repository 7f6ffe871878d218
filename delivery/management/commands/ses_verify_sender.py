"""Wait until the SES at AWS_ENDPOINT_URL (a stand-in) answers, then verify the sender's domain there."""

import time
from email.utils import parseaddr

import boto3
from botocore.exceptions import BotoCoreError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Wait for the SES stand-in at AWS_ENDPOINT_URL and verify DEFAULT_FROM_EMAIL's domain there."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=30.0, help="Seconds to wait for the stand-in.")

    def handle(self, *args, wait, **options):
        if not settings.AWS_ENDPOINT_URL:
            raise CommandError(
                "AWS_ENDPOINT_URL is not set: this command only prepares a local SES stand-in."
            )
        client = boto3.client("ses", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL)
        domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
        deadline = time.monotonic() + wait
        while True:
            try:
                client.verify_domain_identity(Domain=domain)
                break
            except BotoCoreError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"SES stand-in at {settings.AWS_ENDPOINT_URL} did not answer: {exc}"
                    ) from exc
                time.sleep(0.5)
        self.stdout.write(f"SES stand-in at {settings.AWS_ENDPOINT_URL} ready; {domain} verified.")
