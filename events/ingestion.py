"""Event ingestion: validate a whole batch, store it with one bulk insert, answer with receipts.

Validation is plain Python rather than DRF serializers: a 1,000-event batch must be checked and
stored within tens of milliseconds, and every event's errors must carry its index.
"""

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiToken
from events.models import IngestedEvent
from eventsys.api.bounds import JSON_MAX_DEPTH, instant_error, json_value_error, text_error
from eventsys.api.errors import Conflict, DomainError

_FIELDS = {"event_type", "event_payload", "idempotency_key", "occurred_at"}


class InvalidBatch(DomainError):
    code = "invalid"

    def __init__(self, errors: list[dict], total: int):
        super().__init__(f"{len(errors)} of {total} events are invalid; nothing was stored.")
        self.errors = errors

    def payload(self) -> dict:
        return {**super().payload(), "errors": self.errors}


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"

    def __init__(self, indexes: list[int]):
        super().__init__(
            "An idempotency key was already used for a different event; nothing was stored. "
            f"Events at index {', '.join(map(str, indexes))}."
        )
        self.indexes = indexes

    def payload(self) -> dict:
        return {**super().payload(), "indexes": self.indexes}


@dataclass(frozen=True)
class Receipt:
    index: int
    status: str  # "accepted" | "duplicate"
    id: int
    idempotency_key: str


@dataclass(frozen=True)
class _Valid:
    event_type: str
    event_payload: object
    idempotency_key: str
    occurred_at: datetime | None
    body_hash: str


def ingested_events_visible_to(user) -> QuerySet[IngestedEvent]:
    return IngestedEvent.objects.filter(owner=user)


@dataclass(frozen=True)
class _Sender:
    owner_id: int
    token_id: int | None


class RequestTooLarge(DomainError):
    status_code = 413
    code = "request_too_large"


def ingest_refuse_oversized(*, declared_bytes: int) -> None:
    """An ingest request is at most INGEST_MAX_REQUEST_BYTES, judged by its declared length before
    anything reads the body (a batch is parsed whole)."""
    if declared_bytes > settings.INGEST_MAX_REQUEST_BYTES:
        raise RequestTooLarge(f"An ingest request is at most {settings.INGEST_MAX_REQUEST_BYTES} bytes.")


def ingest(*, token: ApiToken | None = None, owner=None, body: object, now: datetime | None = None) -> list[Receipt]:
    """Store one event (a JSON object) or a batch (a list) for `token`'s user; all or nothing.

    Without a token, the events are `owner`'s, stored with no token (a person's JWT on the legacy
    /api/event route). Raises InvalidBatch (400, with each bad event's index and fields) or
    IdempotencyConflict (409).
    """
    if token is not None:
        sender = _Sender(owner_id=token.user_id, token_id=token.pk)
    elif owner is not None:
        sender = _Sender(owner_id=owner.pk, token_id=None)
    else:
        raise ValueError("ingest() needs a token or an owner")
    events = body if isinstance(body, list) else [body]
    if isinstance(body, list) and not body:
        raise InvalidBatch([{"index": None, "fields": {"non_field_errors": ["The batch is empty."]}}], 0)
    if len(events) > settings.INGEST_MAX_BATCH:
        raise InvalidBatch(
            [
                {
                    "index": None,
                    "fields": {"non_field_errors": [f"At most {settings.INGEST_MAX_BATCH} events a request."]},
                }
            ],
            len(events),
        )
    valid, errors = [], []
    for index, event in enumerate(events):
        checked = _validate(event)
        if isinstance(checked, dict):
            errors.append({"index": index, "fields": checked})
        else:
            valid.append(checked)
    if errors:
        raise InvalidBatch(errors, len(events))
    try:
        return _store(sender=sender, events=valid, now=now or timezone.now())
    except IntegrityError:
        # Another request stored one of these keys between our look-up and our insert: look again,
        # now those events are answered as duplicates (or conflicts).
        return _store(sender=sender, events=valid, now=now or timezone.now())


