from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _roles_sync(**kwargs) -> None:
    from console.roles import roles_sync

    roles_sync()


class ConsoleConfig(AppConfig):
    """The top of the house: composes what campaigns, delivery and tracking each contribute."""

    name = "console"
    verbose_name = _("Console")

    def ready(self):
        # Sent to this app after every other's, once every app's permissions exist.
        post_migrate.connect(_roles_sync, sender=self, dispatch_uid="console-roles")


class CampanileAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, on Campanile's site (console/sites.py)."""

    default = False
    default_site = "console.sites.CampanileAdminSite"
