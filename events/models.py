import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Event(models.Model):
    """An event people register for. `seats_taken` and `waitlist_length` are counters kept under the
    event's row lock by the services, so lists show seat counts without counting attendees."""

    organiser = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organised_events")
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA zone the event is held in")
    max_capacity = models.PositiveIntegerField()
    seats_taken = models.PositiveIntegerField(default=0)
    waitlist_length = models.PositiveIntegerField(default=0)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="iCalendar UID")
    sequence = models.PositiveIntegerField(default=0, help_text="iCalendar SEQUENCE: bumped when the times change")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # the public list: upcoming (end_time >= now) or past, ordered by start
            models.Index(fields=["end_time", "start_time"], name="events_event_when"),
            models.Index(fields=["start_time"], name="events_event_start"),
            models.Index(fields=["organiser", "-start_time"], name="events_event_organiser"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="events_event_ends_after_start",
                violation_error_message="The event must end after it starts.",
            ),
            models.CheckConstraint(condition=Q(max_capacity__gte=1), name="events_event_capacity_positive"),
            # The last line of defence against overbooking: no code path can commit more seats.
            models.CheckConstraint(condition=Q(seats_taken__lte=F("max_capacity")), name="events_event_not_overbooked"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def seats_left(self) -> int:
        return max(self.max_capacity - self.seats_taken, 0)


class Attendee(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered"
        WAITLISTED = "waitlisted"
        CANCELLED = "cancelled"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="attendees")
    name = models.CharField(max_length=200)
    email = models.EmailField(help_text="Stored normalised: trimmed and lower-cased")
    status = models.CharField(max_length=16, choices=Status.choices)
    cancel_token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promotion_emailed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the organiser's list and the waiting-list order (first come, first promoted)
            models.Index(fields=["event", "status", "id"], name="events_attendee_event_status"),
        ]
        constraints = [
            # One live registration per e-mail and event; the service turns a violation into 409.
            models.UniqueConstraint(
                fields=["event", "email"], condition=~Q(status="cancelled"), name="events_attendee_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["registered", "waitlisted", "cancelled"]), name="events_attendee_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}> ({self.status})"


class IngestedEvent(models.Model):
    """A JSON event sent to `owner`: by a machine with one of their API tokens (/api/v1/ingest/, the
    legacy /api/event), or by the owner with a JWT on the legacy route (`token` is then empty)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ingested_events")
    token = models.ForeignKey("accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event_type = models.CharField(max_length=100)
    event_payload = models.JSONField(null=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    body_hash = models.CharField(max_length=64, help_text="SHA-256 of the event as sent, for idempotent resends")
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="The sender's claim; not trusted")
    occurred_at_in_future = models.BooleanField(default=False)
    received_at = models.DateTimeField(help_text="The server's clock")

    class Meta:
        indexes = [
            # read back: the owner's events newest first (cursor on id), optionally by type
            models.Index(fields=["owner", "-id"], name="events_ingested_owner"),
            models.Index(fields=["owner", "event_type", "-id"], name="events_ingested_owner_type"),
            # retention: delete by age
            models.Index(fields=["received_at"], name="events_ingested_received"),
        ]
        constraints = [
            # A resend with the same key is recognised; the service answers it as a duplicate.
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="events_ingested_idempotency_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"
