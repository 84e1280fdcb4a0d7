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


@signals.worker_init.connect
def _register_worker_instance(sender, **kwargs):
    # In the parent, before the pool forks: children inherit the instance name their claims carry.
    from eventsys.ops.workers import worker_started

    worker_started(hostname=sender.hostname)


@signals.worker_ready.connect
def _start_worker_heartbeat(**kwargs):
    # A thread of the parent beats for the instance until the process exits (eventsys/ops/workers.py).
    from eventsys.ops.workers import worker_heartbeat_start

    worker_heartbeat_start()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _format_celery_logs(logger, **kwargs):
    # The worker and beat replace the root logger's handlers (and give celery.task its own) with
    # celery's, formatted "[time: LEVEL/process] message"; LOG_FORMAT=json makes those JSON too.
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        from eventsys.logformat import JsonFormatter

        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
