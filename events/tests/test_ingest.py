import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create, api_token_revoke
from events.ingestion import ingested_events_retention_apply
from events.models import IngestedEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def token(alice):
    return api_token_create(user=alice, name="sensor box")


@pytest.fixture
def machine(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token[1]}")
    return client


def ingest(client, body):
    return client.post("/api/v1/ingest/", data=json.dumps(body), content_type="application/json")


def test_single_event_is_accepted_with_a_receipt(machine, token, alice):
    response = ingest(machine, {"event_type": "door.opened", "event_payload": "loading bay"})
    assert response.status_code == 201, response.data
    [receipt] = response.data["receipts"]
    assert receipt["status"] == "accepted" and receipt["index"] == 0
    event = IngestedEvent.objects.get(pk=receipt["id"])
    assert (event.owner, event.token, event.event_payload) == (alice, token[0], "loading bay")
    assert event.received_at == NOW


def test_a_batch_is_stored_with_one_insert(machine):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    batch = [{"event_type": "reading", "event_payload": {"n": i}} for i in range(500)]
    with CaptureQueriesContext(connection) as queries:
        response = ingest(machine, batch)
    assert response.status_code == 201
    assert response.data["accepted"] == 500 and IngestedEvent.objects.count() == 500
    assert [r["index"] for r in response.data["receipts"]] == list(range(500))
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # PostgreSQL takes the batch in one statement; SQLite's bound-parameter limit splits it.
    assert len(inserts) == 1 if connection.vendor == "postgresql" else len(inserts) <= 6
    assert len(queries) - len(inserts) <= 4  # token look-up, last-use stamp, savepoint and its release


@pytest.mark.parametrize("payload", ["text", {"nested": {"list": [1, 2]}}, [1, "two", None], 42, None, True])
def test_any_json_value_is_a_payload(machine, payload):
    assert ingest(machine, {"event_type": "t", "event_payload": payload}).status_code == 201
    assert IngestedEvent.objects.get().event_payload == payload


def _nested(levels: int, inner: object) -> object:
    for _ in range(levels):
        inner = [inner]
    return inner


@pytest.mark.parametrize(
    "payload",
    [
        "a backslash then u0000: \\u0000",  # the text of an escape, not a NUL
        {"brackets in text": "[[[{{{" * 20},  # more brackets than levels allowed, none of them nesting
        _nested(63, "a string at the deepest level allowed"),
    ],
    ids=["escaped-backslash", "brackets-in-text", "63-levels"],
)
def test_payloads_that_only_look_unstorable_are_stored(machine, payload):
    """The walk of the payload's bounds is skipped only when its encoding proves them; text that looks
    like a NUL escape, or many brackets, sends it to the walk, which accepts."""
    assert ingest(machine, {"event_type": "t", "event_payload": payload}).status_code == 201
    assert IngestedEvent.objects.get().event_payload == payload


def test_one_invalid_event_rejects_the_whole_batch_naming_each_bad_index(machine):
    batch = [
        {"event_type": "ok", "event_payload": 1},
        {"event_type": "", "event_payload": 1},
        {"event_type": "x" * 101, "event_payload": 1},
        {"event_payload": 1},
        {"event_type": "no payload"},
        {"event_type": "t", "event_payload": 1, "occurred_at": "yesterday"},
        {"event_type": "t", "event_payload": 1, "colour": "red"},
        "not an object",
    ]
    response = ingest(machine, batch)
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    errors = {error["index"]: error["fields"] for error in response.data["errors"]}
    assert set(errors) == {1, 2, 3, 4, 5, 6, 7}
    assert "event_type" in errors[1] and "event_type" in errors[2] and "event_type" in errors[3]
    assert "event_payload" in errors[4] and "occurred_at" in errors[5] and "colour" in errors[6]
    assert not IngestedEvent.objects.exists()


