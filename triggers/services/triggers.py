"""Trigger lifecycle: create, update, pause, resume, delete, fire by hand, test, rotate the secret."""

import json
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from eventsys import clock
from eventsys.api.errors import Conflict
from eventsys.http import ForbiddenDestination, validate_destination_url
from eventsys.service_arguments import reject_unknown_fields
from triggers.models import ExecutionLog, Trigger
from triggers.schedules import Cron, Interval, InvalidSchedule, OneOff, Schedule, bounded, starting
from triggers.services.delivery import delivery_attempt_record, delivery_send, enqueue_lease_until
from triggers.services.enqueue import enqueue_deliveries_on_commit

SCHEDULE_FIELDS = {
    "schedule_type",
    "schedule_time",
    "interval",
    "interval_unit",
    "cron",
    "timezone",
    "end_at",
    "max_runs",
}
_TICK = timedelta(microseconds=1)
# The name of a trigger created without one (the original service's triggers had no names).
UNTITLED = "Untitled trigger"
NOTIFY_FIELDS = {"notify_email", "notify_url", "late_after_seconds", "failing_after"}
EDITABLE_FIELDS = SCHEDULE_FIELDS | NOTIFY_FIELDS | {"name", "kind", "api_endpoint", "api_payload", "misfire_policy"}
# The longest lateness threshold: a week (a slot later than that is better caught by the watchdog).
LATE_AFTER_MAX_SECONDS = 7 * 24 * 3600


class TriggerCompleted(Conflict):
    code = "trigger_completed"
    default_detail = "The trigger has completed; change its schedule to run it again."


def triggers_visible_to(user) -> QuerySet[Trigger]:
    return Trigger.objects.filter(owner=user)


def execution_logs_visible_to(user) -> QuerySet[ExecutionLog]:
    return ExecutionLog.objects.filter(owner=user)


def trigger_schedule(trigger: Trigger) -> Schedule:
    """The trigger's schedule, from its `schedule_time` (the first possible run of every kind: no cron
    slot fires before it, as APScheduler's start_date) to its end time. Raises InvalidSchedule."""
    try:
        if trigger.schedule_type == Trigger.ScheduleType.ONE_OFF:
            schedule: Schedule = OneOff(trigger.schedule_time)
        elif trigger.schedule_type == Trigger.ScheduleType.INTERVAL:
            schedule = Interval(trigger.schedule_time, trigger.interval_delta)
        else:
            schedule = starting(Cron(trigger.cron, trigger.timezone), start_at=trigger.schedule_time)
        return bounded(schedule, end_at=trigger.end_at)
    except OverflowError:
        raise InvalidSchedule("The schedule reaches past the year 9999.") from None


def trigger_upcoming(trigger: Trigger, count: int = 5) -> list[datetime]:
    """The next `count` firing times of an active trigger (UTC), honouring end time and run limit."""
    if trigger.status != Trigger.Status.ACTIVE or trigger.next_run_at is None:
        return []
    if trigger.max_runs is not None:
        count = min(count, max(trigger.max_runs - trigger.run_count, 0))
    if count == 0:
        return []
    schedule = trigger_schedule(trigger)
    return [trigger.next_run_at, *schedule.upcoming(trigger.next_run_at, count - 1)]


def _validate(
    trigger: Trigger,
    *,
    now: datetime,
    check_destination: bool,
    check_notify_url: bool = True,
    check_schedule: bool = True,
    keep_overdue: datetime | None = None,
) -> None:
    """Every rule a trigger must satisfy before it is stored; errors name the field.

    With `check_schedule`, the schedule is validated and an active trigger's next run recomputed from
    `now`; `keep_overdue`, a slot already due under the old schedule, is kept when the new schedule
    still has it, so editing a trigger never loses a firing that is late.
    """
    errors: dict[str, list[str]] = {}
    if trigger.kind == Trigger.Kind.API:
        if not trigger.api_endpoint:
            errors["api_endpoint"] = ["This field is required for api triggers."]
        elif check_destination:
            try:
                trigger.destination_warning = validate_destination_url(trigger.api_endpoint)
            except ForbiddenDestination as exc:
                errors["api_endpoint"] = [str(exc)]
    if trigger.notify_url and check_notify_url:
        try:
            trigger.notify_url_warning = validate_destination_url(trigger.notify_url)
        except ForbiddenDestination as exc:
            errors["notify_url"] = [str(exc)]
    _validate_thresholds(trigger, errors)
    if trigger.api_payload is not None:
        size = len(json.dumps(trigger.api_payload, separators=(",", ":")).encode())
        if size > settings.TRIGGER_MAX_PAYLOAD_BYTES:
            errors["api_payload"] = [f"The payload is {size} bytes; at most {settings.TRIGGER_MAX_PAYLOAD_BYTES}."]
    schedule = None
    if check_schedule:
        try:
            schedule = trigger_schedule(trigger)
        except InvalidSchedule as exc:
            field = "timezone" if "time zone" in str(exc).lower() else _schedule_field(trigger)
            errors.setdefault(field, []).append(str(exc))
    if schedule is not None and trigger.status == Trigger.Status.ACTIVE:
        first = schedule.next_after(now - _TICK)
        overdue = keep_overdue is not None and keep_overdue <= now
        if overdue and schedule.next_after(keep_overdue - _TICK) == keep_overdue:
            first = keep_overdue
        if first is None:
            if trigger.schedule_type == Trigger.ScheduleType.ONE_OFF:
                errors.setdefault("schedule_time", []).append("A one-off trigger must be scheduled in the future.")
            else:
                errors.setdefault("end_at", []).append("The trigger would never fire before its end time.")
        trigger.next_run_at = first
    if errors:
        raise ValidationError(errors)
    limit_reached = trigger.max_runs is not None and trigger.run_count >= trigger.max_runs
    if trigger.status == Trigger.Status.ACTIVE and limit_reached:
        trigger.status, trigger.next_run_at = Trigger.Status.COMPLETED, None
    trigger.full_clean(exclude=["owner", "signing_secret"])


