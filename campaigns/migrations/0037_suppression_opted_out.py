from django.db import migrations, models


def unsubscribes_opted_out(apps, schema_editor):
    """Mark the opt-outs kept so far: every `unsubscribe` suppression is its owner's."""
    Suppression = apps.get_model("campaigns", "Suppression")
    Suppression.objects.filter(reason="unsubscribe").update(opted_out=True)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0036_suppression_removals"),
    ]

    operations = [
        migrations.AddField(
            model_name="suppression",
            name="opted_out",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Its owner opted out of campaign mail too: that outlives this reason.",
                verbose_name="opted out",
            ),
        ),
        migrations.RunPython(unsubscribes_opted_out, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="suppression",
            constraint=models.CheckConstraint(
                condition=models.Q(("opted_out", True), models.Q(("reason", "unsubscribe"), _negated=True), _connector="OR"),
                name="suppression_unsubscribe_opted_out",
            ),
        ),
    ]
