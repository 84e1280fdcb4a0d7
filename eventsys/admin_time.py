"""Times for the admin, in the zone an object is held in and labelled with it ("2026-12-02 18:00:00 IST")."""

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html


def zone_or_none(zone_name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None when the name is empty or not a zone."""
    if not zone_name:
        return None
    try:
        return ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed ("../x"), unreadable
        return None


def zone_or_utc(zone_name: str | None) -> tzinfo:
    """The zone of that name; UTC when a stored name is not a zone, so a page still renders."""
    return zone_or_none(zone_name) or UTC


def in_zone(value: datetime | None, zone_name: str | None) -> str:
    """`value` in the zone `zone_name` to the second, with the zone's abbreviation; "-" for None.

    An invalid zone name shows the time in UTC, labelled UTC. Zones without an abbreviation show
    their offset as the tz database gives it ("-03", "+0545")."""
    if value is None:
        return "-"
    return _labelled(value.astimezone(zone_or_utc(zone_name)))


def _labelled(local: datetime) -> str:
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def time_column(field: str, description: str | None = None, *, zone_field: str | None = None) -> Callable:
    """A changelist column (for list_display) showing `field` as in_zone() does, in the zone named by
    `zone_field` (the current zone, TIME_ZONE, without one), sorted by `field`.

    The admin never wraps a DateTimeField's cell (184 px with the zone); this one may break between the
    date and the time, so a list with a filter beside it still fits a 1366-px screen."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj):
        value = getattr(obj, field)
        if value is None:
            return None  # the admin's empty value, "-"
        text = in_zone(value, getattr(obj, zone_field)) if zone_field else _labelled(timezone.localtime(value))
        date, time = text.split(" ", 1)
        return format_html('<span class="nowrap">{}</span> <span class="nowrap">{}</span>', date, time)

    column.__name__ = field  # the column's CSS class: column-<field>
    return column
