"""Repair times stored before the API bounded them (eventsys.api.bounds): one event in year 9999 made
every list of events fail to render in an eastern zone, for every caller."""

from datetime import timedelta

from django.db import migrations

from eventsys.api.bounds import MAX_INSTANT, MIN_INSTANT, stored_instants_clamp

# An event must end after it starts (a check constraint): a clamped start keeps an hour before the bound.
_HOUR = timedelta(hours=1)


def bound_instants(apps, schema_editor):
    event = apps.get_model("events", "Event")
    # Late times: the start moves first, so that it stays before the (later) end; early times: the end first.
    stored_instants_clamp(event, "start_time", lowest=None, highest=MAX_INSTANT - _HOUR)
    stored_instants_clamp(event, "end_time", lowest=MIN_INSTANT + _HOUR)
    stored_instants_clamp(event, "start_time", highest=None)
    stored_instants_clamp(apps.get_model("events", "IngestedEvent"), "occurred_at")


class Migration(migrations.Migration):
    dependencies = [("events", "0002_propagator_entry")]

    operations = [migrations.RunPython(bound_instants, migrations.RunPython.noop, elidable=True)]
