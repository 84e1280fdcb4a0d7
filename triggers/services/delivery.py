"""Webhook delivery: claim a pending log, POST it signed, record the attempt, schedule any retry.

Retry times live in the database (`next_attempt_at`), never in broker countdowns: the sweeper
enqueues attempts that are due. Each attempt is claimed with a conditional UPDATE, so duplicate
task messages (a redelivered message, a sweeper re-enqueue) deliver at most once per attempt, and
every duplicate of one delivery carries the same delivery id for receivers to drop.

Recovery after a worker crash (the sweeper, `deliveries_requeue`, every 5 s). A pending delivery is
in one of three places, and each has its own sign that it was lost:

- *Running*: claimed by a worker instance, named in `lease_holder` (eventsys/ops/workers.py). When
  that instance has stopped beating (presumed dead: WORKER_PRESUMED_DEAD_SECONDS of silence while
  another worker is heard), the attempt is re-sent at once. A worker that is slow but alive keeps
  beating, and keeps its attempt.
- *Enqueued, not yet taken*: the message may sit in a deep queue, or it died with a worker that had
  received it (Redis hands an unacknowledged message back only after its visibility timeout, an
  hour; the filesystem transport never), or with a broker that lost its queue, or it was never
  published. Age cannot tell these apart, so the sweeper asks the queue itself: each sweep sends a
  probe through the delivery queue, and the worker that runs it records the probe's send time
  (`DeliveryQueueMark`). Queues are FIFO: once a probe sent at T has been run, every message
  published before T has been taken, so a delivery enqueued before T (less PUBLISH_SLACK) and still
  not claimed will never arrive, and is re-sent. In a deep queue the probe waits its turn behind
  the deliveries and nothing is re-sent, however old they are.
- *Waiting for a retry*: enqueued when due, as always.

The leases stay as backstops for what the signs above cannot see (an attempt claimed outside a
worker, probes that cannot run): TRIGGER_DELIVERY_LEASE_SECONDS for a running attempt,
TRIGGER_REQUEUE_AFTER_SECONDS for an enqueued one. Whatever re-sends a delivery, the claim stays
conditional: a message that turns up after all finds the attempt claimed and does nothing, and
attempts stay bounded (an attempt whose worker died counts; exhausted → failed).
"""

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from eventsys import clock
from eventsys.http import Outcome, post_json
from eventsys.ops.workers import this_worker, workers_dead
from triggers.models import DeliveryAttempt, DeliveryQueueMark, ExecutionLog, Trigger
from triggers.services.enqueue import delivery_queue_name, enqueue_deliveries_on_commit
from triggers.services.notify import failing_reached, recovery_evaluate

logger = logging.getLogger(__name__)

# A message may arrive a moment before its attempt is due (clock differences between hosts).
_EARLY_TOLERANCE = timedelta(seconds=2)
# A delivery is stamped enqueued (`next_attempt_at`) when its log is written and published once that
# transaction commits; the dispatcher publishes a burst after logging all of it, seconds later. A
# delivery counts as passed by a probe only if it was stamped this much before the probe was sent.
# Too short a slack re-sends a message still on its way: a duplicate message, never a second delivery.
PUBLISH_SLACK = timedelta(seconds=10)


def retry_delay(attempt: int, *, retry_after: float | None = None, rng=random.random) -> timedelta:
    """Exponential back-off with jitter after failed attempt number `attempt` (1-based).

    base · 2^(attempt-1), scaled by a random factor in [0.5, 1.5), at least the server's
    Retry-After, at most TRIGGER_RETRY_MAX_SECONDS.
    """
    base = settings.TRIGGER_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    seconds = max(base * (0.5 + rng()), retry_after or 0)
    return timedelta(seconds=min(seconds, settings.TRIGGER_RETRY_MAX_SECONDS))


