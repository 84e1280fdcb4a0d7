"""The Celery application: `celery -A eventsys worker` and `celery -A eventsys beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsys.settings")

app = Celery("eventsys")
# Every CELERY_* Django setting configures Celery (settings.py is the one place).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
