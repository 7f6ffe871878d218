"""Count again each step's emails opened: a person's click now counts its email as opened."""

from django.db import migrations
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce


def opens_unique_recount(apps, schema_editor):
    """Set every step's opens_unique to its emails with a human open or a human click."""
    Engagement = apps.get_model("delivery", "Engagement")
    StepEngagement = apps.get_model("tracking", "StepEngagement")
    # Written out here, as migrations must not import models: Engagement.opened_q() says the same.
    opened = (
        Engagement.objects.filter(Q(opens__gt=0) | Q(clicks__gt=0), step_id=OuterRef("pk"))
        .order_by()
        .values("step_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    StepEngagement.objects.update(
        opens_unique=Coalesce(Subquery(opened, output_field=IntegerField()), Value(0))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0017_labels"),
        ("tracking", "0012_labels"),
    ]

    operations = [migrations.RunPython(opens_unique_recount, migrations.RunPython.noop)]
