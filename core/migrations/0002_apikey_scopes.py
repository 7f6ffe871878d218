"""API keys get scopes. Keys made before hold every scope, so integrations already running keep
working; the admin points them out so that an administrator can narrow them (docs/api.md#scopes).
"""

import core.models
from django.db import migrations, models

# Written out, not imported: this migration must mean the same whatever the code later calls scopes.
EVERY_SCOPE = ["audience:write", "campaigns:write", "read", "send", "suppressions:admin"]


def existing_keys_keep_every_power(apps, schema_editor):
    apps.get_model("core", "ApiKey").objects.update(scopes=EVERY_SCOPE)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                blank=True,
                default=core.models.api_key_default_scopes,
                help_text="What the key may do. Give it only what the integration uses.",
                validators=[core.models.validate_scopes],
            ),
        ),
        migrations.RunPython(existing_keys_keep_every_power, migrations.RunPython.noop),
    ]
