"""Repair times stored before the API bounded them (eventsys.api.bounds)."""

from django.db import migrations

from eventsys.api.bounds import stored_instants_clamp


def bound_instants(apps, schema_editor):
    trigger = apps.get_model("triggers", "Trigger")
    for field in ("schedule_time", "end_at"):
        stored_instants_clamp(trigger, field)


class Migration(migrations.Migration):
    dependencies = [("triggers", "0001_initial")]

    operations = [migrations.RunPython(bound_instants, migrations.RunPython.noop, elidable=True)]