def _validate(event: object) -> _Valid | dict[str, list[str]]:
    if not isinstance(event, dict):
        return {"non_field_errors": ["Each event must be a JSON object."]}
    fields: dict[str, list[str]] = {}
    unknown = set(event) - _FIELDS
    for name in sorted(unknown):
        fields[name] = ["Unknown field."]
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        fields["event_type"] = ["Required: a non-empty string."]
    elif len(event_type) > 100:
        fields["event_type"] = ["At most 100 characters."]
    elif problem := text_error(event_type):
        fields["event_type"] = [problem]
    canonical = _canonical(event)
    if "event_payload" not in event:
        fields["event_payload"] = ["Required (any JSON value)."]
    elif not _surely_storable(canonical) and (problem := json_value_error(event["event_payload"])):
        fields["event_payload"] = [problem]
    key = event.get("idempotency_key", "")
    if key is None:
        key = ""
    if not isinstance(key, str) or len(key) > 200:
        fields["idempotency_key"] = ["A string of at most 200 characters."]
    elif problem := text_error(key):
        fields["idempotency_key"] = [problem]
    occurred_at = event.get("occurred_at")
    if occurred_at is not None:
        parsed = _parse_time(occurred_at)
        if parsed is None:
            fields["occurred_at"] = ["An ISO 8601 time with an offset, e.g. 2026-11-23T10:00:00Z."]
        elif problem := instant_error(parsed):
            fields["occurred_at"] = [problem]
        occurred_at = parsed
    if fields:
        return fields
    if canonical is None:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if len(canonical) > settings.INGEST_MAX_EVENT_BYTES:
        fields["event_payload"] = [f"The event is {len(canonical)} bytes; at most {settings.INGEST_MAX_EVENT_BYTES}."]
    if fields:
        return fields
    return _Valid(
        event_type=event_type.strip(),
        event_payload=event["event_payload"],
        idempotency_key=key,
        occurred_at=occurred_at,
        body_hash=hashlib.sha256(canonical).hexdigest(),
    )


# One encoder for every event: json.dumps with options builds a new one per call, a third of the cost.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canonical(event: dict) -> bytes | None:
    """The event as its hash reads it (sorted keys, no spaces, UTF-8), or None when it cannot be
    encoded: a surrogate, a non-finite number, something that is not JSON."""
    try:
        return _CANONICAL_ENCODER.encode(event).encode()
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
        return None


