"""Recurring campaigns' beat entries call campaigns' own task now, not one of delivery's."""

from django.db import migrations

OLD, NEW = "delivery.tasks.campaign_recur", "campaigns.tasks.campaign_recur"


def entries_renamed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=OLD).update(task=NEW)


def entries_renamed_back(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=NEW).update(task=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_models_to_core"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(entries_renamed, entries_renamed_back)]
