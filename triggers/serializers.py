from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from eventsys.api.fields import (
    StorableJSONField,
    StrictBooleanField,
    StrictCharField,
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
            "status",
            "disabled_reason",
            "next_run_at",
            "last_run_at",
            "run_count",
            "created_at",
        ]
        extra_kwargs = {"max_runs": {"min_value": 1}}

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_next_runs(self, obj: Trigger):
        return [serializers.DateTimeField().to_representation(when) for when in trigger_upcoming(obj, 5)]

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=StrictCharField())))
    def get_warnings(self, obj: Trigger) -> dict[str, list[str]]:
        return {"api_endpoint": [obj.destination_warning]} if obj.destination_warning else {}

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


class ExecutionLogSerializer(ModelSerializer):
    trigger_id = StrictIntegerField(read_only=True)

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
        ]
        read_only_fields = fields


class ExecutionLogDetailSerializer(ExecutionLogSerializer):
    delivery_attempts = DeliveryAttemptSerializer(
        many=True, read_only=True, help_text="Every HTTP attempt of the delivery, oldest first."
    )

    class Meta(ExecutionLogSerializer.Meta):
        fields = [*ExecutionLogSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields
