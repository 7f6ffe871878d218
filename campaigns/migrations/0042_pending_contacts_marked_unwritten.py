"""Mark the pending contacts made before 0042 that no one wrote to since, as signup_take marks new ones.

The expiry of signups deletes a pending contact only while it was saved last when made (updated_at
equal to created_at); before 0042 a signup's save left the two a moment apart, and the expiry took
"at most a second apart" for "never written to since". Those it would have deleted are marked by the
same rule, once, so they still expire: nothing better was recorded of them.
"""

from datetime import timedelta

from django.db import migrations
from django.db.models import F


def pending_contacts_marked_unwritten(apps, schema_editor):
    Contact = apps.get_model("campaigns", "Contact")
    Contact.objects.filter(
        status="pending",
        updated_at__gt=F("created_at"),
        updated_at__lte=F("created_at") + timedelta(seconds=1),
    ).update(updated_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0041_contact_import_kept_pending")]

    operations = [migrations.RunPython(pending_contacts_marked_unwritten, migrations.RunPython.noop)]
