"""Pure schedule maths for triggers: one-off, fixed-interval and cron schedules.

Nothing here reads the clock, the database or Django settings: every answer is a function of the arguments.
Instants passed in must be timezone-aware (any zone); instants returned are always aware UTC datetimes.

Cron expressions are evaluated in the local wall time of an IANA zone, with these DST rules:

* A wall time that does not exist (spring forward) is not skipped: it fires when the clock jumps, i.e. at the
  first instant after the gap. Several such wall times collapsing onto one instant fire once.
* A wall time that occurs twice (fall back) fires once, at its first occurrence, unless the hour field is
  exactly ``*``: such every-hour jobs follow elapsed time, so they fire at both occurrences.

Put differently, wall time ``w`` fires at the first instant at which the local clock reads ``w`` or later,
plus, for hour-``*`` jobs only, at the second occurrence of ``w``.
"""

import re
from bisect import bisect_right
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TICK = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
# Every valid cron pattern recurs within the 400-year Gregorian cycle, and the rarest (29 February on a given
# weekday) can be decades apart, so a shorter search could wrongly answer "never fires again".
_SEARCH_YEARS = 400


class InvalidSchedule(ValueError):
    """A schedule definition that cannot be used. The message is user-facing."""


@runtime_checkable
class Schedule(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first firing instant strictly after `after`, in UTC; None if the schedule never fires again."""
        ...

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """Up to `count` successive firing instants strictly after `after` (UTC, strictly increasing)."""
        ...

    def count_between(self, start: datetime, end: datetime, cap: int = 10_000) -> int:
        """How many firing instants t satisfy start <= t <= end; counting stops at `cap`."""
        ...


def _utc(value: object, what: str, error: type[ValueError] = ValueError) -> datetime:
    """`value` converted to UTC; raises `error` unless it is a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise error(f"{what} must be a date and time with a time zone")
    return value.astimezone(UTC)


class _Base:
    """The Schedule protocol implemented on top of `_iter_after`."""

    def _iter_after(self, after: datetime) -> Iterator[datetime]:
        """Firing instants strictly after the UTC instant `after`, strictly increasing."""
        raise NotImplementedError

    def next_after(self, after: datetime) -> datetime | None:
        return next(self._iter_after(_utc(after, "after")), None)

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        return list(islice(self._iter_after(_utc(after, "after")), max(count, 0)))

    def count_between(self, start: datetime, end: datetime, cap: int = 10_000) -> int:
        end = _utc(end, "end")
        count = 0
        for instant in self._iter_after(_utc(start, "start") - _TICK):
            if instant > end or count >= cap:
                break
            count += 1
        return count


@dataclass(frozen=True)
class OneOff(_Base):
    """Fires exactly once, at `at`."""

    at: datetime

    def __post_init__(self) -> None:
        _utc(self.at, "The run time", InvalidSchedule)

    def _iter_after(self, after: datetime) -> Iterator[datetime]:
        at = self.at.astimezone(UTC)
        if at > after:
            yield at


@dataclass(frozen=True)
class Interval(_Base):
    """Fires at start, start + every, start + 2*every, ... in absolute time (DST never stretches an interval)."""

    start: datetime
    every: timedelta

    def __post_init__(self) -> None:
        _utc(self.start, "The start time", InvalidSchedule)
        if not isinstance(self.every, timedelta) or self.every <= timedelta(0):
            raise InvalidSchedule("The interval must be a positive duration")

    def _iter_after(self, after: datetime) -> Iterator[datetime]:
        start = self.start.astimezone(UTC)
        # Integer timedelta arithmetic: exact to the microsecond, O(1) for any distance from start.
        k = 0 if after < start else (after - start) // self.every + 1
        try:
            while True:
                yield start + k * self.every
                k += 1
        except OverflowError:  # past datetime.max: it never fires again
            return

    def count_between(self, start: datetime, end: datetime, cap: int = 10_000) -> int:
        origin = self.start.astimezone(UTC)
        first = max(0, -((origin - _utc(start, "start")) // self.every))  # ceil((start - origin) / every)
        last = (_utc(end, "end") - origin) // self.every
        return max(0, min(last - first + 1, cap))


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {3: {name: i for i, name in enumerate(_MONTHS, start=1)}, 4: {name: i for i, name in enumerate(_WEEKDAYS)}}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NUMBER = re.compile(r"[0-9]+")


def _invalid(problem: str) -> InvalidSchedule:
    return InvalidSchedule(f"Invalid cron expression: {problem}")


def _parse_value(text: str, index: int) -> int:
    field, low, high = _FIELDS[index]
    if _NUMBER.fullmatch(text):
        value = int(text)
    elif text.upper() in _NAMES.get(index, {}):
        return _NAMES[index][text.upper()]
    else:
        raise _invalid(f"{field} field value {text!r} is not a number" + (" or name" if index in _NAMES else ""))
    if not low <= value <= high:
        raise _invalid(f"{field} field value {value} is out of range {low}-{high}")
    return value


def _parse_field(text: str, index: int) -> tuple[int, ...]:
    """The sorted values selected by one cron field (day-of-week 7 folded onto 0, Sunday)."""
    field, low, high = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if not base:
            raise _invalid(f"{field} field has an empty item in {text!r}")
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
                raise _invalid(f"{field} field step {step_text!r} must be a positive whole number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            if not first_text or not last_text:
                raise _invalid(f"{field} field range {base!r} is incomplete")
            first, last = _parse_value(first_text, index), _parse_value(last_text, index)
            if first > last:
                raise _invalid(f"{field} field range {base} runs backwards")
        else:
            first = _parse_value(base, index)
            last = high if slash else first  # "N/S" means "N-max/S"
        values.update(range(first, last + 1, step))
    return tuple(sorted({v % 7 for v in values} if index == 4 else values))


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidSchedule(f"Unknown time zone: {key}") from None


def _jump_instant(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant in (before, after] at which `zone`'s UTC offset changes, i.e. when its clock jumps.

    `before` and `after` are whole-second UTC instants on either side of one transition (tzdata transitions
    fall on whole seconds, so bisecting to one second finds it exactly).
    """
    offset = before.astimezone(zone).utcoffset()
    while after - before > _SECOND:
        middle = before + max(_SECOND, (after - before) // 2 // _SECOND * _SECOND)
        if middle.astimezone(zone).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after


@dataclass(frozen=True)
class Cron(_Base):
    """A standard 5-field cron expression (or @macro), evaluated in local wall time of IANA zone `timezone`."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise _invalid("it must be text")
        text = self.expression.strip()
        if text.startswith("@"):
            if text.lower() not in _MACROS:
                raise _invalid(f"unknown macro {text!r}; use one of {', '.join(_MACROS)}")
            text = _MACROS[text.lower()]
        fields = text.split()
        if len(fields) != 5:
            raise _invalid(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
        minutes, hours, days, months, weekdays = (_parse_field(f, i) for i, f in enumerate(fields))
        # Vixie cron: a day matches on EITHER day field when both are restricted, else on BOTH.
        either_day = not fields[2].startswith("*") and not fields[4].startswith("*")
        # A "*..." day-of-month always includes day 1, and any (month, day) pair recurs on every weekday, so the
        # only way never to fire is a day-of-month that no selected month has (29 February counts: leap years).
        if not either_day and not any(day <= monthrange(2000, month)[1] for month in months for day in days):
            raise _invalid(f"{self.expression!r} never fires: no selected month has that day of the month")
        parsed = {
            "_zone": _zone(self.timezone),
            "_minutes": minutes,
            "_hours": hours,
            "_days": frozenset(days),
            "_months": frozenset(months),
            "_weekdays": frozenset(weekdays),
            "_either_day": either_day,
            "_every_hour": fields[1] == "*",
        }
        for name, value in parsed.items():
            object.__setattr__(self, name, value)

    def _matches(self, day: date) -> bool:
        on_day = day.day in self._days
        on_weekday = day.isoweekday() % 7 in self._weekdays
        return (on_day or on_weekday) if self._either_day else (on_day and on_weekday)

    def _days_from(self, first: date) -> Iterator[date]:
        """Matching local dates from `first` on, in order, for at most _SEARCH_YEARS years."""
        year, month = first.year, first.month
        for _ in range(_SEARCH_YEARS * 12):
            if month in self._months:
                start = first.day if (year, month) == (first.year, first.month) else 1
                for day in range(start, monthrange(year, month)[1] + 1):
                    if self._matches(candidate := date(year, month, day)):
                        yield candidate
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
            if year > MAXYEAR:
                return

    def _fire_times(self, wall: datetime) -> tuple[datetime, ...]:
        """The UTC instants at which the naive local wall time `wall` fires (see the module docstring)."""
        zone = self._zone
        first = wall.replace(tzinfo=zone).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) != wall:
            # Nonexistent. fold=0 read it with the pre-gap offset, landing after the jump; fold=1 with the
            # post-gap offset, landing before it.
            return (_jump_instant(zone, wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first),)
        if self._every_hour:
            second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
            if second != first:
                return (first, second)
        return (first,)

    def _instants_on(self, day: date) -> tuple[datetime, ...]:
        """All firing instants for the local date `day`, sorted and deduplicated."""
        try:
            offset = _steady_offset(self._zone, day)
        except OverflowError:  # the edge of datetime's range: take the careful path
            offset = None
        if offset is not None:  # no clock change that day: every wall time is one instant, in order
            return tuple(
                datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - offset
                for hour in self._hours
                for minute in self._minutes
            )
        found: set[datetime] = set()
        for hour in self._hours:
            for minute in self._minutes:
                try:
                    found.update(self._fire_times(datetime(day.year, day.month, day.day, hour, minute)))
                except OverflowError:  # the edge of datetime's range
                    continue
        return tuple(sorted(found))

    def _iter_after(self, after: datetime) -> Iterator[datetime]:
        latest = after
        for day in self._days_from(after.astimezone(self._zone).date()):
            instants = _instants_on_cached(self, day)
            for instant in instants[bisect_right(instants, latest) :]:
                yield instant
                latest = instant


@lru_cache(maxsize=4096)
def _instants_on_cached(cron: Cron, day: date) -> tuple[datetime, ...]:
    # Many triggers share an expression and zone, and the dispatcher asks about the same days over and
    # over: a day's instants are computed once per process.
    return cron._instants_on(day)


def _steady_offset(zone: ZoneInfo, day: date) -> timedelta | None:
    """The zone's UTC offset on `day` if it is the same from the first to the last minute, else None."""
    first = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
    last = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=zone).utcoffset()
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=zone).utcoffset()
    return first if first == last == noon else None


@dataclass(frozen=True)
class _Bounded:
    """`schedule` with every instant after `end_at` (UTC) cut off."""

    schedule: Schedule
    end_at: datetime

    def next_after(self, after: datetime) -> datetime | None:
        instant = self.schedule.next_after(after)
        return instant if instant is not None and instant <= self.end_at else None

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        return [instant for instant in self.schedule.upcoming(after, count) if instant <= self.end_at]

    def count_between(self, start: datetime, end: datetime, cap: int = 10_000) -> int:
        return self.schedule.count_between(start, min(_utc(end, "end"), self.end_at), cap)


@dataclass(frozen=True)
class _Starting:
    """`schedule` with every instant before `start_at` (UTC) cut off."""

    schedule: Schedule
    start_at: datetime

    def next_after(self, after: datetime) -> datetime | None:
        return self.schedule.next_after(max(_utc(after, "after"), self.start_at - _TICK))

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        return self.schedule.upcoming(max(_utc(after, "after"), self.start_at - _TICK), count)

    def count_between(self, start: datetime, end: datetime, cap: int = 10_000) -> int:
        return self.schedule.count_between(max(_utc(start, "start"), self.start_at), end, cap)


def starting(schedule: Schedule, *, start_at: datetime | None) -> Schedule:
    """`schedule`, never firing before `start_at` (inclusive bound); `schedule` itself when `start_at` is None."""
    if start_at is None:
        return schedule
    return _Starting(schedule, _utc(start_at, "The start time", InvalidSchedule))


def bounded(schedule: Schedule, *, end_at: datetime | None) -> Schedule:
    """`schedule`, never firing after `end_at` (inclusive bound); `schedule` itself when `end_at` is None."""
    if end_at is None:
        return schedule
    return _Bounded(schedule, _utc(end_at, "The end time", InvalidSchedule))