def _validate_thresholds(trigger: Trigger, errors: dict[str, list[str]]) -> None:
    """A threshold needs a recipient; failing_after is reachable only below the disabling count."""
    if trigger.notifies and not (trigger.notify_email or trigger.notify_url):
        for name in ("late_after_seconds", "failing_after"):
            if getattr(trigger, name) is not None:
                errors.setdefault(name, []).append("Set notify_email or notify_url to be told.")
    if trigger.late_after_seconds is not None and not 1 <= trigger.late_after_seconds <= LATE_AFTER_MAX_SECONDS:
        errors.setdefault("late_after_seconds", []).append(f"Between 1 and {LATE_AFTER_MAX_SECONDS} seconds.")
    limit = settings.TRIGGER_DISABLE_AFTER_FAILURES
    if trigger.failing_after is not None and not 1 <= trigger.failing_after <= limit:
        errors.setdefault("failing_after", []).append(
            f"Between 1 and {limit}: after {limit} failed deliveries in a row the trigger is disabled "
            "(TRIGGER_DISABLE_AFTER_FAILURES)."
        )


def _alert_state_follow_thresholds(trigger: Trigger, now: datetime) -> None:
    """A threshold switched off ends the state it caused, silently (nobody asked to be told any more)."""
    cleared = (trigger.alert_state == Trigger.AlertState.LATE and trigger.late_after_seconds is None) or (
        trigger.alert_state == Trigger.AlertState.FAILING and trigger.failing_after is None
    )
    if cleared:
        trigger.alert_state, trigger.alert_changed_at, trigger.alert_notice = Trigger.AlertState.OK, now, None


def _schedule_field(trigger: Trigger) -> str:
    return {"one_off": "schedule_time", "interval": "interval", "cron": "cron"}[trigger.schedule_type]


def trigger_create(*, owner, now: datetime | None = None, **fields) -> Trigger:
    """Create an active trigger and compute its first run (UTC). `fields` are Trigger's editable fields.

    An omitted `name` is UNTITLED.
    """
    reject_unknown_fields(fields, EDITABLE_FIELDS, "trigger_create")
    fields.setdefault("name", UNTITLED)
    trigger = Trigger(owner=owner, signing_secret=_new_secret(), **fields)
    _validate(trigger, now=now or clock.database_now(), check_destination=True)
    trigger.save()
    return trigger


@transaction.atomic
def trigger_update(*, trigger: Trigger, now: datetime | None = None, **changes) -> Trigger:
    """Change a trigger. A new schedule recomputes the next run and revives a completed trigger."""
    reject_unknown_fields(changes, EDITABLE_FIELDS, "trigger_update")
    trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
    before = (trigger.kind, trigger.api_endpoint, trigger.next_run_at, trigger.notify_url)
    for name, value in changes.items():
        setattr(trigger, name, value)
    schedule_changed = bool(SCHEDULE_FIELDS & set(changes))
    if schedule_changed and trigger.status == Trigger.Status.COMPLETED:
        trigger.status = Trigger.Status.ACTIVE
    now = now or clock.database_now()
    _validate(
        trigger,
        now=now,
        check_destination=(trigger.kind, trigger.api_endpoint) != before[:2],
        check_notify_url=trigger.notify_url != before[3],
        check_schedule=schedule_changed,
        keep_overdue=before[2],
    )
    _alert_state_follow_thresholds(trigger, now)
    trigger.save()
    return trigger


