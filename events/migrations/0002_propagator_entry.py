from django.conf import settings
from django.db import migrations


def create_disabled_propagator(apps, schema_editor):
    """The propagator's beat entry, disabled: an operator switches it on and re-times it in the admin."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=settings.PROPAGATOR_INTERVAL_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="events.propagate",
        defaults={
            "task": "events.propagate",
            "interval": interval,
            "enabled": False,
            "description": "Send sample events to PROPAGATOR_URL with PROPAGATOR_TOKEN (see README).",
        },
    )


def remove_propagator(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="events.propagate").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_disabled_propagator, remove_propagator)]
