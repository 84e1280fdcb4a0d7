"""Webhook delivery: claim a pending log, POST it signed, record the attempt, schedule any retry.

Retry times live in the database (`next_attempt_at`), never in broker countdowns: the sweeper
enqueues attempts that are due. Each attempt is claimed with a conditional UPDATE, so duplicate
task messages (a redelivered message, a sweeper re-enqueue) deliver at most once per attempt, and
every duplicate of one delivery carries the same delivery id for receivers to drop.
"""

import json
import logging
import random
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from eventsys import clock
from eventsys.http import Outcome, post_json
from triggers.models import DeliveryAttempt, ExecutionLog, Trigger
from triggers.services.enqueue import enqueue_deliveries_on_commit

logger = logging.getLogger(__name__)

# A message may arrive a moment before its attempt is due (clock differences between hosts).
_EARLY_TOLERANCE = timedelta(seconds=2)


def retry_delay(attempt: int, *, retry_after: float | None = None, rng=random.random) -> timedelta:
    """Exponential back-off with jitter after failed attempt number `attempt` (1-based).

    base · 2^(attempt-1), scaled by a random factor in [0.5, 1.5), at least the server's
    Retry-After, at most TRIGGER_RETRY_MAX_SECONDS.
    """
    base = settings.TRIGGER_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    seconds = max(base * (0.5 + rng()), retry_after or 0)
    return timedelta(seconds=min(seconds, settings.TRIGGER_RETRY_MAX_SECONDS))


def delivery_attempt(*, delivery_id: UUID | str, now: datetime | None = None) -> str:
    """Make the due attempt of one delivery. Returns what happened (for the task's result and logs)."""
    now = now or clock.database_now()
    claimed = ExecutionLog.objects.filter(
        delivery_id=delivery_id,
        status=ExecutionLog.DeliveryStatus.PENDING,
        next_attempt_at__lte=now + _EARLY_TOLERANCE,
        attempts__lt=settings.TRIGGER_DELIVERY_MAX_ATTEMPTS,
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=None,
        lease_until=now + timedelta(seconds=settings.TRIGGER_DELIVERY_LEASE_SECONDS),
    )
    if not claimed:
        return "not-due"  # delivered, given up, or another worker holds this attempt
    log = ExecutionLog.objects.select_related("trigger").get(delivery_id=delivery_id)
    outcome = delivery_send(log=log)
    _record(log=log, outcome=outcome, started_at=now, finished_at=now + timedelta(milliseconds=outcome.latency_ms))
    return outcome.kind


def delivery_send(*, log: ExecutionLog) -> Outcome:
    """POST the log's payload snapshot to its URL, signed with the trigger's current secret."""
    body = json.dumps(log.payload, separators=(",", ":")).encode()
    return post_json(log.url, body, delivery_id=str(log.delivery_id), secret=log.trigger.signing_secret)


def deliveries_attempt(*, delivery_ids: list[UUID | str]) -> dict[str, int]:
    """`delivery_attempt` for each id in turn; one that fails unexpectedly does not stop the rest
    (its log keeps its lease, and the sweeper re-enqueues it when the lease runs out)."""
    outcomes: dict[str, int] = {}
    for delivery_id in delivery_ids:
        try:
            outcome = delivery_attempt(delivery_id=delivery_id)
        except Exception:
            logger.exception("delivery %s failed unexpectedly; the sweeper will retry it", delivery_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def delivery_attempt_record(*, log: ExecutionLog, outcome: Outcome, started_at: datetime) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        log=log,
        number=log.attempts,
        started_at=started_at,
        outcome=outcome.kind,
        response_status=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error[:500],
        response_excerpt=outcome.response_excerpt,
    )


