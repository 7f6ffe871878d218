"""Count each step's opens and bounces one way: an email a person's click opened counts an open in
the totals too, and an email that bounced several ways counts under its most final class alone."""

from collections import Counter, defaultdict

from django.db import migrations
from django.db.models import Count, F

# Written out here, as migrations must not import code: tracking.outcomes.BOUNCE_CLASSES.
BOUNCE_CLASSES = ("bounced_hard", "bounced_other", "bounced_soft")


def opens_and_bounces_recount(apps, schema_editor):
    """Add to each step's total opens its emails clicked with the pixel unseen; keep each email's
    most final bounce class alone, taking the others out of its step's counters."""
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    # Written out here: tracking.engagement.opens_counted (one open for a click without any).
    clicked_unseen = (
        Engagement.objects.filter(step_id__isnull=False, opens=0, clicks__gt=0)
        .order_by()
        .values_list("step_id")
        .annotate(n=Count("pk"))
    )
    for step_id, n in clicked_unseen:
        StepEngagement.objects.filter(pk=step_id).update(opens_total=F("opens_total") + n)
    taken_back: dict[int, Counter] = defaultdict(Counter)
    changed = []
    rows = Engagement.objects.filter(step_id__isnull=False).only("pk", "step_id", "outcomes")
    for row in rows.iterator(chunk_size=5000):
        held = sorted((key for key in row.outcomes if key in BOUNCE_CLASSES), key=BOUNCE_CLASSES.index)
        if len(held) < 2:
            continue
        row.outcomes = [key for key in row.outcomes if key not in held[1:]]
        changed.append(row)
        taken_back[row.step_id].update(held[1:])
    Engagement.objects.bulk_update(changed, ["outcomes"], batch_size=500)
    for step_id, counts in taken_back.items():
        StepEngagement.objects.filter(pk=step_id).update(**{key: F(key) - n for key, n in counts.items()})


class Migration(migrations.Migration):
    dependencies = [("tracking", "0016_arrived_unreported_recount")]

    operations = [migrations.RunPython(opens_and_bounces_recount, migrations.RunPython.noop)]