def attempt_limit() -> Coalesce:
    """How many attempts a delivery may make in all, as a column expression: its own `attempt_limit`
    (set by a re-delivery), else TRIGGER_DELIVERY_MAX_ATTEMPTS."""
    return Coalesce(F("attempt_limit"), Value(settings.TRIGGER_DELIVERY_MAX_ATTEMPTS))


def delivery_attempt(*, delivery_id: UUID | str, now: datetime | None = None) -> str:
    """Make the due attempt of one delivery. Returns what happened (for the task's result and logs)."""
    outcomes = deliveries_attempt(delivery_ids=[delivery_id], now=now)
    return next(iter(outcomes))


def deliveries_attempt(*, delivery_ids: list[UUID | str], now: datetime | None = None) -> Counter[str]:
    """Make the due attempt of each of these deliveries (a burst's message carries up to 20 ids): claim
    them in one statement, send them side by side, record them in one transaction. Returns how many
    were delivered, will be retried, failed, or were not due (delivered, given up, or held by another
    worker): "not-due"; or could not be sent for an unexpected error: "error" (the log keeps its
    lease, and the sweeper re-sends it when the lease runs out)."""
    now = now or clock.database_now()
    unique_ids = set(map(str, delivery_ids))
    claimed = _on_a_live_connection(lambda: _claim(unique_ids, now=now))
    outcomes: Counter[str] = Counter({"not-due": len(unique_ids) - len(claimed)})
    if claimed:
        logs = _on_a_live_connection(
            lambda: list(ExecutionLog.objects.select_related("trigger").filter(pk__in=claimed))
        )
        sent = _send_all(logs, claimed_at=now)
        finished = [(log, result) for log, result in zip(logs, sent, strict=True) if isinstance(result, _Sent)]
        if finished:
            _on_a_live_connection(lambda: _record_all(finished))
        for log, result in zip(logs, sent, strict=True):
            if isinstance(result, _Sent):
                outcomes[result.outcome.kind] += 1
            else:
                outcomes["error"] += 1
                logger.error(
                    "delivery %s failed unexpectedly; the sweeper will retry it", log.delivery_id, exc_info=result
                )
    return +outcomes


