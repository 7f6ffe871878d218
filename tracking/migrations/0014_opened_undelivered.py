"""Count each step's emails a person opened that SES has not reported delivered: delivered all the same."""

from collections import Counter

from django.db import migrations, models
from django.db.models import Q


def opened_undelivered_count(apps, schema_editor):
    """Set every step's opened_undelivered from its emails' engagement rows."""
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    # Written out here, as migrations must not import models: Engagement.opened_q() says the same.
    opened = Engagement.objects.filter(Q(opens__gt=0) | Q(clicks__gt=0), step_id__isnull=False)
    counts = Counter(
        step_id
        for step_id, outcomes in opened.values_list("step_id", "outcomes").iterator(chunk_size=5000)
        if "delivered" not in outcomes
    )
    for step_id, n in counts.items():
        StepEngagement.objects.filter(pk=step_id).update(opened_undelivered=n)


class Migration(migrations.Migration):

    dependencies = [
        ('tracking', '0013_opened_counts_clicks'),
    ]

    operations = [
        migrations.AddField(
            model_name='stepengagement',
            name='opened_undelivered',
            field=models.IntegerField(default=0, verbose_name='opened before SES confirmed delivery'),
        ),
        migrations.RunPython(opened_undelivered_count, migrations.RunPython.noop),
    ]
