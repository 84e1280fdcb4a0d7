"""The dispatcher: claim due triggers, log each slot once, advance the schedule, enqueue delivery."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from eventsys import clock
from triggers.models import ExecutionLog, Trigger
from triggers.schedules import InvalidSchedule
from triggers.services.delivery import enqueue_lease_until
from triggers.services.enqueue import enqueue_deliveries_on_commit
from triggers.services.triggers import new_execution_log, trigger_schedule


@dataclass
class DispatchResult:
    fired: int = 0
    skipped: int = 0
    batches: int = 0


def dispatch_due(
    *, now: datetime | None = None, batch_size: int | None = None, max_batches: int = 200
) -> DispatchResult:
    """Fire every active trigger due at `now` (default: the database's clock), in batches.

    Each batch is one transaction: rows are claimed with FOR UPDATE SKIP LOCKED, so dispatchers
    running side by side split the work instead of waiting for or repeating each other.
    """
    batch_size = batch_size or settings.TRIGGER_DISPATCH_BATCH
    result = DispatchResult()
    for _ in range(max_batches):
        claimed, fired, skipped = _dispatch_batch(now=now or clock.database_now(), batch_size=batch_size)
        result.fired += fired
        result.skipped += skipped
        result.batches += claimed > 0
        if claimed < batch_size:
            break
    return result


@transaction.atomic
def _dispatch_batch(*, now: datetime, batch_size: int) -> tuple[int, int, int]:
    """(rows claimed, fired, skipped) for one batch."""
    due = list(
        Trigger.objects.select_for_update(skip_locked=True)
        .filter(status=Trigger.Status.ACTIVE, next_run_at__lte=now)
        .order_by("next_run_at")[:batch_size]
    )
    if not due:
        return 0, 0, 0
    grace = timedelta(seconds=settings.TRIGGER_MISFIRE_GRACE_SECONDS)
    lease_until = enqueue_lease_until(now)
    logs, fired, skipped = [], 0, 0
    for trigger in due:
        try:
            schedule = trigger_schedule(trigger)
        except InvalidSchedule as exc:  # e.g. a time zone that vanished from the tz database
            trigger.status, trigger.next_run_at = Trigger.Status.DISABLED, None
            trigger.disabled_reason = f"Invalid schedule: {exc}"[:500]
            trigger.save(update_fields=["status", "next_run_at", "disabled_reason", "updated_at"])
            continue
        slot = trigger.next_run_at
        due_slots = max(schedule.count_between(slot, now), 1)
        if trigger.misfire_policy == Trigger.MisfirePolicy.SKIP:
            # Slots missed during downtime are skipped; the latest still fires if it is within the grace.
            recent = _latest_slot_since(schedule, max(slot, now - grace), now)
            fire = recent is not None
            slot = recent or slot
        else:
            fire = True  # fire_once: every due slot coalesced into one firing
        log = new_execution_log(
            trigger,
            source=ExecutionLog.Source.SCHEDULE,
            scheduled_for=slot,
            now=now,
            missed_slots=due_slots - 1 if fire else due_slots,
        )
        if not fire:
            log.status = ExecutionLog.DeliveryStatus.SKIPPED
            log.completed_at = now
            log.payload = None
            skipped += 1
        else:
            fired += 1
            trigger.run_count += 1
            trigger.last_run_at = now
            if log.status == ExecutionLog.DeliveryStatus.PENDING:
                log.next_attempt_at = now
                log.lease_until = lease_until
        logs.append(log)
        next_run = schedule.next_after(now)
        if trigger.max_runs is not None and trigger.run_count >= trigger.max_runs:
            next_run = None
        trigger.next_run_at = next_run
        trigger.status = Trigger.Status.ACTIVE if next_run else Trigger.Status.COMPLETED
    # A second claim of the same slot (a dispatcher that read the row before this one committed)
    # conflicts on triggers_log_once_per_slot and is dropped here instead of failing the batch.
    ExecutionLog.objects.bulk_create(logs, ignore_conflicts=True)
    _save_advanced(due, now=now)
    enqueue_deliveries_on_commit([log.delivery_id for log in logs if log.status == ExecutionLog.DeliveryStatus.PENDING])
    return len(due), fired, skipped


def _latest_slot_since(schedule, start: datetime, now: datetime) -> datetime | None:
    """The last firing instant in [start, now], or None. The window is short (the misfire grace)."""
    latest = None
    instant = schedule.next_after(start - timedelta(microseconds=1))
    while instant is not None and instant <= now:
        latest = instant
        instant = schedule.next_after(instant)
    return latest


def _save_advanced(triggers: list[Trigger], *, now: datetime) -> None:
    """Store the advanced schedules with one UPDATE per distinct outcome, not one CASE per row:
    triggers due at the same instant usually share their next run and status."""
    groups: dict[tuple, list[int]] = {}
    for trigger in triggers:
        if trigger.status == Trigger.Status.DISABLED:
            continue  # saved where it was disabled
        key = (trigger.next_run_at, trigger.status, trigger.last_run_at == now)
        groups.setdefault(key, []).append(trigger.pk)
    for (next_run_at, status, fired), ids in groups.items():
        fields = {"next_run_at": next_run_at, "status": status, "updated_at": now}
        if fired:
            fields.update(run_count=F("run_count") + 1, last_run_at=now)
        Trigger.objects.filter(pk__in=ids).update(**fields)
