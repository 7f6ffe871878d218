"""Forget the API key and metric models, which core now owns (core 0001); their tables stay.

Their content types follow them to core, so the permissions granted on them (the Administrators
role's API keys) stay granted.
"""

from django.db import migrations

MOVED = ("apikey", "metricseries", "metricsnapshot")


def content_types_to_core(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="core", model=model).exists():
            ContentType.objects.filter(app_label="campaigns", model=model).update(app_label="core")


def content_types_to_campaigns(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="core", model__in=MOVED).update(app_label="campaigns")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_load_test_flags"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_initial"),
        ("delivery", "0012_api_key_in_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ApiKey"),
                migrations.DeleteModel(name="MetricSeries"),
                migrations.DeleteModel(name="MetricSnapshot"),
            ],
        ),
        migrations.RunPython(content_types_to_core, content_types_to_campaigns),
    ]
