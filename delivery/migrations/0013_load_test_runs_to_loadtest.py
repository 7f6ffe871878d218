"""Forget the load test run model, which the loadtest app now owns (loadtest 0001); its table stays.

Its content type follows it, so the Administrators' right to start load tests stays granted.
"""

from django.db import migrations


def content_type_to_loadtest(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="loadtest", model="loadtestrun").exists():
        ContentType.objects.filter(app_label="delivery", model="loadtestrun").update(app_label="loadtest")


def content_type_to_delivery(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="loadtest", model="loadtestrun").update(app_label="delivery")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("delivery", "0012_api_key_in_core"),
        ("loadtest", "0001_initial"),
        # The roles grant rights on delivery.LoadTestRun: they must exist before the model moves.
        ("tracking", "0008_load_test_role"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="LoadTestRun")],
        ),
        migrations.RunPython(content_type_to_loadtest, content_type_to_delivery),
    ]
