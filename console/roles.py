"""The staff roles, as groups: what marketers and administrators may do, over every app's models.

Defined here, the one app that sees all models, and applied after every `migrate` (post_migrate,
sent to this app last), so the groups always match this file.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

CRUD = ("add", "change", "delete", "view")

MARKETERS = [
    *(
        f"campaigns.{verb}_{model}"
        for verb in CRUD
        for model in (
            "campaign",
            "campaignstep",
            "template",
            "contact",
            "contactlist",
            "listmembership",
            "segment",
            "signupform",
        )
    ),
    # Imports: a marketer uploads, maps, starts and reads the error report of their files.
    *(f"campaigns.{verb}_contactimport" for verb in CRUD),
    "campaigns.view_campaignaudit",
    "campaigns.view_consentchange",
    "campaigns.view_contactbreak",
    "campaigns.view_contactconsent",
    "campaigns.view_signup",
    "campaigns.view_suppression",
    "campaigns.view_suppressionremoval",
    "delivery.view_stepexecution",
    "delivery.view_transactionalmessage",
    "delivery.view_trackedlink",
    "tracking.view_trackingevent",
    "tracking.view_alert",
    "tracking.change_alert",
]
ADMINISTRATORS = [
    *MARKETERS,
    *(f"campaigns.{verb}_suppression" for verb in CRUD),
    *(f"core.{verb}_apikey" for verb in CRUD),
    "delivery.view_sendinghold",
    "delivery.delete_sendinghold",
    # A load test sends real mail through SES: an operator's call, not a marketer's.
    "loadtest.add_loadtestrun",
    "loadtest.view_loadtestrun",
    "tracking.view_snsmessage",
    "tracking.change_snsmessage",
    "tracking.view_softbouncestreak",
    "tracking.view_sendeventscheck",
    # Beat's schedule is seen, never changed: an entry decides when campaigns recur and whether
    # bounces are applied; only superusers change it.
    "django_celery_beat.view_periodictask",
    # An entry's page links to its schedule: seen too, so the link leads somewhere, not to a 403.
    *(f"django_celery_beat.view_{kind}schedule" for kind in ("interval", "crontab", "clocked", "solar")),
    # Users and groups are seen, never changed: changing a user in Django's admin includes its
    # superuser flag, permissions and password, so only superusers manage staff.
    "auth.view_user",
    "auth.view_group",
]
ROLES = {"Marketers": MARKETERS, "Administrators": ADMINISTRATORS}


def roles_sync() -> None:
    """Make each role's group hold exactly its permissions; raise if one names no permission."""
    for name, codes in ROLES.items():
        wanted = Q()
        for code in codes:
            app_label, codename = code.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(wanted))
        if len(permissions) != len(set(codes)):
            found = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
            raise RuntimeError(f"Role {name}: no such permissions {sorted(set(codes) - found)}")
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)
