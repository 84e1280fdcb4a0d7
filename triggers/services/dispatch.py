"""The dispatcher: claim due triggers, log each slot once, advance the schedule, enqueue delivery."""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min

from eventsys import clock
from triggers.models import ExecutionLog, Trigger
from triggers.schedules import InvalidSchedule, Schedule
from triggers.services.delivery import enqueue_lease_until
from triggers.services.enqueue import enqueue_deliveries_on_commit
from triggers.services.notify import lateness_evaluate
from triggers.services.triggers import new_execution_log, trigger_schedule

logger = logging.getLogger(__name__)

ENQUEUE_EVERY = 10_000
# A round that found its due rows locked by another dispatcher waits this long before looking again.
_CONTENDED_PAUSE = 0.05


@dataclass
class DispatchResult:
    fired: int = 0
    skipped: int = 0
    batches: int = 0

    def add(self, other: "DispatchResult") -> None:
        self.fired += other.fired
        self.skipped += other.skipped
        self.batches += other.batches


def dispatch_due_until(*, deadline: datetime, sleep: Callable[[float], None] = time.sleep) -> DispatchResult:
    """Fire what is due now, then each later slot at its own time, until `deadline`.

    Beat sends the dispatch task once a second; on its own, a slot would then fire up to a second
    late. Between rounds the dispatcher sleeps until the next due slot (the triggers_due index
    answers that in one look-up) and stops when the next one lies past `deadline`.
    """
    result = dispatch_due()
    while True:
        now = clock.database_now()
        upcoming = Trigger.objects.filter(status=Trigger.Status.ACTIVE, next_run_at__isnull=False).aggregate(
            first=Min("next_run_at")
        )["first"]
        if upcoming is None or upcoming > deadline:
            _log_outcome(result)
            return result
        if upcoming > now:
            sleep((upcoming - now).total_seconds())
        round_result = dispatch_due()
        result.add(round_result)
        if round_result.batches == 0:
            sleep(_CONTENDED_PAUSE)  # another dispatcher holds those rows: let it commit


# Beat sends the dispatch task every second: a run that fired nothing is counted, not logged, and the
# count is logged (DEBUG) at most once every IDLE_SUMMARY_SECONDS per process.
IDLE_SUMMARY_SECONDS = 60
_idle = {"runs": 0, "since": time.monotonic()}


def _log_outcome(result: DispatchResult) -> None:
    if result.fired or result.skipped:
        logger.info("dispatched: %d fired, %d skipped", result.fired, result.skipped)
        return
    _idle["runs"] += 1
    elapsed = time.monotonic() - _idle["since"]
    if elapsed >= IDLE_SUMMARY_SECONDS:
        logger.debug("dispatcher: %d runs with nothing due in the last %d s", _idle["runs"], elapsed)
        _idle.update(runs=0, since=time.monotonic())


@dataclass
class _Due:
    """The columns of a claimed trigger the dispatcher needs; cheaper to load than the model."""

    id: int
    kind: str
    schedule_type: str
    schedule_time: datetime | None
    interval: int | None
    interval_unit: str
    cron: str
    timezone: str
    end_at: datetime | None
    max_runs: int | None
    misfire_policy: str
    next_run_at: datetime
    run_count: int
    # For lateness notices (notify.py): read with the claim, so a batch without thresholds costs nothing.
    late_after_seconds: int | None
    alert_state: str

    @property
    def interval_delta(self) -> timedelta | None:
        return None if self.interval is None else timedelta(**{self.interval_unit: self.interval})

    @property
    def schedule_key(self) -> tuple:
        return (
            self.schedule_type,
            self.schedule_time,
            self.interval,
            self.interval_unit,
            self.cron,
            self.timezone,
            self.end_at,
        )


_DUE_COLUMNS = [name for name in _Due.__dataclass_fields__]


@dataclass
class _Firing:
    """What the dispatcher decided for one claimed trigger."""

    trigger_id: int
    kind: str
    scheduled_for: datetime
    missed_slots: int
    fired: bool
    next_run_at: datetime | None


def dispatch_due(
    *, now: datetime | None = None, batch_size: int | None = None, max_batches: int = 200
) -> DispatchResult:
    """Fire every active trigger due at `now` (default: the database's clock), in batches.

    Each batch is one transaction: rows are claimed with FOR UPDATE SKIP LOCKED, so dispatchers
    running side by side split the work instead of waiting for or repeating each other.
    """
    batch_size = batch_size or settings.TRIGGER_DISPATCH_BATCH
    result = DispatchResult()
    # Deliveries are enqueued once a burst is logged (or every ENQUEUE_EVERY), not after each batch:
    # workers that start delivering at once would take the CPU the rest of the burst needs to be logged.
    committed: list[uuid.UUID] = []
    try:
        for _ in range(max_batches):
            claimed, fired, skipped, pending = _dispatch_batch(now=now or clock.database_now(), batch_size=batch_size)
            committed.extend(pending)
            result.fired += fired
            result.skipped += skipped
            result.batches += claimed > 0
            if len(committed) >= ENQUEUE_EVERY:
                enqueue_deliveries_on_commit(committed)
                committed = []
            if claimed < batch_size:
                break
    finally:
        enqueue_deliveries_on_commit(committed)  # what committed before a failure is delivered too
    return result


