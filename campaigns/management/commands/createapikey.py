"""Create an API key and print it once."""

import argparse
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.models import ApiKey
from core.services import api_key_create

#: A key lives at most this long: ten years, as a step's delay (and no date overflows).
MAX_DAYS = 3653


def _days(text: str) -> int:
    """Read a key's lifetime in days: 1 to MAX_DAYS."""
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"give a number of days from 1 to {MAX_DAYS}, not {text!r}")
    return days


class Command(BaseCommand):
    help = "Create an API key for an integrator and print it; it cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'signup-service'.")
        parser.add_argument(
            "--expires-in-days",
            type=_days,
            metavar="N",
            help=f"Make the key stop working after N days (1 to {MAX_DAYS}).",
        )
        parser.add_argument("--rate-limit", default="", help="Requests allowed, e.g. 600/minute.")
        parser.add_argument(
            "--load-test",
            action="store_true",
            help="A key for load tests (Artillery): contacts its messages create are hidden from "
            "marketers, and manage.py loadtest_cleanup deletes them and its messages.",
        )

        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiKey.Scope.values,
            dest="scopes",
            help="What the key may do; repeat for several. Without it: "
            + ", ".join(ApiKey.DEFAULT_SCOPES)
            + ". Meanings: "
            + "; ".join(f"{scope.value}: {scope.label}" for scope in ApiKey.Scope),
        )

    def handle(self, *args, name, expires_in_days, rate_limit, load_test, scopes, **options):
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            api_key, key = api_key_create(
                name=name, expiry_date=expiry, rate_limit=rate_limit, is_load_test=load_test, scopes=scopes
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"API key “{api_key.name}” created (prefix {api_key.prefix}, scopes "
            f"{', '.join(api_key.scopes) or 'none'}). Store it now:"
        )
        self.stdout.write(key)
