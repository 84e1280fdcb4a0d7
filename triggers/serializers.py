from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from eventsys.api.fields import (
    StorableJSONField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    StrictURLField,
    TimeZoneField,
    WallClockDateTimeField,
    wall_clock_to_utc,
)
from eventsys.api.serializers import ModelSerializer
from triggers.models import DeliveryAttempt, ExecutionLog, Trigger
from triggers.services import trigger_upcoming


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Cron in a time zone",
            request_only=True,
            value={"name": "standup", "trigger_type": "scheduled", "cron": "0 9 * * 1-5", "timezone": "Europe/London"},
        ),
        OpenApiExample(
            "Webhook every 30 minutes",
            request_only=True,
            value={
                "name": "sync",
                "trigger_type": "api",
                "schedule_time": "2030-01-01T09:00:00Z",
                "is_recurring": True,
                "interval": 30,
                "api_endpoint": "https://hooks.example.com/sync",
                "api_payload": {"full": False},
            },
        ),
        OpenApiExample(
            "Told when late or failing",
            request_only=True,
            value={
                "name": "nightly export",
                "trigger_type": "api",
                "cron": "0 2 * * *",
                "api_endpoint": "https://hooks.example.com/export",
                "notify_email": "ops@example.com",
                "notify_url": "https://hooks.example.com/eventsys-alerts",
                "late_after_seconds": 120,
                "failing_after": 3,
            },
        ),
        OpenApiExample(
            "One-off",
            request_only=True,
            value={"name": "launch", "trigger_type": "scheduled", "schedule_time": "2030-01-01T09:00:00Z"},
        ),
    ]
)
class TriggerSerializer(ModelSerializer):
    """The original service's field names, plus cron, time zone, end time, run limit and misfire policy.

    Times without an offset are read in `timezone` (UTC unless given).
    """

    trigger_type = serializers.ChoiceField(source="kind", choices=Trigger.Kind.choices)
    schedule_time = WallClockDateTimeField(required=False, allow_null=True)
    end_at = WallClockDateTimeField(required=False, allow_null=True)
    is_recurring = StrictBooleanField(required=False, default=False)
    interval = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)
    cron = StrictCharField(required=False, allow_blank=True, max_length=120)
    timezone = TimeZoneField(required=False, default="UTC")
    api_endpoint = StrictURLField(required=False, allow_blank=True, max_length=2000)
    api_payload = StorableJSONField(required=False, allow_null=True)
    notify_email = StrictEmailField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="Told by e-mail when the trigger turns late or failing, and when it recovers (once per change).",
    )
    notify_url = StrictURLField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="POSTed a JSON notice signed like deliveries on the same changes: {id, event, trigger, name, "
        "state, previous, reason, at}. Refused on private addresses as api_endpoint is.",
    )
    late_after_seconds = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=604_800,
        help_text="A scheduled slot logged more than this many seconds after it was due makes the trigger `late`; "
        "null: off. Needs notify_email or notify_url.",
    )
    failing_after = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="This many failed deliveries in a row make the trigger `failing` (at most "
        "TRIGGER_DISABLE_AFTER_FAILURES, 5 by default); null: off. Needs notify_email or notify_url.",
    )
    next_runs = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="Accepted, but worth knowing, per field: e.g. a webhook host that did not resolve as it was saved."
    )

    class Meta:
        model = Trigger
        fields = [
            "id",
            "name",
            "trigger_type",
            "schedule_type",
            "schedule_time",
            "is_recurring",
            "interval",
            "interval_unit",
            "cron",
            "timezone",
            "end_at",
            "max_runs",
            "misfire_policy",
            "api_endpoint",
            "api_payload",
            "notify_email",
            "notify_url",
            "late_after_seconds",
            "failing_after",
            "alert_state",
            "alert_changed_at",
            "status",
            "disabled_reason",
            "next_run_at",
            "next_runs",
            "last_run_at",
            "run_count",
            "created_at",
            "warnings",
        ]
        read_only_fields = [
            "id",
            "schedule_type",
            "alert_state",
            "alert_changed_at",
            "status",
            "disabled_reason",
            "next_run_at",
            "last_run_at",
            "run_count",
            "created_at",
        ]
        extra_kwargs = {
            "max_runs": {"min_value": 1},
            "alert_state": {
                "help_text": "`ok`; `late` (the latest scheduled slot was logged later than late_after_seconds); "
                "`failing` (failing_after deliveries in a row failed; outranks late). Each change is notified once."
            },
            "alert_changed_at": {"help_text": "When alert_state last changed; null if it never did."},
        }

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_next_runs(self, obj: Trigger):
        return [serializers.DateTimeField().to_representation(when) for when in trigger_upcoming(obj, 5)]

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=StrictCharField())))
    def get_warnings(self, obj: Trigger) -> dict[str, list[str]]:
        warnings = {}
        if obj.destination_warning:
            warnings["api_endpoint"] = [obj.destination_warning]
        if obj.notify_url_warning:
            warnings["notify_url"] = [obj.notify_url_warning]
        return warnings

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["is_recurring"] = instance.schedule_type != Trigger.ScheduleType.ONE_OFF
        return data

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            # On update an omitted field keeps its value: defaults apply on create only.
            for name in ("is_recurring", "timezone"):
                fields[name].default = serializers.empty
        return fields

    def validate(self, attrs):
        current = self.instance
        if current is not None and current.cron and "cron" not in attrs and ({"interval", "is_recurring"} & set(attrs)):
            attrs["cron"] = ""  # asking for an interval or a one-off replaces the cron expression
        merged = {
            name: attrs.get(name, getattr(current, name, None) if current else None)
            for name in ("schedule_time", "interval", "cron", "timezone", "end_at")
        }
        merged["timezone"] = merged["timezone"] or "UTC"
        if "is_recurring" in attrs:
            is_recurring = attrs.pop("is_recurring")
        else:
            is_recurring = current is not None and current.schedule_type != Trigger.ScheduleType.ONE_OFF
        errors = {}
        if merged["cron"]:
            if attrs.get("interval"):
                errors["cron"] = ["Give either cron or interval, not both."]
            attrs["schedule_type"] = Trigger.ScheduleType.CRON
        elif is_recurring:
            if not merged["interval"]:
                errors["interval"] = ["Required when is_recurring is true (or give cron)."]
            if not merged["schedule_time"]:
                errors["schedule_time"] = ["Required: the first run of a recurring trigger."]
            attrs["schedule_type"] = Trigger.ScheduleType.INTERVAL
        else:
            if not merged["schedule_time"]:
                errors["schedule_time"] = ["Required for a one-off trigger."]
            attrs["schedule_type"] = Trigger.ScheduleType.ONE_OFF
        if errors:
            raise serializers.ValidationError(errors)
        wall_clock_to_utc(attrs, ("schedule_time", "end_at"), ZoneInfo(merged["timezone"]))
        if current is not None and attrs["schedule_type"] == current.schedule_type:
            attrs.pop("schedule_type")  # unchanged: not a schedule change by itself
        return attrs


