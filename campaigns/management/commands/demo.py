"""Create the demo superuser and data; print how to log in."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from campaigns.demo import demo_load
from campaigns.selectors import campaign_audience_breakdown

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "campanile"  # noqa: S105 - a published demo login, printed on purpose


class Command(BaseCommand):
    help = (
        "Create demo lists and templates and schedule demo campaigns; with DJANGO_DEBUG on (make run), "
        "also the demo superuser admin / campanile."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        # A published password is a local demo's convenience, never a deployment's.
        login = settings.DEBUG
        if login and not User.objects.filter(username=DEMO_USERNAME).exists():
            User.objects.create_superuser(DEMO_USERNAME, "admin@campanile.test", DEMO_PASSWORD)
        for campaign in demo_load():
            self.stdout.write(
                f"Demo campaign “{campaign.name}” scheduled for "
                f"{timezone.localtime(campaign.scheduled_at):%H:%M:%S} "
                f"({campaign_audience_breakdown(campaign=campaign)['sendable']} recipients)."
            )
        if not login:
            self.stdout.write(
                "No demo login was made: debug is off. Make your own with `manage.py createsuperuser`."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin: {settings.PUBLIC_BASE_URL}/admin/  login: {DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        )
