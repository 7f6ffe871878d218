from django.db import migrations

from core.db import trigram_index_operation


class Migration(migrations.Migration):
    """Search contacts by part of their address (a trigram index, PostgreSQL only)."""

    atomic = False

    dependencies = [("campaigns", "0014_campaign_configuration_set_ses_name")]

    operations = [
        trigram_index_operation(name="contact_email_trgm_idx", table="campaigns_contact", column="email"),
    ]
