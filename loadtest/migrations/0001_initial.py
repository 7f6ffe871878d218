"""The load test run model moves here from delivery, where its table was made and keeps its name.

Only Django's picture changes (state_operations); delivery 0013 then forgets the model.
"""

import django.core.validators
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("delivery", "0012_api_key_in_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='LoadTestRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('label', models.CharField(editable=False, max_length=32, unique=True)),
                        ('messages', models.PositiveIntegerField(help_text='How many messages to send.', validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(1000000)])),
                        ('rate', models.FloatField(help_text='Messages per second, offered and sent.', validators=[django.core.validators.MinValueValidator(0.1)])),
                        ('via', models.CharField(choices=[('api', 'POST /api/v1/messages'), ('campaign', 'A one-step campaign')], default='api', max_length=16)),
                        ('ses', models.CharField(choices=[('current', 'The configured SES (real SES: mailbox-simulator recipients only)'), ('standin', 'The load stand-in (fast; it records what it receives)'), ('moto', 'moto (function, about 300 calls/s)')], default='standin', help_text='Where the mail goes.', max_length=16, verbose_name='SES')),
                        ('to', models.TextField(default='success@simulator.amazonses.com', help_text='Recipient addresses, comma-separated; each message gets a +label of its own.')),
                        ('kill_worker_at', models.FloatField(blank=True, help_text='SIGKILL one worker when this share (%) is sent, then restart it.', null=True)),
                        ('allow_real_recipients', models.BooleanField(default=False)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('passed', 'Passed'), ('failed', 'Failed: duplicates or missing messages'), ('error', 'Could not run')], default='queued', editable=False, max_length=16)),
                        ('started_by', models.CharField(blank=True, editable=False, max_length=200)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('finished_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('report', models.JSONField(blank=True, default=dict, editable=False)),
                        ('context', models.JSONField(blank=True, default=dict, editable=False)),
                    ],
                    options={
                        'db_table': 'delivery_loadtestrun',
                        'ordering': ['-created_at'],
                    },
                ),
            ],
        ),
    ]