def _claim(delivery_ids: set[str], *, now: datetime) -> list[int]:
    """Claim the due attempt of each delivery in one UPDATE … RETURNING: the ids of the logs this call
    now holds. A delivery another call holds, or not due, is left alone: each attempt is made once."""
    field = ExecutionLog._meta.get_field("delivery_id")
    keys = [field.get_db_prep_value(UUID(delivery_id), connection) for delivery_id in delivery_ids]
    adapt = connection.ops.adapt_datetimefield_value
    lease_until = now + timedelta(seconds=settings.TRIGGER_DELIVERY_LEASE_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {ExecutionLog._meta.db_table}
            SET attempts = attempts + 1, next_attempt_at = NULL, lease_until = %s, lease_holder = %s
            WHERE delivery_id IN ({", ".join(["%s"] * len(keys))}) AND status = %s AND next_attempt_at <= %s
                AND attempts < COALESCE(attempt_limit, %s)
            RETURNING id
            """,
            [
                adapt(lease_until),
                this_worker(),
                *keys,
                ExecutionLog.DeliveryStatus.PENDING,
                adapt(now + _EARLY_TOLERANCE),
                settings.TRIGGER_DELIVERY_MAX_ATTEMPTS,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class _Sent:
    outcome: Outcome
    started_at: datetime
    finished_at: datetime


def _send_all(logs: list[ExecutionLog], *, claimed_at: datetime) -> list["_Sent | BaseException"]:
    """POST each log's delivery; several at once (the waits overlap), each on this thread pool's
    keep-alive connections. Times are the claim's database time plus the local time elapsed since."""
    claimed = time.perf_counter()

    def send(log: ExecutionLog) -> "_Sent | BaseException":
        try:
            started = claimed_at + timedelta(seconds=time.perf_counter() - claimed)
            outcome = delivery_send(log=log)
            return _Sent(outcome, started, started + timedelta(milliseconds=outcome.latency_ms))
        except Exception as exc:  # reported per delivery by the caller
            return exc

    if len(logs) == 1 or settings.TRIGGER_DELIVERY_SENDERS == 1:
        return [send(log) for log in logs]
    return list(_sender_pool().map(send, logs))


_senders: dict[int, ThreadPoolExecutor] = {}  # by process: a forked worker starts its own threads
_senders_lock = threading.Lock()


def _sender_pool() -> ThreadPoolExecutor:
    """This process's threads for sending deliveries, made on first use."""
    with _senders_lock:
        pool = _senders.get(os.getpid())
        if pool is None:
            pool = _senders[os.getpid()] = ThreadPoolExecutor(
                max_workers=settings.TRIGGER_DELIVERY_SENDERS, thread_name_prefix="delivery"
            )
        return pool


@transaction.atomic
def _record_all(finished: list[tuple[ExecutionLog, "_Sent"]]) -> None:
    """Every attempt's row in one INSERT, every log's outcome in one UPDATE (only while it is still
    pending: the sweeper may have given up on it meanwhile), then the triggers' failure counts."""
    _insert_attempts(
        [_attempt_row(log=log, outcome=sent.outcome, started_at=sent.started_at) for log, sent in finished]
    )
    settled = {log.pk: _settled_fields(log, sent.outcome, finished_at=sent.finished_at) for log, sent in finished}
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        # One statement, its rows sent together (psycopg pipelines executemany); the ORM would build a
        # CASE per column and row, which costs more CPU than the deliveries themselves.
        cursor.executemany(
            f"""
            UPDATE {ExecutionLog._meta.db_table}
            SET response_status = %s, latency_ms = %s, error = %s, response_excerpt = %s, lease_until = NULL,
                lease_holder = '', next_attempt_at = %s, status = COALESCE(%s, status),
                completed_at = COALESCE(%s, completed_at)
            WHERE id = %s AND status = %s
            """,
            [
                (
                    row["response_status"],
                    row["latency_ms"],
                    row["error"],
                    row["response_excerpt"],
                    adapt(row.get("next_attempt_at")),
                    row.get("status"),
                    adapt(row.get("completed_at")),
                    pk,
                    ExecutionLog.DeliveryStatus.PENDING,
                )
                for pk, row in settled.items()
            ],
        )
    for log, sent in finished:
        _count_outcome(log=log, fields=settled[log.pk], now=sent.finished_at)
    # A failing trigger (as loaded with its log) whose delivery succeeded has recovered: one conditional
    # UPDATE for the batch, none when no trigger in it was failing (notify.py).
    recovered = {
        log.trigger_id
        for log, _ in finished
        if log.trigger.alert_state == Trigger.AlertState.FAILING
        and settled[log.pk].get("status") == ExecutionLog.DeliveryStatus.DELIVERED
    }
    if recovered:
        recovery_evaluate(recovered, now=max(sent.finished_at for _, sent in finished))


def _on_a_live_connection(step, *, tries: int = 3, pause: float = 0.5):
    """Run `step`, again on a new database connection if the one it ran on died (a killed backend, a
    restarted database). Once an attempt is claimed only its worker can finish it: giving up here
    would leave it to its lease, minutes later. Outside a transaction only (inside one, the work done
    so far died with the connection)."""
    for number in range(1, tries + 1):
        try:
            return step()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or number == tries:
                raise
            logger.warning("database connection lost during a delivery; reconnecting (try %d)", number + 1)
            connection.close()
            time.sleep(pause * number)


def delivery_send(*, log: ExecutionLog) -> Outcome:
    """POST the log's payload snapshot to its URL, signed with the trigger's current secret."""
    body = json.dumps(log.payload, separators=(",", ":")).encode()
    return post_json(log.url, body, delivery_id=str(log.delivery_id), secret=log.trigger.signing_secret)


def delivery_attempt_record(*, log: ExecutionLog, outcome: Outcome, started_at: datetime) -> DeliveryAttempt:
    attempt = _attempt_row(log=log, outcome=outcome, started_at=started_at)
    attempt.save()
    return attempt


_ATTEMPTS_PER_INSERT = 50  # SQLite's bound-parameter limit stays far away


def _insert_attempts(attempts: list[DeliveryAttempt]) -> None:
    """One multi-row INSERT per fifty attempts. bulk_create sends PostgreSQL one array per column, and
    psycopg escapes each text element with a regular expression: a third of the recording's CPU."""
    fields = [field for field in DeliveryAttempt._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for start in range(0, len(attempts), _ATTEMPTS_PER_INSERT):
            chunk = attempts[start : start + _ATTEMPTS_PER_INSERT]
            cursor.execute(
                f"INSERT INTO {DeliveryAttempt._meta.db_table} ({columns}) VALUES {', '.join([row] * len(chunk))}",
                [field.get_db_prep_save(field.pre_save(a, add=True), connection) for a in chunk for field in fields],
            )


def _attempt_row(*, log: ExecutionLog, outcome: Outcome, started_at: datetime) -> DeliveryAttempt:
    return DeliveryAttempt(
        log=log,
        number=log.attempts,
        started_at=started_at,
        outcome=outcome.kind,
        response_status=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error[:500],
        response_excerpt=outcome.response_excerpt,
        request_headers=outcome.request_headers,
        response_headers=outcome.response_headers,
    )


def _settled_fields(log: ExecutionLog, outcome: Outcome, *, finished_at: datetime) -> dict:
    """What one attempt's outcome changes on its log: delivered, failed, or due again later ("_failure",
    the reason a failed delivery gives its trigger, is not a column); the lease is released as well."""
    fields = {
        "response_status": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error[:500],
        "response_excerpt": outcome.response_excerpt,
    }
    if outcome.delivered:
        fields.update(status=ExecutionLog.DeliveryStatus.DELIVERED, completed_at=finished_at)
    elif outcome.kind == "retry" and log.attempts < (log.attempt_limit or settings.TRIGGER_DELIVERY_MAX_ATTEMPTS):
        fields["next_attempt_at"] = finished_at + retry_delay(log.attempts, retry_after=outcome.retry_after)
    else:
        fields.update(status=ExecutionLog.DeliveryStatus.FAILED, completed_at=finished_at)
        fields["_failure"] = outcome.error or f"HTTP {outcome.status_code}"
    return fields


def _count_outcome(*, log: ExecutionLog, fields: dict, now: datetime) -> None:
    """A delivered log clears its trigger's failure count; a failed one adds to it."""
    if fields.get("status") == ExecutionLog.DeliveryStatus.DELIVERED:
        if log.trigger.consecutive_failures:  # loaded with the log: most deliveries skip this write
            Trigger.objects.filter(pk=log.trigger_id, consecutive_failures__gt=0).update(consecutive_failures=0)
    elif fields.get("status") == ExecutionLog.DeliveryStatus.FAILED:
        _count_failure(trigger_id=log.trigger_id, error=fields["_failure"], now=now)


def _count_failure(*, trigger_id: int, error: str, now: datetime) -> None:
    """One more delivery given up; at TRIGGER_DISABLE_AFTER_FAILURES in a row the trigger is disabled, and
    at its own failing_after it turns failing (its owner is told once: notify.py)."""
    trigger = Trigger.objects.select_for_update().get(pk=trigger_id)
    trigger.consecutive_failures += 1
    update = ["consecutive_failures", "updated_at"]
    limit = settings.TRIGGER_DISABLE_AFTER_FAILURES
    if trigger.consecutive_failures >= limit and trigger.status == Trigger.Status.ACTIVE:
        trigger.status = Trigger.Status.DISABLED
        trigger.next_run_at = None
        trigger.disabled_reason = f"{limit} deliveries in a row failed; the last: {error}"[:500]
        update += ["status", "next_run_at", "disabled_reason"]
    if failing_reached(trigger, error=error, now=now):  # the row is locked: decided once
        update += ["alert_state", "alert_changed_at", "alert_notice"]
    trigger.save(update_fields=update)


@transaction.atomic
def deliveries_requeue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """The sweeper: enqueue pending deliveries that are due and not enqueued, or lost (see the module
    docstring: a dead worker's attempt, a message the queue has moved past, an expired lease).
    Returns how many were enqueued.

    A delivery whose attempts are used up and whose last attempt never reported back is marked
    failed instead: the attempt bound holds even for a worker killed on every attempt.
    """
    now = now or clock.database_now()
    lost = _lost(now=now)
    pending = ExecutionLog.objects.select_for_update(skip_locked=True).filter(
        status=ExecutionLog.DeliveryStatus.PENDING
    )
    exhausted = pending.filter(lost, attempts__gte=attempt_limit())
    for log_id, trigger_id in exhausted.values_list("pk", "trigger_id")[:limit]:
        error = "attempts exhausted: the last attempt never reported back (worker lost?)"
        ExecutionLog.objects.filter(pk=log_id).update(
            status=ExecutionLog.DeliveryStatus.FAILED, completed_at=now, lease_until=None, lease_holder="", error=error
        )
        _count_failure(trigger_id=trigger_id, error=error, now=now)
    rows = list(pending.filter(lost).values_list("pk", "delivery_id")[:limit])
    if not rows:
        return 0
    # Stamped enqueued now: a probe must pass this copy before it can be counted lost in turn, so a
    # delivery is re-sent at most once per probe that overtakes it, never on every sweep.
    ExecutionLog.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        lease_until=enqueue_lease_until(now), next_attempt_at=now, lease_holder=""
    )
    enqueue_deliveries_on_commit([delivery_id for _, delivery_id in rows])
    return len(rows)


def _lost(*, now: datetime) -> Q:
    """Pending deliveries the sweeper must enqueue (the filter is applied to pending logs only)."""
    # A retry that is due, and not enqueued yet.
    lost = Q(lease_until__isnull=True, next_attempt_at__lte=now)
    # Backstop: an enqueued or running attempt whose lease ran out.
    lost |= Q(lease_until__lt=now)
    # A running attempt whose worker is presumed dead. An attempt claimed by no worker, or by one
    # whose row is gone, is left to its lease.
    lost |= Q(next_attempt_at__isnull=True, lease_until__isnull=False, lease_holder__in=workers_dead())
    # An enqueued attempt that a probe sent well after it has overtaken (it is no longer in the queue).
    through = DeliveryQueueMark.objects.filter(queue=delivery_queue_name()).values_list("consumed_through", flat=True)
    if (consumed_through := through.first()) is not None:
        lost |= Q(lease_until__isnull=False, next_attempt_at__lt=consumed_through - PUBLISH_SLACK)
    return lost


def delivery_queue_mark(*, queue: str, sent_at: datetime, now: datetime | None = None) -> None:
    """A worker ran the probe sent at `sent_at` through `queue`: it has been consumed through then.

    Probes can run out of order (two workers, a probe re-delivered late): the mark only moves forward.
    """
    now = now or clock.database_now()
    moved = DeliveryQueueMark.objects.filter(queue=queue, consumed_through__lt=sent_at).update(
        consumed_through=sent_at, updated_at=now
    )
    if not moved:
        # The first probe ever, or one older than the mark (then nothing changes).
        DeliveryQueueMark.objects.get_or_create(queue=queue, defaults={"consumed_through": sent_at, "updated_at": now})


def enqueue_lease_until(now: datetime) -> datetime:
    """Until when an enqueued delivery owns its log at the latest (a backstop: a lost message is
    normally found by the queue probe long before)."""
    return now + timedelta(seconds=settings.TRIGGER_REQUEUE_AFTER_SECONDS)
