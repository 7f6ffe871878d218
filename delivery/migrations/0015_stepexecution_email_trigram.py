from django.db import migrations

from core.db import trigram_index_operation


class Migration(migrations.Migration):
    """Search the send log by part of an address (a trigram index, PostgreSQL only)."""

    atomic = False

    dependencies = [("delivery", "0014_transactional_messages_related_name")]

    operations = [
        trigram_index_operation(
            name="stepexecution_email_trgm_idx", table="delivery_stepexecution", column="email"
        ),
    ]
