"""The event tally counts per minute, not per hour, and by the event's kind: a report draws a
campaign's first hour minute by minute, and splits opens and clicks by the client that made them."""

from django.db import migrations, models

from core.db import TallyTime, tally_rekey_operations

OLD = dict(
    name="tracking_event_tally",
    source="tracking_trackingevent",
    tally="tracking_eventtally",
    keys={
        "step_id": "e.step_id",
        "type": "{r}.type",
        "is_machine": "{r}.is_machine",
        "hour": TallyTime("{r}.occurred_at", "hour"),
    },
    join="JOIN delivery_stepexecution e ON e.id = {r}.step_execution_id",
    where="e.step_id IS NOT NULL",
    watch=["step_execution_id", "type", "is_machine", "occurred_at"],
)
NEW = {
    **OLD,
    "keys": {
        "step_id": "e.step_id",
        "type": "{r}.type",
        "kind": "{r}.kind",
        "is_machine": "{r}.is_machine",
        "minute": TallyTime("{r}.occurred_at"),
    },
    "watch": ["step_execution_id", "type", "kind", "is_machine", "occurred_at"],
}




def machine_opens_kind(apps, schema_editor):
    """Mark the machine opens Apple's privacy prefetch made before kinds were kept (by user agent)."""
    events = apps.get_model("tracking", "TrackingEvent").objects.filter(type="open", is_machine=True, kind="")
    events.filter(raw__user_agent__icontains="Mail Privacy").update(kind="prefetch")
    events.filter(raw__user_agent="Mozilla/5.0").update(kind="prefetch")


class Migration(migrations.Migration):
    dependencies = [("tracking", "0010_send_events_check")]

    operations = tally_rekey_operations(
        old=OLD,
        new=NEW,
        schema=[
            migrations.RenameField(model_name="eventtally", old_name="hour", new_name="minute"),
            migrations.AddField(
                model_name="eventtally",
                name="kind",
                field=models.CharField(blank=True, default="", max_length=32),
                preserve_default=False,
            ),
            migrations.RunPython(machine_opens_kind, migrations.RunPython.noop),
        ],
    )
