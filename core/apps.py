from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Infrastructure every app shares: SQL helpers, tallies, the fleet's metrics, API plumbing."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core import checks  # noqa: F401 - registers the system checks
