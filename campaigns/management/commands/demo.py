"""Create the demo superuser and data; print how to log in."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from campaigns.demo import demo_load

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "campanile"  # noqa: S105 - a published demo login, printed on purpose


class Command(BaseCommand):
    help = "Create a demo superuser (admin / campanile) and a demo campaign scheduled for now."

    def handle(self, *args, **options):
        User = get_user_model()
        if not User.objects.filter(username=DEMO_USERNAME).exists():
            User.objects.create_superuser(DEMO_USERNAME, "admin@campanile.test", DEMO_PASSWORD)
        campaign = demo_load()
        recipients = campaign.lists.first().memberships.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo campaign “{campaign.name}” scheduled for {campaign.scheduled_at:%H:%M:%S} "
                f"({recipients} list members, 2 of them excluded).\n"
                f"Admin: {settings.PUBLIC_BASE_URL}/admin/  login: {DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        )