@transaction.atomic
def _record(*, log: ExecutionLog, outcome: Outcome, started_at: datetime, finished_at: datetime) -> None:
    delivery_attempt_record(log=log, outcome=outcome, started_at=started_at)
    fields = {
        "response_status": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error[:500],
        "response_excerpt": outcome.response_excerpt,
        "lease_until": None,
    }
    if outcome.delivered:
        fields.update(status=ExecutionLog.DeliveryStatus.DELIVERED, completed_at=finished_at)
    elif outcome.kind == "retry" and log.attempts < settings.TRIGGER_DELIVERY_MAX_ATTEMPTS:
        fields["next_attempt_at"] = finished_at + retry_delay(log.attempts, retry_after=outcome.retry_after)
    else:
        fields.update(status=ExecutionLog.DeliveryStatus.FAILED, completed_at=finished_at)
    ExecutionLog.objects.filter(pk=log.pk, status=ExecutionLog.DeliveryStatus.PENDING).update(**fields)
    if fields.get("status") == ExecutionLog.DeliveryStatus.DELIVERED:
        if log.trigger.consecutive_failures:  # loaded with the log: most deliveries skip this write
            Trigger.objects.filter(pk=log.trigger_id, consecutive_failures__gt=0).update(consecutive_failures=0)
    elif fields.get("status") == ExecutionLog.DeliveryStatus.FAILED:
        _count_failure(trigger_id=log.trigger_id, error=outcome.error or f"HTTP {outcome.status_code}")


def _count_failure(*, trigger_id: int, error: str) -> None:
    """One more delivery given up; at TRIGGER_DISABLE_AFTER_FAILURES in a row the trigger is disabled."""
    trigger = Trigger.objects.select_for_update().get(pk=trigger_id)
    trigger.consecutive_failures += 1
    update = ["consecutive_failures", "updated_at"]
    limit = settings.TRIGGER_DISABLE_AFTER_FAILURES
    if trigger.consecutive_failures >= limit and trigger.status == Trigger.Status.ACTIVE:
        trigger.status = Trigger.Status.DISABLED
        trigger.next_run_at = None
        trigger.disabled_reason = f"{limit} deliveries in a row failed; the last: {error}"[:500]
        update += ["status", "next_run_at", "disabled_reason"]
    trigger.save(update_fields=update)


@transaction.atomic
def deliveries_requeue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """The sweeper: enqueue pending deliveries whose attempt is due and not enqueued, or whose lease
    ran out (a lost message, a killed worker). Returns how many were enqueued.

    A delivery whose attempts are used up and whose last attempt never reported back is marked
    failed instead: the attempt bound holds even for a worker killed on every attempt.
    """
    now = now or clock.database_now()
    expired = Q(lease_until__lt=now) | Q(lease_until__isnull=True, next_attempt_at__lte=now)
    pending = ExecutionLog.objects.select_for_update(skip_locked=True).filter(
        status=ExecutionLog.DeliveryStatus.PENDING
    )
    exhausted = pending.filter(expired, attempts__gte=settings.TRIGGER_DELIVERY_MAX_ATTEMPTS)
    for log_id, trigger_id in exhausted.values_list("pk", "trigger_id")[:limit]:
        error = "attempts exhausted: the last attempt never reported back (worker lost?)"
        ExecutionLog.objects.filter(pk=log_id).update(
            status=ExecutionLog.DeliveryStatus.FAILED, completed_at=now, lease_until=None, error=error
        )
        _count_failure(trigger_id=trigger_id, error=error)
    rows = list(pending.filter(expired).values_list("pk", "delivery_id")[:limit])
    if not rows:
        return 0
    ExecutionLog.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        lease_until=enqueue_lease_until(now),
        next_attempt_at=Coalesce("next_attempt_at", Value(now)),
    )
    enqueue_deliveries_on_commit([delivery_id for _, delivery_id in rows])
    return len(rows)


def enqueue_lease_until(now: datetime) -> datetime:
    """Until when an enqueued delivery owns its log: long enough for a deep queue to drain."""
    return now + timedelta(seconds=settings.TRIGGER_REQUEUE_AFTER_SECONDS)