def test_batch_size_and_event_size_limits(machine, settings):
    settings.INGEST_MAX_BATCH = 3
    assert ingest(machine, [{"event_type": "t", "event_payload": 1}] * 4).status_code == 400
    assert ingest(machine, []).status_code == 400
    big = {"event_type": "t", "event_payload": "x" * (33 * 1024)}
    response = ingest(machine, big)
    assert response.status_code == 400 and "event_payload" in response.data["errors"][0]["fields"]
    assert not IngestedEvent.objects.exists()


def test_a_body_over_the_limit_is_413(machine, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 2048
    response = ingest(machine, [{"event_type": "t", "event_payload": "x" * 500}] * 5)
    assert response.status_code == 413 and response.data["code"] == "request_too_large"


def test_non_json_is_400_or_415(machine):
    assert machine.post("/api/v1/ingest/", data="{nope", content_type="application/json").status_code == 400
    assert (
        machine.post("/api/v1/ingest/", data="a=b", content_type="application/x-www-form-urlencoded").status_code == 415
    )


def test_an_idempotent_resend_is_a_duplicate_and_stores_nothing_new(machine):
    event = {"event_type": "order.created", "event_payload": {"id": 7}, "idempotency_key": "order-7"}
    first = ingest(machine, event)
    again = ingest(machine, event)
    assert first.status_code == 201 and again.status_code == 200
    assert again.data["receipts"][0] == {**first.data["receipts"][0], "status": "duplicate"}
    assert IngestedEvent.objects.count() == 1


def test_a_key_repeated_within_one_batch_is_stored_once(machine):
    event = {"event_type": "t", "event_payload": 1, "idempotency_key": "k"}
    response = ingest(machine, [event, event])
    statuses = [r["status"] for r in response.data["receipts"]]
    assert statuses == ["accepted", "duplicate"] and IngestedEvent.objects.count() == 1
    assert response.data["receipts"][0]["id"] == response.data["receipts"][1]["id"]


def test_the_same_key_with_another_body_is_409_and_nothing_is_stored(machine):
    ingest(machine, {"event_type": "t", "event_payload": 1, "idempotency_key": "k"})
    response = ingest(
        machine,
        [
            {"event_type": "t", "event_payload": "fresh"},
            {"event_type": "t", "event_payload": 2, "idempotency_key": "k"},
        ],
    )
    assert response.status_code == 409 and response.data["code"] == "idempotency_conflict"
    assert response.data["indexes"] == [1]
    assert IngestedEvent.objects.count() == 1


def test_idempotency_keys_belong_to_their_owner(machine, bob):
    _, bobs = api_token_create(user=bob, name="bob's")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {bobs}")
    event = {"event_type": "t", "event_payload": 1, "idempotency_key": "shared"}
    assert ingest(machine, event).status_code == 201
    assert ingest(other, event).status_code == 201


def test_far_future_occurred_at_is_flagged_not_trusted(machine):
    batch = [
        {"event_type": "t", "event_payload": 1, "occurred_at": "2026-11-23T12:04:00Z"},
        {"event_type": "t", "event_payload": 2, "occurred_at": "2027-01-01T00:00:00Z"},
    ]
    ingest(machine, batch)
    flags = list(IngestedEvent.objects.order_by("id").values_list("occurred_at_in_future", "received_at"))
    assert flags == [(False, NOW), (True, NOW)]


def test_wrong_or_revoked_tokens_are_401(token, api_client, alice):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer evs_nothere_secret")
    assert ingest(api_client, {"event_type": "t", "event_payload": 1}).status_code == 401
    api_token_revoke(token=token[0])
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {token[1]}")
    assert ingest(revoked, {"event_type": "t", "event_payload": 1}).status_code == 401
    assert ingest(APIClient(), {"event_type": "t", "event_payload": 1}).status_code == 401
    person = APIClient()
    person.force_authenticate(alice)  # a session or JWT, not a machine token
    assert ingest(person, {"event_type": "t", "event_payload": 1}).status_code == 403
    assert not IngestedEvent.objects.exists()


def test_ingestion_is_throttled_per_token(machine, token, alice):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "ingest": "3/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
        statuses = [ingest(machine, {"event_type": "t", "event_payload": i}).status_code for i in range(4)]
        _, second = api_token_create(user=alice, name="second box")
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
        other_status = ingest(other, {"event_type": "t", "event_payload": 9}).status_code
    assert statuses == [201, 201, 201, 429]
    assert other_status == 201  # the budget is per token


def test_read_back_is_the_owners_newest_first_with_cursor_pages_and_filters(machine, api_client, alice, bob, frozen):
    for i in range(5):
        ingest(machine, {"event_type": "even" if i % 2 == 0 else "odd", "event_payload": i})
        frozen.shift(timedelta(minutes=1))
    _, bobs = api_token_create(user=bob, name="bob's")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {bobs}")
    ingest(other, {"event_type": "even", "event_payload": "bob"})

    api_client.force_authenticate(alice)
    first = api_client.get("/api/v1/ingested-events/?page_size=2")
    assert first.status_code == 200 and [e["event_payload"] for e in first.data["results"]] == [4, 3]
    second = api_client.get(first.data["next"])
    assert [e["event_payload"] for e in second.data["results"]] == [2, 1]
    evens = api_client.get("/api/v1/ingested-events/?event_type=even")
    assert [e["event_payload"] for e in evens.data["results"]] == [4, 2, 0]
    window = api_client.get("/api/v1/ingested-events/?since=2026-11-23T12:01:00Z&until=2026-11-23T12:03:00Z")
    assert [e["event_payload"] for e in window.data["results"]] == [2, 1]
    bobs_event = IngestedEvent.objects.get(owner=bob)
    assert api_client.get(f"/api/v1/ingested-events/{bobs_event.pk}/").status_code == 404
    assert api_client.get("/api/v1/ingested-events/?since=soon").status_code == 400


def test_read_back_query_count_is_constant(machine, api_client, alice, django_assert_max_num_queries):
    ingest(machine, [{"event_type": "t", "event_payload": i} for i in range(60)])
    api_client.force_authenticate(alice)
    with django_assert_max_num_queries(1):
        response = api_client.get("/api/v1/ingested-events/?page_size=50")
    assert len(response.data["results"]) == 50


def test_retention_deletes_old_events_in_batches(machine, settings, frozen):
    ingest(machine, [{"event_type": "old", "event_payload": i} for i in range(5)])
    frozen.shift(timedelta(days=31))
    ingest(machine, {"event_type": "new", "event_payload": 1})
    settings.INGEST_RETENTION_DAYS = 0
    assert ingested_events_retention_apply() == 0  # 0 keeps events forever
    settings.INGEST_RETENTION_DAYS = 30
    assert ingested_events_retention_apply(batch_size=2) == 5
    assert list(IngestedEvent.objects.values_list("event_type", flat=True)) == ["new"]


def test_stored_rows_keep_type_payload_key_and_instant_exactly(machine):
    payload = {"ville": "Zürich", "quote": 'a "b" \\ c', "n": [1, 2.5, None, True], "emoji": "🚀"}
    batch = [
        {
            "event_type": "météo",
            "event_payload": payload,
            "idempotency_key": "clé-1",
            "occurred_at": "2026-11-23T13:30:00+01:30",
        },
        {"event_type": "t", "event_payload": "just text", "idempotency_key": ""},
    ]
    assert ingest(machine, batch).status_code == 201
    first, second = IngestedEvent.objects.order_by("id")
    assert (first.event_type, first.event_payload, first.idempotency_key) == ("météo", payload, "clé-1")
    assert first.occurred_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert (second.event_payload, second.idempotency_key, second.occurred_at) == ("just text", "", None)
