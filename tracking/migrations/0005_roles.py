"""Create the two staff roles as groups: marketers and administrators.

Lives in tracking, the app every other depends on before it, so that it can name every model.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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
        )
    ),
    "campaigns.view_campaignaudit",
    "campaigns.view_suppression",
    "delivery.view_stepexecution",
    "delivery.view_transactionalmessage",
    "delivery.view_trackedlink",
    "tracking.view_trackingevent",
    "tracking.view_alert",
    "tracking.change_alert",
]
ADMINISTRATORS = [
    *MARKETERS,
    *(f"campaigns.{verb}_{model}" for verb in CRUD for model in ("suppression", "apikey")),
    "delivery.view_sendinghold",
    "delivery.delete_sendinghold",
    "tracking.view_snsmessage",
    "tracking.change_snsmessage",
    "tracking.view_softbouncestreak",
    *(f"django_celery_beat.{verb}_periodictask" for verb in CRUD),
    *(f"auth.{verb}_user" for verb in CRUD),
    "auth.view_group",
]
ROLES = {"Marketers": MARKETERS, "Administrators": ADMINISTRATORS}


def roles_create(apps, schema_editor):
    # Permissions are made after migrations run; a fresh database needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = {tuple(code.split(".")) for code in codes}
        permissions = [
            permission
            for permission in Permission.objects.select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
        if missing:
            raise RuntimeError(f"Role {name}: no such permissions {sorted(missing)}")
        group.permissions.set(permissions)


def roles_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("campaigns", "0007_campaign_audit"),
        ("delivery", "0006_drip_progress_and_engagement"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("tracking", "0004_alerts"),
    ]

    operations = [migrations.RunPython(roles_create, roles_delete)]
