"""Count each step's emails shown to have arrived again: a bounce reported after the recipient's
sign (an open, a click, an unsubscribe, a complaint) no longer takes the email out."""

from collections import Counter

from django.db import migrations


def arrived_unreported_recount(apps, schema_editor):
    """Set every step's arrived_unreported from its emails' engagement rows."""
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    # Written out here, as migrations must not import code: tracking.outcomes.arrived_unreported.
    rows = Engagement.objects.filter(step_id__isnull=False).values_list("step_id", "opens", "clicks", "outcomes")
    counts = Counter(
        step_id
        for step_id, opens, clicks, outcomes in rows.iterator(chunk_size=5000)
        if (opens or clicks or "unsubscribed" in outcomes or "complained" in outcomes)
        and "delivered" not in outcomes
    )
    StepEngagement.objects.update(arrived_unreported=0)
    for step_id, n in counts.items():
        StepEngagement.objects.filter(pk=step_id).update(arrived_unreported=n)


class Migration(migrations.Migration):
    dependencies = [("tracking", "0015_arrived_unreported")]

    operations = [migrations.RunPython(arrived_unreported_recount, migrations.RunPython.noop)]
