from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from events.models import Attendee, Event
from eventsys.api.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    TimeZoneField,
    WallClockDateTimeField,
    isoformat_in_zone,
    wall_clock_to_utc,
)
from eventsys.api.serializers import ModelSerializer


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A day's conference",
            request_only=True,
            value={
                "name": "PyCon Pune",
                "location": "Pune",
                "start_time": "2030-06-20T09:30:00",
                "end_time": "2030-06-20T18:00:00",
                "timezone": "Asia/Kolkata",
                "max_capacity": 200,
            },
        )
    ]
)
class EventSerializer(ModelSerializer):
    """Times with an offset are taken as given; times without one are read in the event's `timezone`.

    Responses render times in the event's zone, or in the zone asked for with `?tz=Area/City`.
    """

    start_time = WallClockDateTimeField()
    end_time = WallClockDateTimeField()
    timezone = TimeZoneField(required=False, default="UTC")
    max_capacity = StrictIntegerField(min_value=1, max_value=1_000_000)
    seats_left = StrictIntegerField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "name",
            "location",
            "description",
            "start_time",
            "end_time",
            "timezone",
            "max_capacity",
            "seats_taken",
            "seats_left",
            "waitlist_length",
        ]
        read_only_fields = ["id", "seats_taken", "waitlist_length"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        zone = self.context.get("tz") or ZoneInfo(instance.timezone)
        for name in ("start_time", "end_time"):
            data[name] = isoformat_in_zone(getattr(instance, name), zone)
        return data

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["timezone"].default = serializers.empty  # on update an omitted zone is kept
        return fields

    def validate(self, attrs):
        zone_name = attrs.get("timezone") or (self.instance.timezone if self.instance else "UTC")
        wall_clock_to_utc(attrs, ("start_time", "end_time"), ZoneInfo(zone_name))
        start = attrs.get("start_time", getattr(self.instance, "start_time", None))
        end = attrs.get("end_time", getattr(self.instance, "end_time", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end_time": ["The event must end after it starts."]})
        return attrs


@extend_schema_serializer(
    examples=[OpenApiExample("Register", request_only=True, value={"name": "Asha", "email": "asha@example.com"})]
)
class AttendeeSerializer(ModelSerializer):
    waitlist = StrictBooleanField(
        write_only=True, required=False, default=False, help_text="Join the waiting list if the event is full."
    )
    position = serializers.SerializerMethodField(help_text="Place on the waiting list (waitlisted only).")

    class Meta:
        model = Attendee
        fields = ["id", "name", "email", "waitlist", "status", "position", "created_at"]
        read_only_fields = ["id", "status", "created_at"]
        extra_kwargs = {"email": {"validators": []}}

    def get_position(self, obj) -> int | None:
        if obj.status != Attendee.Status.WAITLISTED:
            return None
        return getattr(obj, "waitlist_position", None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        zone = self.context["tz"]  # the attendee views always pass the zone: ?tz= or the event's
        data["created_at"] = isoformat_in_zone(instance.created_at, zone)
        return data


class AttendeeRegisteredSerializer(AttendeeSerializer):
    cancel_token = StrictCharField(
        read_only=True,
        allow_null=True,
        help_text="Cancels this registration (DELETE …/attendees/{id}/?cancel_token=). Shown once (null in an "
        "Idempotency-Key replay).",
    )

    class Meta(AttendeeSerializer.Meta):
        fields = [*AttendeeSerializer.Meta.fields, "cancel_token"]
