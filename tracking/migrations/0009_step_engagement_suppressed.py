"""Count, per step, the emails whose outcome suppressed the address; existing events are counted."""

from collections import Counter

from django.db import migrations, models
from django.db.models import Q

CHUNK = 1000


def suppressed_count(apps, schema_editor):
    """Mark each email with a hard bounce, complaint or account-list bounce, and add them per step."""
    TrackingEvent = apps.get_model("tracking", "TrackingEvent")
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    suppressing = Q(type="complaint") | Q(type="bounce", kind__in=["hard", "account_suppressed"])
    ids = sorted(
        set(
            TrackingEvent.objects.filter(suppressing, step_execution__isnull=False).values_list(
                "step_execution_id", flat=True
            )
        )
    )
    per_step = Counter()
    for start in range(0, len(ids), CHUNK):
        rows = list(Engagement.objects.filter(pk__in=ids[start : start + CHUNK]))
        for row in rows:
            if "suppressed" not in row.outcomes:
                row.outcomes = [*row.outcomes, "suppressed"]
                if row.step_id is not None:
                    per_step[row.step_id] += 1
        Engagement.objects.bulk_update(rows, ["outcomes"], batch_size=CHUNK)
    for step_id, n in per_step.items():
        StepEngagement.objects.filter(pk=step_id).update(suppressed=n)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0008_load_test_role"),
        ("delivery", "0010_load_test_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="stepengagement",
            name="suppressed",
            field=models.IntegerField(default=0),
        ),
        migrations.RunPython(suppressed_count, migrations.RunPython.noop, elidable=True),
    ]
