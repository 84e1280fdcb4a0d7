"""django-celery-beat's DatabaseScheduler, plus a beat heartbeat for /api/ready/."""

import logging

from django.db import DatabaseError, close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from eventsys.ops.models import Heartbeat
from eventsys.ops.services import heartbeat_record
from eventsys.ops.tasks import HEARTBEAT_TASK

logger = logging.getLogger(__name__)


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    """Records beat's own heartbeat each time it sends the heartbeat task.

    The worker records its heartbeat when it runs that task, so /api/ready/ can tell a dead beat
    (neither recent) from a dead worker or broker (only beat's recent).
    """

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        result = super().apply_async(entry, producer, advance, **kwargs)
        if entry.task == HEARTBEAT_TASK:
            try:
                close_old_connections()
                heartbeat_record(component=Heartbeat.Component.BEAT)
            except DatabaseError:
                logger.warning("could not record beat heartbeat", exc_info=True)
        return result
