"""A confirmation email to start from, so a new double opt-in form has one to choose."""

from django.db import migrations

NAME = "signup-confirmation"

HTML = """<p>Hello{% if contact.first_name %} {{ contact.first_name }}{% endif %},</p>
<p>Please confirm that you want to receive our emails ({{ form_title }}):</p>
<p><a href="{{ confirm_url }}">Yes, subscribe me</a></p>
<p>If you did not sign up, ignore this email: you will not hear from us again.</p>
"""


def create(apps, schema_editor):
    Template = apps.get_model("campaigns", "Template")
    Template.objects.get_or_create(
        name=NAME, defaults={"subject": "Please confirm your subscription", "html_body": HTML}
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0023_signup_forms")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
