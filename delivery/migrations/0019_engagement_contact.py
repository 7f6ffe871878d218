"""Keep each email's contact on its engagement row: drip conditions and segments probe (contact, step)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0022_audience_mode_words"),
        ("delivery", "0018_labels_plain"),
    ]

    operations = [
        migrations.AddField(
            model_name="engagement",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="campaigns.contact",
                verbose_name="contact",
            ),
        ),
        # Each email's contact, from the ledger (portable SQL: SQLite runs the local stack).
        migrations.RunSQL(
            "UPDATE delivery_engagement SET contact_id = (SELECT s.contact_id FROM delivery_stepexecution s "
            "WHERE s.id = delivery_engagement.step_execution_id)",
            migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="engagement",
            index=models.Index(fields=["contact", "step"], name="engagement_contact_step_idx"),
        ),
    ]
