"""An erased contact's emails stay, without it: the ledger's and the messages' contact may be empty."""

import django.db.models.deletion
from django.db import migrations, models

from core.db import sqlite_triggers_around


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0029_erased_address"),
        ("delivery", "0020_message_context"),
    ]

    operations = sqlite_triggers_around(
        tables=["delivery_stepexecution", "delivery_transactionalmessage"],
        operations=[
            migrations.AlterField(
                model_name="stepexecution",
                name="contact",
                field=models.ForeignKey(
                    null=True,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="step_executions",
                    to="campaigns.contact",
                    verbose_name="contact",
                ),
            ),
            migrations.AlterField(
                model_name="transactionalmessage",
                name="contact",
                field=models.ForeignKey(
                    null=True,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="transactional_messages",
                    to="campaigns.contact",
                    verbose_name="contact",
                ),
            ),
        ],
    )
