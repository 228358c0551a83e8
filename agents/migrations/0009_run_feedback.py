from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("agents", "0008_schedules_idempotency_purge")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="feedback",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='{"slack:U123": {"value": "up"|"down", "at": "<ISO 8601 UTC>", "via": "slack"}, ...}: one vote per person (the latest click wins), from the answer\'s feedback buttons',
            ),
        ),
    ]