def _surely_storable(canonical: bytes | None) -> bool:
    """True when the encoding proves the payload meets `json_value_error`'s bounds, sparing the walk
    that would give its message: it encoded (finite numbers, no unpaired surrogate), holds no escaped
    NUL, and has no more brackets than JSON_MAX_DEPTH (brackets inside strings count too, so this
    errs only towards walking)."""
    return (
        canonical is not None
        and b"\\u0000" not in canonical
        and canonical.count(b"[") + canonical.count(b"{") <= JSON_MAX_DEPTH
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
        return parsed if parsed is not None and parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


@dataclass
class _Row:
    event: _Valid
    index: int  # the first event (in the request) this row stores
    id: int | None = None
    duplicate: bool = False


def _store(*, sender: _Sender, events: list[_Valid], now: datetime) -> list[Receipt]:
    # 1. The same key twice in one request: the second is a duplicate of the first (or a conflict).
    rows: list[_Row] = []
    row_of_event: list[int] = []
    first_with_key: dict[str, int] = {}
    conflicts: list[int] = []
    for index, event in enumerate(events):
        key = event.idempotency_key
        if key and key in first_with_key:
            if rows[first_with_key[key]].event.body_hash != event.body_hash:
                conflicts.append(index)
            row_of_event.append(first_with_key[key])
            continue
        if key:
            first_with_key[key] = len(rows)
        row_of_event.append(len(rows))
        rows.append(_Row(event, index))
    if conflicts:
        raise IdempotencyConflict(conflicts)

    # One row on PostgreSQL is one atomic statement: no transaction round trips for the common
    # single-event request. Several rows must commit or roll back together (a conflict found in
    # step 3 undoes step 2).
    single_statement = len(rows) == 1 and connection.vendor == "postgresql"
    with nullcontext() if single_statement else transaction.atomic():
        # 2. Insert, leaving out keys the owner already used (their rows keep id None).
        future = now + timedelta(seconds=settings.INGEST_FUTURE_TOLERANCE_SECONDS)
        if connection.vendor == "postgresql":
            _insert_postgresql(rows, sender=sender, now=now, future=future)
        else:
            _insert_orm(rows, sender=sender, now=now, future=future)

        # 3. Keys used before: the same body is a duplicate of the stored event, another body a conflict.
        reused = {row.event.idempotency_key: position for position, row in enumerate(rows) if row.id is None}
        if reused:
            conflicting = set()
            for key, pk, body_hash in IngestedEvent.objects.filter(
                owner_id=sender.owner_id, idempotency_key__in=list(reused)
            ).values_list("idempotency_key", "id", "body_hash"):
                row = rows[reused[key]]
                row.id, row.duplicate = pk, True
                if body_hash != row.event.body_hash:
                    conflicting.add(reused[key])
            if conflicting:
                raise IdempotencyConflict([i for i, position in enumerate(row_of_event) if position in conflicting])

    receipts = []
    for index, event in enumerate(events):
        row = rows[row_of_event[index]]
        accepted = not row.duplicate and row.index == index
        receipts.append(Receipt(index, "accepted" if accepted else "duplicate", row.id, event.idempotency_key))
    return receipts


# One statement for the whole batch: the rows travel as one JSON document (one parameter, encoded
# by the C encoder, rather than six arrays escaped element by element), unpacked by
# jsonb_to_recordset; keys used before are skipped by the unique index, and the new ids come back
# in insertion order (the order Django's bulk_create relies on).
_INSERT_POSTGRESQL = """
INSERT INTO events_ingestedevent
    (owner_id, token_id, event_type, event_payload, idempotency_key, body_hash,
     occurred_at, occurred_at_in_future, received_at)
SELECT %s, %s, u.event_type, u.event_payload, u.idempotency_key, u.body_hash, u.occurred_at, u.in_future, %s
FROM jsonb_to_recordset(%s::jsonb)
    AS u(event_type varchar, event_payload jsonb, idempotency_key varchar, body_hash varchar,
         occurred_at timestamptz, in_future boolean)
ON CONFLICT (owner_id, idempotency_key) WHERE NOT (idempotency_key = '') DO NOTHING
RETURNING id, idempotency_key
""".strip()


def _insert_postgresql(rows: list[_Row], *, sender: _Sender, now: datetime, future: datetime) -> None:
    document = json.dumps(
        [
            {
                "event_type": event.event_type,
                "event_payload": event.event_payload,
                "idempotency_key": event.idempotency_key,
                "body_hash": event.body_hash,
                "occurred_at": event.occurred_at.isoformat() if event.occurred_at is not None else None,
                "in_future": event.occurred_at is not None and event.occurred_at > future,
            }
            for event in (row.event for row in rows)
        ],
        ensure_ascii=False,
    )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_POSTGRESQL, [sender.owner_id, sender.token_id, now, document])
        returned = cursor.fetchall()
    position = 0
    for row in rows:  # returned rows follow the insertion order; a skipped key is simply absent
        if position < len(returned) and returned[position][1] == row.event.idempotency_key:
            row.id = returned[position][0]
            position += 1


def _insert_orm(rows: list[_Row], *, sender: _Sender, now: datetime, future: datetime) -> None:
    keys = [row.event.idempotency_key for row in rows if row.event.idempotency_key]
    used = (
        set(
            IngestedEvent.objects.filter(owner_id=sender.owner_id, idempotency_key__in=keys)
            .exclude(idempotency_key="")
            .values_list("idempotency_key", flat=True)
        )
        if keys
        else set()
    )
    fresh = [row for row in rows if row.event.idempotency_key not in used]
    objects = IngestedEvent.objects.bulk_create(
        IngestedEvent(
            owner_id=sender.owner_id,
            token_id=sender.token_id,
            event_type=row.event.event_type,
            event_payload=row.event.event_payload,
            idempotency_key=row.event.idempotency_key,
            body_hash=row.event.body_hash,
            occurred_at=row.event.occurred_at,
            occurred_at_in_future=row.event.occurred_at is not None and row.event.occurred_at > future,
            received_at=now,
        )
        for row in fresh
    )
    for row, stored in zip(fresh, objects, strict=True):
        row.id = stored.pk


def ingested_events_retention_apply(
    *, now: datetime | None = None, batch_size: int = 10_000, max_batches: int = 100
) -> int:
    """Delete events older than INGEST_RETENTION_DAYS (0 keeps them forever), in bounded batches."""
    if settings.INGEST_RETENTION_DAYS == 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=settings.INGEST_RETENTION_DAYS)
    deleted = 0
    for _ in range(max_batches):
        ids = list(IngestedEvent.objects.filter(received_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if ids:
            IngestedEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            break
    return deleted
