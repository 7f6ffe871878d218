from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Audience and campaigns"

    def ready(self):
        from campaigns import checks  # noqa: F401 - registers the system checks
