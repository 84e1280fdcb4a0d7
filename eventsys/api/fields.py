"""Serializer fields shared by the apps."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers


def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):  # OSError: a name like "America" (a folder)
        return None


class WallClockDateTimeField(serializers.DateTimeField):
    """Keeps a time given without an offset naive, so the object's own time zone can be applied to it."""

    def enforce_timezone(self, value):
        return value if value.tzinfo is None else super().enforce_timezone(value)


class TimeZoneField(serializers.CharField):
    """An IANA time zone name such as Europe/London."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if zone_or_none(value) is None:
            raise serializers.ValidationError(f"Unknown time zone: {value}.")
        return value
