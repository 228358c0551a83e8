from django.db import migrations


def forwards(apps, schema_editor):
    from agents.schedules import schedules_ensure

    schedules_ensure(apps.get_model("django_q", "Schedule"))


class Migration(migrations.Migration):
    dependencies = [("agents", "0011_analysis_schedules_alerts")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
