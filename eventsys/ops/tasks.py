from celery import shared_task
from django.utils import timezone

from eventsys.ops.models import Heartbeat
from eventsys.ops.rollup import rollup as rollup_hours
from eventsys.ops.services import heartbeat_record

HEARTBEAT_TASK = "eventsys.heartbeat"
ROLLUP_TASK = "eventsys.rollup"
IDEMPOTENCY_EXPIRE_TASK = "eventsys.idempotency_expire"


@shared_task(name=HEARTBEAT_TASK, acks_late=True, soft_time_limit=10, time_limit=20)
def heartbeat() -> None:
    """Sent by beat, run by a worker: proves beat → broker → worker → database works."""
    heartbeat_record(component=Heartbeat.Component.WORKER)


@shared_task(name=ROLLUP_TASK, soft_time_limit=120, time_limit=180)
def rollup() -> int:
    """Sent by beat: the dashboard's hourly counts for the hours that are over (eventsys/ops/rollup.py)."""
    return rollup_hours(now=timezone.now())


@shared_task(name=IDEMPOTENCY_EXPIRE_TASK, soft_time_limit=120, time_limit=180)
def idempotency_expire() -> int:
    """Sent by beat: forget the Idempotency-Keys older than IDEMPOTENCY_KEY_HOURS."""
    from eventsys.api.idempotency import idempotency_keys_expire

    return idempotency_keys_expire()
