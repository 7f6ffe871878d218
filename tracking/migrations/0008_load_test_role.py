"""Let administrators start load tests and read them (marketers don't)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODES = ["add_loadtestrun", "view_loadtestrun"]


def grant(apps, schema_editor):
    # Permissions are made after migrations run; a fresh database needs them now.
    config = apps.get_app_config("delivery")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="delivery", codename__in=CODES)
    if permissions.count() != len(CODES):
        raise RuntimeError(f"No such permissions among {CODES}")
    Group.objects.get(name="Administrators").permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="delivery", codename__in=CODES)
    Group.objects.get(name="Administrators").permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0010_load_test_runs"),
        ("tracking", "0007_event_tally"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
