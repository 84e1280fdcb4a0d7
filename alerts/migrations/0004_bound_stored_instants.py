"""Repair times stored before the API bounded them (eventsys.api.bounds)."""

from django.db import migrations

from eventsys.api.bounds import stored_instants_clamp


def bound_instants(apps, schema_editor):
    stored_instants_clamp(apps.get_model("alerts", "PriceAlert"), "expires_at")


class Migration(migrations.Migration):
    dependencies = [("alerts", "0003_coin_market_cap_rank")]

    operations = [migrations.RunPython(bound_instants, migrations.RunPython.noop, elidable=True)]