@transaction.atomic
def trigger_pause(*, trigger: Trigger) -> Trigger:
    trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
    if trigger.status == Trigger.Status.COMPLETED:
        raise TriggerCompleted()
    trigger.status = Trigger.Status.PAUSED
    trigger.next_run_at = None
    trigger.save(update_fields=["status", "next_run_at", "updated_at"])
    return trigger


@transaction.atomic
def trigger_resume(*, trigger: Trigger, now: datetime | None = None) -> Trigger:
    """Reactivate a paused or disabled trigger from now on: slots passed meanwhile are not fired.

    A trigger whose schedule ended meanwhile (a one-off whose time passed) becomes completed.
    """
    trigger = Trigger.objects.select_for_update().get(pk=trigger.pk)
    if trigger.status == Trigger.Status.COMPLETED:
        raise TriggerCompleted()
    if trigger.status == Trigger.Status.ACTIVE:
        return trigger
    now = now or clock.database_now()
    trigger.consecutive_failures = 0
    trigger.disabled_reason = ""
    try:
        ended = trigger_schedule(trigger).next_after(now - _TICK) is None
    except InvalidSchedule:
        ended = False  # _validate reports it on its field
    trigger.status = Trigger.Status.COMPLETED if ended else Trigger.Status.ACTIVE
    if ended:
        trigger.next_run_at = None
    else:
        _validate(trigger, now=now, check_destination=False, check_notify_url=False)
    trigger.save()
    return trigger


def trigger_delete(*, trigger: Trigger) -> None:
    trigger.delete()


@transaction.atomic
def trigger_rotate_secret(*, trigger: Trigger) -> str:
    """Replace the signing secret; returns the new one (shown once)."""
    secret = _new_secret()
    Trigger.objects.filter(pk=trigger.pk).update(signing_secret=secret, updated_at=timezone.now())
    trigger.signing_secret = secret
    return secret


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def new_execution_log(
    trigger: Trigger, *, source: str, scheduled_for: datetime, now: datetime, **extra
) -> ExecutionLog:
    """An unsaved log of one firing, with a snapshot of what its delivery will send."""
    delivers = trigger.kind == Trigger.Kind.API
    return ExecutionLog(
        trigger=trigger,
        owner_id=trigger.owner_id,
        source=source,
        scheduled_for=scheduled_for,
        status=ExecutionLog.DeliveryStatus.PENDING if delivers else ExecutionLog.DeliveryStatus.NONE,
        url=trigger.api_endpoint if delivers else "",
        payload=(trigger.api_payload if trigger.api_payload is not None else {}) if delivers else None,
        created_at=now,
        completed_at=None if delivers else now,
        **extra,
    )


@transaction.atomic
def trigger_fire(*, trigger: Trigger, now: datetime | None = None) -> ExecutionLog:
    """Fire now, outside the schedule: logged as manual; the schedule and run count are unchanged."""
    now = now or clock.database_now()
    log = new_execution_log(trigger, source=ExecutionLog.Source.MANUAL, scheduled_for=now, now=now)
    if log.status == ExecutionLog.DeliveryStatus.PENDING:
        log.next_attempt_at = now
        log.lease_until = enqueue_lease_until(now)
    log.save()
    Trigger.objects.filter(pk=trigger.pk).update(last_run_at=now)
    if log.status == ExecutionLog.DeliveryStatus.PENDING:
        enqueue_deliveries_on_commit([log.delivery_id])
    return log


def trigger_test(*, trigger: Trigger, now: datetime | None = None) -> ExecutionLog:
    """Run the trigger once, synchronously, as a test: a real signed request for api triggers.

    Logged with source `test`; not counted as a run, not retried, never disables the trigger.
    """
    now = now or clock.database_now()
    log = new_execution_log(trigger, source=ExecutionLog.Source.TEST, scheduled_for=now, now=now)
    if log.status != ExecutionLog.DeliveryStatus.PENDING:
        log.save()
        return log
    outcome = delivery_send(log=log)
    log.attempts = 1
    log.status = ExecutionLog.DeliveryStatus.DELIVERED if outcome.delivered else ExecutionLog.DeliveryStatus.FAILED
    log.response_status = outcome.status_code
    log.latency_ms = outcome.latency_ms
    log.error = outcome.error[:500]
    log.response_excerpt = outcome.response_excerpt
    log.completed_at = now + timedelta(milliseconds=outcome.latency_ms)
    with transaction.atomic():
        log.save()
        delivery_attempt_record(log=log, outcome=outcome, started_at=now)
    return log
