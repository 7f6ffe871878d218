import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce


def breaks_from_contacts(apps, schema_editor):
    """Keep the one break each contact's row remembered; one begun before its start was recorded
    is taken to have begun when the contact was made."""
    Contact = apps.get_model("campaigns", "Contact")
    ContactBreak = apps.get_model("campaigns", "ContactBreak")
    paused = Contact.objects.filter(paused_until__isnull=False).values_list(
        "pk", Coalesce("paused_at", F("created_at")), "paused_until"
    )
    ContactBreak.objects.bulk_create(
        ContactBreak(contact_id=pk, started_at=start, ends_at=end) for pk, start, end in paused.iterator()
    )


def contacts_from_breaks(apps, schema_editor):
    """Give each contact back the start of its latest break."""
    Contact = apps.get_model("campaigns", "Contact")
    ContactBreak = apps.get_model("campaigns", "ContactBreak")
    latest = {}
    for contact_id, started_at in ContactBreak.objects.values_list("contact_id", "started_at"):
        latest[contact_id] = max(started_at, latest.get(contact_id, started_at))
    for contact_id, started_at in latest.items():
        Contact.objects.filter(pk=contact_id).update(paused_at=started_at)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0030_contact_paused_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="ContactBreak",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField(verbose_name="started at")),
                ("ends_at", models.DateTimeField(verbose_name="ends at")),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="breaks",
                        to="campaigns.contact",
                        verbose_name="contact",
                    ),
                ),
            ],
            options={
                "verbose_name": "break from email",
                "verbose_name_plural": "breaks from email",
                "ordering": ["contact", "started_at"],
            },
        ),
        migrations.RunPython(breaks_from_contacts, contacts_from_breaks),
        migrations.RemoveField(model_name="contact", name="paused_at"),
    ]
