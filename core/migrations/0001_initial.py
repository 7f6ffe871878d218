"""API keys and the fleet's metric tables move to core from campaigns, where their tables were made.

Only Django's picture of the models changes (state_operations): the tables keep their names, so
nothing in the database moves. campaigns 0010 then forgets them.
"""

import core.models
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("campaigns", "0009_load_test_flags"),
        # The roles grant permissions on campaigns.ApiKey: they must exist before the key moves,
        # so that campaigns 0010 carries them over with the content type.
        ("tracking", "0008_load_test_role"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiKey',
                    fields=[
                        ('id', models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True)),
                        ('prefix', models.CharField(editable=False, max_length=8, unique=True)),
                        ('hashed_key', models.CharField(editable=False, max_length=150)),
                        ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('name', models.CharField(default=None, help_text='A free-form name for the API key. Need not be unique. 50 characters max.', max_length=50)),
                        ('revoked', models.BooleanField(blank=True, default=False, help_text='If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)')),
                        ('expiry_date', models.DateTimeField(blank=True, help_text='Once API key expires, clients cannot use it anymore.', null=True, verbose_name='Expires')),
                        ('rate_limit', models.CharField(blank=True, help_text='Requests allowed, e.g. 600/minute. Empty uses API_DEFAULT_RATE_LIMIT.', max_length=32, validators=[core.models.validate_rate])),
                        ('is_load_test', models.BooleanField(db_default=False, default=False, help_text='For load tests (manage.py loadtest, Artillery): contacts its messages create are hidden from marketers, and loadtest_cleanup deletes them and its messages.', verbose_name='load test')),
                    ],
                    options={
                        'verbose_name': 'API key',
                        'verbose_name_plural': 'API keys',
                        'db_table': 'campaigns_apikey',
                        'ordering': ('-created',),
                        'abstract': False,
                    },
                ),
                migrations.CreateModel(
                    name='MetricSeries',
                    fields=[
                        ('series', models.CharField(max_length=500, primary_key=True, serialize=False)),
                        ('value', models.FloatField(default=0)),
                    ],
                    options={
                        'db_table': 'campaigns_metricseries',
                    },
                ),
                migrations.CreateModel(
                    name='MetricSnapshot',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('at', models.DateTimeField(unique=True)),
                        ('values', models.JSONField(default=dict)),
                    ],
                    options={
                        'db_table': 'campaigns_metricsnapshot',
                        'ordering': ['-at'],
                    },
                ),
            ],
        ),
    ]
