"""Count each step's emails whose recipient showed they arrived (opened, clicked, unsubscribed,
complained) before SES reported them delivered: opens alone were counted before."""

from collections import Counter

from django.db import migrations, models


def arrived_unreported_count(apps, schema_editor):
    """Set every step's arrived_unreported from its emails' engagement rows."""
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    # Written out here, as migrations must not import code: tracking.outcomes.arrived_unreported.
    rows = Engagement.objects.filter(step_id__isnull=False).values_list("step_id", "opens", "clicks", "outcomes")
    counts = Counter(
        step_id
        for step_id, opens, clicks, outcomes in rows.iterator(chunk_size=5000)
        if (opens or clicks or "unsubscribed" in outcomes or "complained" in outcomes)
        and not any(key in outcomes for key in ("delivered", "bounced", "rejected"))
    )
    StepEngagement.objects.update(arrived_unreported=0)
    for step_id, n in counts.items():
        StepEngagement.objects.filter(pk=step_id).update(arrived_unreported=n)


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0018_labels_plain"),
        ("tracking", "0014_opened_undelivered"),
    ]

    operations = [
        migrations.RenameField("stepengagement", "opened_undelivered", "arrived_unreported"),
        migrations.AlterField(
            model_name="stepengagement",
            name="arrived_unreported",
            field=models.IntegerField(default=0, verbose_name="arrived before SES confirmed delivery"),
        ),
        migrations.RunPython(arrived_unreported_count, migrations.RunPython.noop),
    ]
