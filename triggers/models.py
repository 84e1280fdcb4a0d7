import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Trigger(models.Model):
    """A user's trigger: a schedule, and for `api` triggers a JSON payload POSTed to a URL."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled"  # fires and logs; delivers nothing
        API = "api"  # POSTs api_payload to api_endpoint

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"
        COMPLETED = "completed"  # a one-off that fired, or past its end or run limit
        DISABLED = "disabled"  # deliveries kept failing; see disabled_reason

    class ScheduleType(models.TextChoices):
        ONE_OFF = "one_off"
        INTERVAL = "interval"
        CRON = "cron"

    class IntervalUnit(models.TextChoices):
        SECONDS = "seconds"
        MINUTES = "minutes"
        HOURS = "hours"

    class MisfirePolicy(models.TextChoices):
        FIRE_ONCE = "fire_once"  # slots missed during downtime are coalesced into one firing
        SKIP = "skip"  # a slot later than the grace period is logged as skipped, not fired

    class AlertState(models.TextChoices):
        OK = "ok"
        LATE = "late"  # its latest scheduled slot was logged more than late_after_seconds after it was due
        FAILING = "failing"  # failing_after or more deliveries in a row failed

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    schedule_type = models.CharField(max_length=16, choices=ScheduleType.choices)
    schedule_time = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The first possible run: a one-off's instant, an interval's first run, no cron slot before it",
    )
    interval = models.PositiveIntegerField(null=True, blank=True)
    interval_unit = models.CharField(max_length=8, choices=IntervalUnit.choices, default=IntervalUnit.MINUTES)
    cron = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA zone the cron expression is read in")
    end_at = models.DateTimeField(null=True, blank=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    misfire_policy = models.CharField(max_length=16, choices=MisfirePolicy.choices, default=MisfirePolicy.FIRE_ONCE)
    api_endpoint = models.URLField(max_length=2000, blank=True)
    api_payload = models.JSONField(null=True, blank=True)
    signing_secret = models.CharField(max_length=64)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=500, blank=True)
    # Lateness and failure notifications (triggers/services/notify.py): the owner is told at notify_email
    # and/or notify_url when alert_state changes, never again while it stays.
    notify_email = models.EmailField(
        blank=True, help_text="Told when the trigger turns late or failing, and when it recovers"
    )
    notify_url = models.URLField(
        max_length=2000, blank=True, help_text="POSTed a signed JSON notice on the same changes as notify_email"
    )
    late_after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="A slot logged more than this after it was due makes the trigger late"
    )
    failing_after = models.PositiveIntegerField(
        null=True, blank=True, help_text="This many failed deliveries in a row make the trigger failing"
    )
    alert_state = models.CharField(
        max_length=16, choices=AlertState.choices, default=AlertState.OK, db_default=AlertState.OK
    )
    alert_changed_at = models.DateTimeField(null=True, blank=True)
    # The notice of the latest change until a worker takes it (notify.py): one lost with the broker is
    # published again by the watchdog; a copy that arrives after another took it sends nothing.
    alert_notice = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not stored: set by the services when the webhook's host did not resolve as it was saved (a warning
    # for the answer; every delivery checks again).
    destination_warning: str | None = None
    notify_url_warning: str | None = None  # the same, for notify_url

    class Meta:
        indexes = [
            # the dispatcher: active triggers with next_run_at <= now, oldest first
            models.Index(fields=["next_run_at"], condition=Q(status="active"), name="triggers_due"),
            # the owner's list: triggers_visible_to(user).order_by("-created_at")
            models.Index(fields=["owner", "-created_at"], name="triggers_owner_created"),
            # notices_resend_owed: changes whose notice no worker has taken
            models.Index(
                fields=["alert_changed_at"], condition=Q(alert_notice__isnull=False), name="triggers_notice_owed"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["scheduled", "api"]), name="triggers_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "paused", "completed", "disabled"]), name="triggers_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(schedule_type__in=["one_off", "interval", "cron"]), name="triggers_schedule_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(interval_unit__in=["seconds", "minutes", "hours"]), name="triggers_interval_unit_valid"
            ),
            models.CheckConstraint(
                condition=Q(misfire_policy__in=["fire_once", "skip"]), name="triggers_misfire_policy_valid"
            ),
            models.CheckConstraint(condition=~Q(kind="api") | ~Q(api_endpoint=""), name="triggers_api_has_endpoint"),
            models.CheckConstraint(
                condition=~Q(schedule_type="interval") | Q(interval__gt=0, schedule_time__isnull=False),
                name="triggers_interval_shape",
            ),
            models.CheckConstraint(
                condition=~Q(schedule_type="one_off") | Q(schedule_time__isnull=False), name="triggers_one_off_shape"
            ),
            models.CheckConstraint(condition=~Q(schedule_type="cron") | ~Q(cron=""), name="triggers_cron_shape"),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(next_run_at__isnull=False), name="triggers_active_has_next_run"
            ),
            models.CheckConstraint(
                condition=Q(alert_state__in=["ok", "late", "failing"]), name="triggers_alert_state_valid"
            ),
            # A threshold needs somewhere to send its notices.
            models.CheckConstraint(
                condition=Q(late_after_seconds__isnull=True, failing_after__isnull=True)
                | ~Q(notify_email="")
                | ~Q(notify_url=""),
                name="triggers_threshold_has_recipient",
            ),
            models.CheckConstraint(
                condition=Q(late_after_seconds__isnull=True) | Q(late_after_seconds__gt=0),
                name="triggers_late_after_positive",
            ),
            models.CheckConstraint(
                condition=Q(failing_after__isnull=True) | Q(failing_after__gt=0), name="triggers_failing_after_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def notifies(self) -> bool:
        """Whether a threshold is set (the constraint guarantees a recipient then)."""
        return self.late_after_seconds is not None or self.failing_after is not None

    @property
    def interval_delta(self) -> timedelta | None:
        if self.interval is None:
            return None
        return timedelta(**{self.interval_unit: self.interval})


class ExecutionLog(models.Model):
    """One firing of a trigger (scheduled slot, manual fire or test) and the state of its delivery."""

    class Source(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        TEST = "test"

    class DeliveryStatus(models.TextChoices):
        PENDING = "pending"  # an attempt is due at next_attempt_at, enqueued, or running
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up: a permanent error or attempts exhausted
        SKIPPED = "skipped"  # misfire policy "skip": the slot was too late to fire
        NONE = "none", "no delivery"  # a `scheduled` trigger: nothing to deliver

    class State(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="logs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    scheduled_for = models.DateTimeField(help_text="The slot fired (for manual and test firings: when asked)")
    missed_slots = models.PositiveIntegerField(default=0)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    url = models.URLField(max_length=2000, blank=True)
    payload = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # How many attempts the delivery may make in all; NULL: TRIGGER_DELIVERY_MAX_ATTEMPTS. A re-delivery
    # sets it to one more than made so far (attempt numbers continue under the same delivery id).
    attempt_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    # When the next attempt is due; NULL while an attempt runs (the claim clears it).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # An enqueued or running attempt owns the row until then at the latest; afterwards the sweeper
    # re-enqueues (a backstop: see deliveries_requeue for how a crash is recovered sooner).
    lease_until = models.DateTimeField(null=True, blank=True)
    # The worker instance (eventsys.ops.WorkerInstance) running the current attempt; "" while the
    # delivery waits or is enqueued, and for an attempt claimed outside a worker.
    lease_holder = models.CharField(max_length=255, blank=True, default="", db_default="")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)  # the dispatcher passes the database's clock
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # /api/v1/event-logs/: the owner's logs, newest first
            models.Index(fields=["owner", "-created_at", "-id"], name="triggers_log_owner_created"),
            # /api/v1/triggers/{id}/logs/
            models.Index(fields=["trigger", "-created_at", "-id"], name="triggers_log_trigger_created"),
            # the sweeper: pending deliveries whose attempt is due or whose lease ran out
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="triggers_log_attempt_due"),
            models.Index(fields=["lease_until"], condition=Q(status="pending"), name="triggers_log_lease"),
            # retention: archive active logs by age, delete any log by age
            models.Index(fields=["created_at"], condition=Q(state="active"), name="triggers_log_to_archive"),
            models.Index(fields=["created_at"], name="triggers_log_created"),
        ]
        constraints = [
            # Two dispatchers can race for the same slot; this makes the second insert a no-op.
            models.UniqueConstraint(
                fields=["trigger", "scheduled_for"], condition=Q(source="schedule"), name="triggers_log_once_per_slot"
            ),
            models.CheckConstraint(condition=Q(source__in=["schedule", "manual", "test"]), name="triggers_log_source"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed", "skipped", "none"]),
                name="triggers_log_status",
            ),
            models.CheckConstraint(condition=Q(state__in=["active", "archived"]), name="triggers_log_state"),
        ]

    def __str__(self) -> str:
        return f"{self.trigger_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} ({self.source}, {self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a log's delivery: every attempt is recorded."""

    log = models.ForeignKey(ExecutionLog, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    outcome = models.CharField(max_length=16)  # delivered | retry | failed (eventsys.http.Outcome.kind)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)
    # [name, value] pairs as eventsys.http.Outcome records them: secrets redacted, response headers bounded.
    request_headers = models.JSONField(default=list, blank=True)
    response_headers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["log", "number"]
        constraints = [models.UniqueConstraint(fields=["log", "number"], name="triggers_attempt_number_once")]

    def __str__(self) -> str:
        return f"attempt {self.number} of log {self.log_id}: {self.outcome}"


class DeliveryQueueMark(models.Model):
    """How far the delivery queue has been consumed: the send time of the newest queue probe a worker
    has run. Every message published before that probe was taken from the queue by then (queues are
    FIFO), so a delivery enqueued well before it and still not taken was lost (deliveries_requeue)."""

    queue = models.CharField(max_length=200, primary_key=True)
    consumed_through = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue} consumed through {self.consumed_through:%Y-%m-%d %H:%M:%S}"


class DispatcherWatch(models.Model):
    """What the watchdog (triggers/services/watchdog.py) last told staff about the dispatcher: one row.

    The e-mail goes out on a change only: a conditional UPDATE of `stopped` makes exactly one watchdog
    run (of any number running at once) send it."""

    name = models.CharField(max_length=32, primary_key=True)
    stopped = models.BooleanField(default=False)
    detail = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {'stopped' if self.stopped else 'running'} since {self.changed_at:%Y-%m-%d %H:%M:%S}"
