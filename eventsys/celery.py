"""The Celery application: `celery -A eventsys worker` and `celery -A eventsys beat`."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsys.settings")

app = Celery("eventsys")
# Every CELERY_* Django setting configures Celery (settings.py is the one place).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_old_connections(**kwargs):
    # Celery's Django fix-up would close every database connection around every task (one new
    # PostgreSQL session per delivery); CELERY_DB_REUSE_MAX turns that off and this applies
    # Django's own rules instead: CONN_MAX_AGE and health checks, as for a web request.
    from django.db import close_old_connections

    close_old_connections()
