# The API key columns read "API key", as the rest of the admin names it (Django made "Api key").

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_labels"),
        ("delivery", "0023_idempotency_records"),
    ]

    operations = [
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="api_key",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="core.apikey",
                verbose_name="API key",
            ),
        ),
        migrations.AlterField(
            model_name="transactionalmessage",
            name="api_key",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="transactional_messages",
                to="core.apikey",
                verbose_name="API key",
            ),
        ),
    ]
