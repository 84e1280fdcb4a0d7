"""Hand delivery ids to the broker once the transaction that created their logs has committed."""

import logging
import math
from datetime import datetime
from uuid import UUID

from django.db import transaction

from eventsys import clock
from eventsys.publish import publish_many

logger = logging.getLogger(__name__)
# Up to this many ids go one to a message; a larger burst shares messages, at most IDS_PER_MESSAGE each.
SINGLE_ID_MESSAGES = 64
IDS_PER_MESSAGE = 20


def delivery_messages(delivery_ids: list[str]) -> list[list[str]]:
    """The ids grouped into messages: one id a message while that keeps every worker slot busy;
    a burst goes in messages of up to IDS_PER_MESSAGE, as building a message costs more than
    sending it, and ten thousand messages would keep the dispatcher busy for seconds."""
    per_message = min(IDS_PER_MESSAGE, max(1, math.ceil(len(delivery_ids) / SINGLE_ID_MESSAGES)))
    return [delivery_ids[i : i + per_message] for i in range(0, len(delivery_ids), per_message)]


def enqueue_deliveries(delivery_ids: list[UUID | str]) -> None:
    """Publish the delivery tasks for these ids over a single broker connection (no reconnect per message).

    A broker outage is logged, not raised: the logs stay pending and the sweeper re-enqueues them
    once a queue probe has overtaken them (or their lease runs out), so a firing is never lost and the
    caller's request never fails.
    """
    from triggers.tasks import deliver, deliver_many

    if not delivery_ids:
        return
    messages = delivery_messages([str(delivery_id) for delivery_id in delivery_ids])
    publish_many(
        ((deliver, (ids[0],)) if len(ids) == 1 else (deliver_many, (ids,)) for ids in messages),
        what="deliveries; the sweeper will retry",
    )


def enqueue_deliveries_on_commit(delivery_ids: list[UUID | str]) -> None:
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: enqueue_deliveries(ids))


def delivery_queue_name() -> str:
    """The queue delivery messages are routed to (CELERY_TASK_ROUTES, else the default queue)."""
    from triggers.tasks import deliver

    return deliver.app.amqp.router.route({}, deliver.name)["queue"].name


def delivery_queue_probe_send(*, now: datetime | None = None) -> None:
    """Send a probe through the delivery queue, behind every delivery published so far; the worker that
    runs it records how far the queue has been consumed (delivery.py explains what the sweeper makes of it).

    The probe is routed explicitly to the deliveries' queue, whatever routes a deployment configures,
    and has no expiry: a probe dropped as expired would say nothing about the queue. A broker outage is
    logged: the next sweep sends another.
    """
    from triggers.tasks import queue_probe

    queue = delivery_queue_name()
    sent_at = now or clock.database_now()
    try:
        queue_probe.apply_async((queue, sent_at.isoformat()), queue=queue, retry=False)
    except Exception:
        logger.warning("could not send the delivery queue probe", exc_info=True)
