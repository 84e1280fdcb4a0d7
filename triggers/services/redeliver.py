"""Re-delivery: send a finished webhook delivery once more, as a new attempt under the same delivery id.

A re-delivered log goes back to pending with room for exactly one more attempt (`attempt_limit`) and
is enqueued like a fresh delivery: the worker claims the attempt with the same conditional UPDATE
(delivery.py), so a duplicate message still sends at most once, and receivers that deduplicate on
X-Eventsys-Delivery see the delivery id they already know. The log's payload and URL are the
snapshot taken when it fired; the signature uses the trigger's current secret.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet

from eventsys import clock
from eventsys.api.errors import Conflict
from triggers.models import ExecutionLog, Trigger
from triggers.services.delivery import enqueue_lease_until
from triggers.services.enqueue import enqueue_deliveries_on_commit

# At most this many failed deliveries are re-sent by one trigger_redeliver_failed call.
REDELIVER_FAILED_MAX = 1000
_FINISHED = [ExecutionLog.DeliveryStatus.DELIVERED, ExecutionLog.DeliveryStatus.FAILED]


class NothingToDeliver(Conflict):
    code = "nothing_to_deliver"
    default_detail = "This firing has no webhook delivery to send again."


class DeliveryInProgress(Conflict):
    code = "delivery_in_progress"
    default_detail = "The delivery is still pending or being attempted; re-deliver it once it has finished."


class TestNotRedelivered(Conflict):
    code = "test_not_redeliverable"
    default_detail = "A test run is not re-delivered; run the trigger's test again."


class TriggerNotActive(Conflict):
    code = "trigger_not_active"
    default_detail = "Only an active trigger's failed deliveries are re-sent; resume it first."


def _redeliver(logs: QuerySet[ExecutionLog], *, now: datetime) -> int:
    """Put finished deliveries back to pending for one more attempt, enqueued at `now`.

    One conditional UPDATE: of two concurrent calls for one log only the first finds it finished,
    so a log gets one new attempt however many ask. The summary of the previous outcome is cleared
    (every attempt stays recorded as a DeliveryAttempt)."""
    return (
        logs.filter(status__in=_FINISHED)
        .exclude(source=ExecutionLog.Source.TEST)
        .update(
            status=ExecutionLog.DeliveryStatus.PENDING,
            attempt_limit=F("attempts") + 1,
            next_attempt_at=now,
            lease_until=enqueue_lease_until(now),
            lease_holder="",
            completed_at=None,
            response_status=None,
            latency_ms=None,
            error="",
            response_excerpt="",
        )
    )


@transaction.atomic
def execution_log_redeliver(*, log: ExecutionLog, now: datetime | None = None) -> ExecutionLog:
    """Send a delivered or failed delivery again: one new attempt, same delivery id, enqueued on commit.

    Raises NothingToDeliver (no webhook: a `scheduled` trigger's or a skipped firing),
    TestNotRedelivered, or DeliveryInProgress (pending: an attempt is due, enqueued or running)."""
    now = now or clock.database_now()
    redelivered = _redeliver(ExecutionLog.objects.filter(pk=log.pk), now=now)
    current = ExecutionLog.objects.filter(pk=log.pk).first()
    if current is None:
        raise NothingToDeliver("The log no longer exists.")
    if not redelivered:
        if current.source == ExecutionLog.Source.TEST and current.status in _FINISHED:
            raise TestNotRedelivered()
        if current.status == ExecutionLog.DeliveryStatus.PENDING:
            raise DeliveryInProgress()
        raise NothingToDeliver()
    enqueue_deliveries_on_commit([current.delivery_id])
    return current


@transaction.atomic
def trigger_redeliver_failed(
    *, trigger: Trigger, limit: int = REDELIVER_FAILED_MAX, now: datetime | None = None
) -> int:
    """Re-deliver the trigger's failed deliveries, oldest first, at most `limit` per call (call again
    for more). Only for an active trigger (TriggerNotActive): a paused or disabled one is resumed first.
    Returns how many were re-delivered."""
    trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
    if trigger.status != Trigger.Status.ACTIVE:
        raise TriggerNotActive()
    now = now or clock.database_now()
    # Locked, so a concurrent call (or a single re-delivery) waits and then finds them pending.
    rows = list(
        ExecutionLog.objects.select_for_update()
        .filter(trigger=trigger, status=ExecutionLog.DeliveryStatus.FAILED)
        .exclude(source=ExecutionLog.Source.TEST)
        .order_by("created_at", "id")
        .values_list("pk", "delivery_id")[:limit]
    )
    if not rows:
        return 0
    redelivered = _redeliver(ExecutionLog.objects.filter(pk__in=[pk for pk, _ in rows]), now=now)
    enqueue_deliveries_on_commit([delivery_id for _, delivery_id in rows])
    return redelivered
