"""Keep the workbook of each unfinished import as the text of its first sheet, as uploads now are.

A workbook that cannot be read within the bounds stops its import with the reason, as it would
be refused if uploaded today. Not reversed: the text is what the import needs, whatever its code.
"""

from django.db import migrations

_ZIP_MAGIC = b"PK\x03\x04"


def workbooks_as_text(apps, schema_editor):
    """Read each unfinished import's workbook into its text, once."""
    from django.utils import timezone, translation

    from campaigns.exceptions import ImportFileUnreadable
    from campaigns.import_workbooks import workbook_text

    ContactImport = apps.get_model("campaigns", "ContactImport")
    unfinished = ContactImport.objects.filter(file_kind="xlsx").exclude(status__in=["done", "failed"])
    for job in unfinished.exclude(data=b"").iterator():
        if bytes(job.data[:4]) != _ZIP_MAGIC:
            continue  # Already text.
        try:
            with translation.override(job.language or None):  # Its problems are in its starter's.
                job.data = workbook_text(bytes(job.data))
        except ImportFileUnreadable as exc:
            job.data, job.status, job.problem = b"", "failed", str(exc)
            job.finished_at = timezone.now()
        job.save(update_fields=["data", "status", "problem", "finished_at", "updated_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0032_contact_former_emails"),
    ]

    operations = [migrations.RunPython(workbooks_as_text, migrations.RunPython.noop, elidable=True)]
