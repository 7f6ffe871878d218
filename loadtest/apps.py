from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoadtestConfig(AppConfig):
    """The built-in load test: real traffic through the real pipeline, then proof of exactly-once.

    It sits above tracking: it reads the ledger, SES's side and SES's Send events.
    """

    name = "loadtest"
    verbose_name = _("Load tests")
