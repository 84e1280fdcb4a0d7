"""Serializer fields shared by the apps."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers
from rest_framework.utils import html

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


def sent_as_form(field: serializers.Field) -> bool:
    """Form and query-string input is text whatever it means; only JSON can say number, text or boolean."""
    return html.is_html_input(getattr(field.root, "initial_data", None))


class JSONTypeMixin:
    """Takes only the JSON type the schema names. DRF reads a JSON number as text ("5") and text as a
    number or boolean ("5", "true"), so a client's type error would be stored as something it did
    not send; form input, all text, keeps DRF's parsing."""

    json_types: tuple[type, ...]
    json_type_message: str

    def to_internal_value(self, data):
        if not sent_as_form(self) and not self.is_json_type(data):
            raise serializers.ValidationError(self.json_type_message, code="invalid")
        return super().to_internal_value(data)

    def is_json_type(self, data) -> bool:
        if isinstance(data, bool):  # a bool is an int to Python, never to JSON
            return bool in self.json_types
        return isinstance(data, self.json_types)


class JSONTextMixin(JSONTypeMixin):
    json_types = (str,)
    json_type_message = "Not a valid string."


class StrictCharField(JSONTextMixin, serializers.CharField):
    """Text, and only text: a JSON number is refused, not read as its digits."""


class StrictEmailField(JSONTextMixin, serializers.EmailField):
    pass


class StrictURLField(JSONTextMixin, serializers.URLField):
    pass


class StrictBooleanField(JSONTypeMixin, serializers.BooleanField):
    """true or false; not 0, 1 or "true"."""

    json_types = (bool,)
    json_type_message = "Must be true or false."


class StrictIntegerField(JSONTypeMixin, serializers.IntegerField):
    """A JSON integer; not "5" (a number with no fraction, 5.0, is the integer JSON Schema says it is;
    eventsys.api.parsers.DecimalJSONParser reads it as a Decimal)."""

    json_types = (int, float, Decimal)
    json_type_message = "A valid integer is required."


class ExactDecimalField(serializers.DecimalField):
    """An exact decimal, given as text ("42.50", which keeps every digit) or as a JSON number; the
    schema says both (eventsys.api.schema)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class TimeZoneField(StrictCharField):
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
