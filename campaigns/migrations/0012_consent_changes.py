"""Contacts keep a history of their consent: one row per change of status (campaigns.consent)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0011_recurrence_task_in_campaigns'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ConsentChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('from_status', models.CharField(choices=[('subscribed', 'Subscribed'), ('unsubscribed', 'Unsubscribed')], max_length=16)),
                ('to_status', models.CharField(choices=[('subscribed', 'Subscribed'), ('unsubscribed', 'Unsubscribed')], max_length=16)),
                ('by', models.CharField(choices=[('api_key', 'API key'), ('staff', 'Staff user'), ('contact', 'The contact'), ('system', 'System')], max_length=16)),
                ('actor', models.CharField(max_length=200)),
                ('via', models.CharField(choices=[('api', 'API (contact PATCH or PUT)'), ('api_bulk', 'API bulk upsert'), ('api_import', 'API CSV import'), ('admin', 'Admin'), ('unsubscribe_page', 'Unsubscribe page'), ('one_click', 'One-click unsubscribe'), ('system', 'System')], max_length=32)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('contact', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='consent_changes', to='campaigns.contact')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-at', '-pk'],
                'indexes': [models.Index(fields=['contact', 'at'], name='consent_change_idx')],
            },
        ),
    ]