class TriggerCreatedSerializer(TriggerSerializer):
    signing_secret = StrictCharField(
        read_only=True, help_text="HMAC key for X-Eventsys-Signature. Shown once; rotate with rotate-secret/."
    )

    class Meta(TriggerSerializer.Meta):
        fields = [*TriggerSerializer.Meta.fields, "signing_secret"]


class SigningSecretSerializer(serializers.Serializer):
    signing_secret = StrictCharField(read_only=True)


class RedeliveredSerializer(serializers.Serializer):
    redelivered = StrictIntegerField(read_only=True, help_text="How many failed deliveries were sent again")


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
        "example": [["Content-Type", "application/json"], ["Authorization", "[redacted]"]],
    }
)
class HeaderPairsField(serializers.JSONField):
    """HTTP headers as stored on an attempt: [name, value] pairs in order, a repeated header repeated."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)


class DeliveryAttemptSerializer(ModelSerializer):
    request_headers = HeaderPairsField(
        help_text="The headers sent (Host, User-Agent and the signature included); secret values read [redacted]."
    )
    response_headers = HeaderPairsField(
        help_text="The receiver's headers: at most 50, values cut to 500 characters, secret values (Set-Cookie) "
        "read [redacted]; empty when no response came."
    )

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "outcome",
            "response_status",
            "latency_ms",
            "error",
            "response_excerpt",
            "request_headers",
            "response_headers",
        ]
        read_only_fields = fields


def _seconds_between(start, end) -> float | None:
    return None if start is None or end is None else round(max((end - start).total_seconds(), 0.0), 3)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A scheduled firing logged 0.4 s and delivered 1.2 s after its slot",
            response_only=True,
            value={
                "id": 812,
                "trigger_id": 42,
                "source": "schedule",
                "scheduled_for": "2030-01-01T09:00:00Z",
                "missed_slots": 0,
                "delivery_id": "0b5c1f7e-3d4a-4f0e-9a51-6c2b7d8e9f01",
                "status": "delivered",
                "state": "active",
                "url": "https://hooks.example.com/sync",
                "payload": {"full": False},
                "attempts": 1,
                "next_attempt_at": None,
                "response_status": 200,
                "latency_ms": 640,
                "error": "",
                "response_excerpt": "ok",
                "created_at": "2030-01-01T09:00:00.400000Z",
                "completed_at": "2030-01-01T09:00:01.200000Z",
                "delivered_at": "2030-01-01T09:00:01.200000Z",
                "lateness_seconds": 0.4,
                "delivery_lateness_seconds": 1.2,
            },
        )
    ]
)
class ExecutionLogSerializer(ModelSerializer):
    """One firing and its three instants: `scheduled_for` (the slot was due), `created_at` (logged) and
    `delivered_at` (its webhook was delivered), with the lateness between them; no extra queries."""

    trigger_id = StrictIntegerField(read_only=True)
    delivered_at = serializers.SerializerMethodField(
        help_text="When the webhook was delivered (the receiver's 2xx); null unless `status` is delivered."
    )
    lateness_seconds = serializers.SerializerMethodField(
        help_text="created_at - scheduled_for: how late the firing was logged after its slot was due (0 or more; "
        "for manual and test firings, after it was asked for)."
    )
    delivery_lateness_seconds = serializers.SerializerMethodField(
        help_text="delivered_at - scheduled_for: how late the webhook reached its receiver; null unless delivered."
    )

    class Meta:
        model = ExecutionLog
        fields = [
            "id",
            "trigger_id",
            "source",
            "scheduled_for",
            "missed_slots",
            "delivery_id",
            "status",
            "state",
            "url",
            "payload",
            "attempts",
            "next_attempt_at",
            "response_status",
            "latency_ms",
            "error",
            "response_excerpt",
            "created_at",
            "completed_at",
            "delivered_at",
            "lateness_seconds",
            "delivery_lateness_seconds",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "scheduled_for": {"help_text": "When the slot was due (manual and test firings: when asked for)."},
            "created_at": {"help_text": "When the firing was logged (the dispatcher's database clock)."},
            "completed_at": {"help_text": "When the delivery finished, delivered or given up; null while pending."},
        }

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_delivered_at(self, log: ExecutionLog):
        if log.status != ExecutionLog.DeliveryStatus.DELIVERED or log.completed_at is None:
            return None
        return serializers.DateTimeField().to_representation(log.completed_at)

    @extend_schema_field(serializers.FloatField())
    def get_lateness_seconds(self, log: ExecutionLog) -> float | None:
        return _seconds_between(log.scheduled_for, log.created_at)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_delivery_lateness_seconds(self, log: ExecutionLog) -> float | None:
        if log.status != ExecutionLog.DeliveryStatus.DELIVERED:
            return None
        return _seconds_between(log.scheduled_for, log.completed_at)


class ExecutionLogDetailSerializer(ExecutionLogSerializer):
    delivery_attempts = DeliveryAttemptSerializer(
        many=True, read_only=True, help_text="Every HTTP attempt of the delivery, oldest first."
    )

    class Meta(ExecutionLogSerializer.Meta):
        fields = [*ExecutionLogSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields
