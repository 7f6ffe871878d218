"""The ledger tally counts sent rows per minute, not per hour: a report draws a campaign's first hour
minute by minute."""

from django.db import migrations

from core.db import TallyTime, tally_rekey_operations

OLD = dict(
    name="delivery_ledger_tally",
    source="delivery_stepexecution",
    tally="delivery_ledgertally",
    keys={"step_id": "{r}.step_id", "status": "{r}.status", "sent_hour": TallyTime("{r}.sent_at", "hour")},
    where="{r}.step_id IS NOT NULL",
    watch=["step_id", "status", "sent_at"],
)
NEW = {**OLD, "keys": {"step_id": "{r}.step_id", "status": "{r}.status", "sent_minute": TallyTime("{r}.sent_at")}}


class Migration(migrations.Migration):
    dependencies = [("delivery", "0015_stepexecution_email_trigram")]

    operations = tally_rekey_operations(
        old=OLD,
        new=NEW,
        schema=[migrations.RenameField(model_name="ledgertally", old_name="sent_hour", new_name="sent_minute")],
    )
