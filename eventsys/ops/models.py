from django.db import models


class Heartbeat(models.Model):
    """When a background component last proved it was alive (one row per component)."""

    class Component(models.TextChoices):
        BEAT = "beat"
        WORKER = "worker"

    component = models.CharField(max_length=16, choices=Component.choices, primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(component__in=["beat", "worker"]), name="ops_heartbeat_component_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class WorkerInstance(models.Model):
    """One running `celery worker` (its parent process and pool children) and when it was last heard.

    A restart is a new instance (the pid and a random token are part of the name), so the sweeper can
    tell the attempts of a worker that was killed from those of the one that replaced it. Written by
    eventsys/ops/workers.py; rows not heard for a day are deleted when a worker starts.
    """

    instance = models.CharField(max_length=255, primary_key=True)  # "<nodename>:<pid>:<token>"
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.instance} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class HourlyCount(models.Model):
    """How many rows of one dashboard series fell in one UTC hour, split by `key` (a delivery outcome,
    a transaction type, a lateness bucket, …). Written by eventsys/ops/rollup.py for hours that are over,
    so the dashboard reads 24 or 168 small rows per series instead of counting a million log rows, and
    keeps its history after the retention task has deleted the logs themselves."""

    series = models.CharField(max_length=32)
    hour = models.DateTimeField()
    key = models.CharField(max_length=32, blank=True)
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "hour", "key"], name="ops_hourly_once")]
        indexes = [models.Index(fields=["hour"], name="ops_hourly_hour")]

    def __str__(self) -> str:
        return f"{self.series} {self.key} @ {self.hour:%Y-%m-%d %H:00}: {self.count}"


class RollupMark(models.Model):
    """The first hour the roll-up has not written: hours before it are read from HourlyCount, the rest
    are counted from the source tables (a stalled beat makes the dashboard slower, never wrong)."""

    name = models.CharField(max_length=32, primary_key=True)
    through = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} through {self.through:%Y-%m-%d %H:00}"


class IdempotentRequest(models.Model):
    """A create sent with an `Idempotency-Key` header, and the answer it got: a resend with the same key
    and body within IDEMPOTENCY_KEY_HOURS is answered the same, without doing it again
    (eventsys/api/idempotency.py)."""

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

    scope = models.CharField(max_length=64)  # whose key: "user:<id>", or "anonymous:<request hash>" on public routes
    key = models.CharField(max_length=255)
    route = models.CharField(max_length=300)  # "POST /api/v1/triggers/": a key names one request
    request_hash = models.CharField(max_length=64)  # SHA-256 of the route, query string and body
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="ops_idempotency_key_once")]
        indexes = [models.Index(fields=["created_at"], name="ops_idempotency_created")]  # retention

    def __str__(self) -> str:
        return f"{self.route} {self.key} ({self.state})"
