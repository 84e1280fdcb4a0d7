"""Bounds on what the service stores, so that nothing stored can later break a read.

- Instants lie in years 0002 to 9998 (UTC): every zone (±14 h) and every serializer can render them.
  Python's datetime stops at years 1 and 9999, PostgreSQL does not, so a time near either end is
  accepted by one side and fails on the other, later, on every read of a list that holds it.
- JSON holds what PostgreSQL's jsonb, SQLite and Python's encoder all take: no NUL (jsonb refuses
  `\\u0000`), no unpaired surrogate (not encodable as UTF-8), only finite numbers (`1e400` parses
  as infinity, which JSON cannot write), at most JSON_MAX_DEPTH levels (a read renders a stored
  value a few levels deeper than it arrived, and Python's encoder has a recursion limit).
- Text holds no NUL (PostgreSQL text refuses it) and no unpaired surrogate.

Plain functions returning a message or None: the DRF fields in `eventsys.api.fields`, the plain
Python validation of ingestion and the legacy adapters all use these, so each rule is in one place.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal

MIN_INSTANT = datetime(2, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
INSTANT_RANGE_MESSAGE = "Must lie between 0002-01-01 and 9998-12-31 (UTC)."
JSON_MAX_DEPTH = 64


def instant_error(value: datetime) -> str | None:
    """Why `value` cannot be stored, or None. A naive value is a wall-clock time in a zone not yet
    applied: its year is bounded the same way, so any zone's offset keeps it in range."""
    if value.tzinfo is None:
        return None if MIN_INSTANT.year <= value.year <= MAX_INSTANT.year else INSTANT_RANGE_MESSAGE
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        return INSTANT_RANGE_MESSAGE
    return None if MIN_INSTANT <= in_utc <= MAX_INSTANT else INSTANT_RANGE_MESSAGE


def text_error(value: str) -> str | None:
    """Why the string `value` cannot be stored, or None."""
    if "\x00" in value:
        return "NUL characters (\\u0000) are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Unpaired surrogate characters (\\ud800-\\udfff) are not allowed."
    return None


def json_value_error(value: object) -> str | None:
    """Why the decoded JSON `value` cannot be stored, or None; the message says where inside it."""
    stack: list[tuple[object, str, int]] = [(value, "", 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            return f"Nested deeper than {JSON_MAX_DEPTH} levels."
        problem = None
        if isinstance(item, str):
            problem = text_error(item)
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            pass
        elif isinstance(item, float | Decimal):
            if not (math.isfinite(item) if isinstance(item, float) else item.is_finite()):
                problem = "Numbers must be finite (this one is out of range)."
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"{_at(where)}Object keys must be strings."
                key_problem = text_error(key)
                if key_problem:
                    return f"{_at(where)}Key {key!r}: {key_problem}"
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item))
        else:
            problem = f"{type(item).__name__} is not a JSON value."
        if problem:
            return f"{_at(where)}{problem}"
    return None


def control_character_error(value: str) -> str | None:
    """Why a query parameter or path `value` is refused: any C0 control character or DEL."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        return "Control characters are not allowed."
    return None


def _at(where: str) -> str:
    return f"At {where}: " if where else ""


def stored_instants_clamp(
    model, field: str, *, lowest: datetime | None = MIN_INSTANT, highest: datetime | None = MAX_INSTANT
) -> int:
    """Move stored values of `field` outside [lowest, highest] onto the nearer bound (None: that side
    is left alone); for the data migrations that repair rows stored before the bounds. Compares in
    SQL: a value Python cannot represent (PostgreSQL keeps years past 9999) is never loaded."""
    manager, moved = model._base_manager, 0
    if highest is not None:
        moved += manager.filter(**{f"{field}__gt": highest}).update(**{field: highest})
    if lowest is not None:
        moved += manager.filter(**{f"{field}__lt": lowest}).update(**{field: lowest})
    return moved
