from celery import shared_task

from eventsys.ops.models import Heartbeat
from eventsys.ops.services import heartbeat_record

HEARTBEAT_TASK = "eventsys.heartbeat"


@shared_task(name=HEARTBEAT_TASK, acks_late=True, soft_time_limit=10, time_limit=20)
def heartbeat() -> None:
    """Sent by beat, run by a worker: proves beat → broker → worker → database works."""
    heartbeat_record(component=Heartbeat.Component.WORKER)
