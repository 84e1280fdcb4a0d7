"""Serializer fields shared by the apps."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers

from eventsys.api.bounds import INSTANT_RANGE_MESSAGE, instant_error, json_value_error


def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):  # OSError: a name like "America" (a folder)
        return None


def isoformat_in_zone(value: datetime, zone: ZoneInfo) -> str:
    """`value` in ISO 8601 as the clocks of `zone` showed it. Before standard time a zone kept local
    mean time, an offset in seconds (Asia/Kolkata +05:53:28) that RFC 3339 cannot write: such an
    instant is written with its offset rounded to the minute instead (the same instant)."""
    local = value.astimezone(zone)
    offset = local.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        local = value.astimezone(timezone(timedelta(minutes=round(offset / timedelta(minutes=1)))))
    return local.isoformat()


class BoundedDateTimeField(serializers.DateTimeField):
    """A time that renders in every zone and serializer: years 0002 to 9998 (eventsys.api.bounds)."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        problem = instant_error(parsed)
        if problem:
            raise serializers.ValidationError(problem, code="out_of_range")
        return parsed


class WallClockDateTimeField(BoundedDateTimeField):
    """Keeps a time given without an offset naive, so the object's own time zone can be applied to it."""

    def enforce_timezone(self, value):
        return value if value.tzinfo is None else super().enforce_timezone(value)


class StorableJSONField(serializers.JSONField):
    """Any JSON value that PostgreSQL, SQLite and Python's encoder can all store and give back."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = json_value_error(value)
        if problem:
            raise serializers.ValidationError(problem, code="unstorable")
        return value


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


def wall_clock_to_utc(attrs: dict, names: tuple[str, ...], zone: ZoneInfo) -> None:
    """Read the naive (wall-clock) times among `attrs[names]` in `zone`, as UTC, in place; a time
    that lands out of bounds once its zone applies is a field error."""
    errors = {}
    for name in names:
        value = attrs.get(name)
        if value is None or value.tzinfo is not None:
            continue
        try:
            attrs[name] = value.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:
            errors[name] = [INSTANT_RANGE_MESSAGE]
            continue
        problem = instant_error(attrs[name])
        if problem:
            errors[name] = [problem]
    if errors:
        raise serializers.ValidationError(errors)
