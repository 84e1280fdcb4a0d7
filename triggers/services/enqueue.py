"""Hand delivery ids to the broker once the transaction that created their logs has committed."""

import logging
from uuid import UUID

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_deliveries(delivery_ids: list[UUID | str]) -> None:
    """Publish one delivery task per id over a single broker connection (no reconnect per message).

    A broker outage is logged, not raised: the logs stay pending and the sweeper re-enqueues them
    when their lease runs out, so a firing is never lost and the caller's request never fails.
    """
    from triggers.tasks import deliver

    if not delivery_ids:
        return
    try:
        with deliver.app.producer_or_acquire() as producer, producer.batch(max_size=500):
            # One transport operation per 500 messages where the broker supports it (Redis
            # pipelines them); elsewhere kombu publishes each at once.
            for delivery_id in delivery_ids:
                deliver.apply_async((str(delivery_id),), producer=producer, retry=False)
    except Exception:
        logger.warning("could not enqueue %d deliveries; the sweeper will retry", len(delivery_ids), exc_info=True)


def enqueue_deliveries_on_commit(delivery_ids: list[UUID | str]) -> None:
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: enqueue_deliveries(ids))