@transaction.atomic
def _dispatch_batch(*, now: datetime, batch_size: int) -> tuple[int, int, int, list[uuid.UUID]]:
    """(rows claimed, fired, skipped, delivery ids to enqueue once committed) for one batch."""
    due = [
        _Due(*row)
        for row in Trigger.objects.select_for_update(skip_locked=True)
        .filter(status=Trigger.Status.ACTIVE, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list(*_DUE_COLUMNS)[:batch_size]
    ]
    if not due:
        return 0, 0, 0, []
    grace = timedelta(seconds=settings.TRIGGER_MISFIRE_GRACE_SECONDS)
    # Triggers due together usually share their schedule: build and walk each distinct one once.
    schedules: dict[tuple, Schedule | InvalidSchedule] = {}
    decisions: dict[tuple, tuple[datetime, int, bool, datetime | None]] = {}
    firings: list[_Firing] = []
    watched: list[tuple[int, str, int, datetime]] = []  # triggers with a lateness threshold
    for trigger in due:
        key = trigger.schedule_key
        if key not in schedules:
            try:
                schedules[key] = trigger_schedule(trigger)
            except InvalidSchedule as exc:  # e.g. a time zone that vanished from the tz database
                schedules[key] = exc
        schedule = schedules[key]
        if isinstance(schedule, InvalidSchedule):
            Trigger.objects.filter(pk=trigger.id).update(
                status=Trigger.Status.DISABLED,
                next_run_at=None,
                disabled_reason=f"Invalid schedule: {schedule}"[:500],
                updated_at=now,
            )
            continue
        decision_key = (key, trigger.next_run_at, trigger.misfire_policy)
        if decision_key not in decisions:
            decisions[decision_key] = _decide(schedule, trigger, now=now, grace=grace)
        slot, missed, fire, next_run = decisions[decision_key]
        if trigger.max_runs is not None and trigger.run_count + fire >= trigger.max_runs:
            next_run = None
        firings.append(_Firing(trigger.id, trigger.kind, slot, missed, fire, next_run))
        if trigger.late_after_seconds is not None:
            watched.append((trigger.id, trigger.alert_state, trigger.late_after_seconds, slot))
    pending = _insert_logs(firings, now=now)
    _save_advanced(firings, now=now)
    if watched:
        # The rows are locked by this batch: the states read with the claim are current. One UPDATE, and
        # only when a state changes; notices are published once the batch commits.
        lateness_evaluate(watched, now=now)
    fired = sum(firing.fired for firing in firings)
    return len(due), fired, len(firings) - fired, pending


def _decide(schedule: Schedule, trigger: _Due, *, now: datetime, grace: timedelta):
    """(slot logged, slots missed, fire or skip, next run) for a trigger due at `trigger.next_run_at`."""
    slot = trigger.next_run_at
    due_slots = max(schedule.count_between(slot, now), 1)
    if trigger.misfire_policy == Trigger.MisfirePolicy.SKIP:
        # Slots missed during downtime are skipped; the latest still fires if it is within the grace.
        recent = _latest_slot_since(schedule, max(slot, now - grace), now)
        fire = recent is not None
        slot = recent or slot
    else:
        fire = True  # fire_once: every due slot coalesced into one firing
    return slot, due_slots - 1 if fire else due_slots, fire, schedule.next_after(now)


def _latest_slot_since(schedule, start: datetime, now: datetime) -> datetime | None:
    """The last firing instant in [start, now], or None. The window is short (the misfire grace)."""
    latest = None
    instant = schedule.next_after(start - timedelta(microseconds=1))
    while instant is not None and instant <= now:
        latest = instant
        instant = schedule.next_after(instant)
    return latest


def _insert_logs(firings: list[_Firing], *, now: datetime) -> list[uuid.UUID]:
    """Store one schedule log per firing; returns the delivery ids of the logs awaiting delivery.

    A second claim of the same slot (a dispatcher that read the row before this one committed)
    conflicts on triggers_log_once_per_slot and is dropped instead of failing the batch.
    """
    if not firings:
        return []
    lease_until = enqueue_lease_until(now)
    if connection.vendor == "postgresql":
        return _insert_logs_postgresql(firings, now=now, lease_until=lease_until)
    triggers = Trigger.objects.in_bulk([firing.trigger_id for firing in firings])
    logs = []
    for firing in firings:
        log = new_execution_log(
            triggers[firing.trigger_id],
            source=ExecutionLog.Source.SCHEDULE,
            scheduled_for=firing.scheduled_for,
            now=now,
            missed_slots=firing.missed_slots,
        )
        _settle(log, fired=firing.fired, now=now, lease_until=lease_until)
        logs.append(log)
    ExecutionLog.objects.bulk_create(logs, ignore_conflicts=True)
    pending = [log.delivery_id for log in logs if log.status == ExecutionLog.DeliveryStatus.PENDING]
    # Only the logs that were stored: a conflicting one was dropped and has nothing to deliver.
    return list(ExecutionLog.objects.filter(delivery_id__in=pending).values_list("delivery_id", flat=True))


def _settle(log: ExecutionLog, *, fired: bool, now: datetime, lease_until: datetime) -> None:
    """A skipped slot is closed at once; a fired one awaiting delivery is due now, leased to the enqueue."""
    if not fired:
        log.status = ExecutionLog.DeliveryStatus.SKIPPED
        log.completed_at = now
        log.payload = None
    elif log.status == ExecutionLog.DeliveryStatus.PENDING:
        log.next_attempt_at = now
        log.lease_until = lease_until


def _insert_logs_postgresql(firings: list[_Firing], *, now: datetime, lease_until: datetime) -> list[uuid.UUID]:
    """The same rows as `new_execution_log` + `_settle`, in one INSERT … SELECT that copies each
    trigger's URL and payload inside the database: no model instances, no JSON round trip."""
    statuses, next_attempts, leases, completions, keep_payload = [], [], [], [], []
    for firing in firings:
        delivers = firing.kind == Trigger.Kind.API
        if not firing.fired:
            statuses.append(ExecutionLog.DeliveryStatus.SKIPPED)
        else:
            statuses.append(ExecutionLog.DeliveryStatus.PENDING if delivers else ExecutionLog.DeliveryStatus.NONE)
        pending = statuses[-1] == ExecutionLog.DeliveryStatus.PENDING
        next_attempts.append(now if pending else None)
        leases.append(lease_until if pending else None)
        completions.append(None if pending else now)
        keep_payload.append(delivers and firing.fired)
    log_table, trigger_table = ExecutionLog._meta.db_table, Trigger._meta.db_table
    sql = f"""
        INSERT INTO {log_table} (trigger_id, owner_id, source, scheduled_for, missed_slots, delivery_id, status,
            state, url, payload, attempts, next_attempt_at, lease_until, error, response_excerpt, created_at,
            completed_at)
        SELECT t.id, t.owner_id, %s, f.scheduled_for, f.missed_slots, gen_random_uuid(), f.status, %s,
            CASE WHEN t.kind = %s THEN t.api_endpoint ELSE '' END,
            CASE WHEN f.keep_payload THEN COALESCE(t.api_payload, '{{}}'::jsonb) END,
            0, f.next_attempt_at, f.lease_until, '', '', %s, f.completed_at
        FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[], %s::text[], %s::timestamptz[],
                    %s::timestamptz[], %s::timestamptz[], %s::boolean[])
             AS f(trigger_id, scheduled_for, missed_slots, status, next_attempt_at, lease_until, completed_at,
                  keep_payload)
        JOIN {trigger_table} t ON t.id = f.trigger_id
        ON CONFLICT DO NOTHING
        RETURNING delivery_id, status
    """
    params = [
        ExecutionLog.Source.SCHEDULE,
        ExecutionLog.State.ACTIVE,
        Trigger.Kind.API,
        now,
        [firing.trigger_id for firing in firings],
        [firing.scheduled_for for firing in firings],
        [firing.missed_slots for firing in firings],
        statuses,
        next_attempts,
        leases,
        completions,
        keep_payload,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            delivery_id for delivery_id, status in cursor.fetchall() if status == ExecutionLog.DeliveryStatus.PENDING
        ]


def _save_advanced(firings: list[_Firing], *, now: datetime) -> None:
    """Store the advanced schedules with one UPDATE per distinct outcome, not one CASE per row:
    triggers due at the same instant usually share their next run and status."""
    groups: dict[tuple, list[int]] = {}
    for firing in firings:
        groups.setdefault((firing.next_run_at, firing.fired), []).append(firing.trigger_id)
    for (next_run_at, fired), ids in groups.items():
        fields = {
            "next_run_at": next_run_at,
            "status": Trigger.Status.ACTIVE if next_run_at else Trigger.Status.COMPLETED,
            "updated_at": now,
        }
        if fired:
            fields.update(run_count=F("run_count") + 1, last_run_at=now)
        Trigger.objects.filter(pk__in=ids).update(**fields)
