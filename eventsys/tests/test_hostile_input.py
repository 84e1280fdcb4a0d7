"""Input that PostgreSQL or Python cannot store or render is a 400 naming the field, on every route
that takes it, and nothing stored before the bounds can break a read (issue 13, defects 1-4, 8, 9)."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.test import APIClient

from accounts.services import api_token_create
from alerts.models import PriceAlert
from events.models import Event, IngestedEvent
from eventsys.api.bounds import MAX_INSTANT, MIN_INSTANT
from triggers.models import Trigger
from triggers.services import trigger_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# JSON texts (as a client sends them) that parse in Python but cannot be stored or encoded.
UNSTORABLE_JSON = {
    "nul in a string": '{"a": "x\\u0000y"}',
    "nul in a key": '{"a\\u0000": 1}',
    "lone surrogate in a string": '["\\ud800"]',
    "lone surrogate in a key": '{"\\udfff": true}',
    "float overflow": '{"n": 1e400}',
    "negative float overflow": "[-1e400]",
    "nested too deep": "[" * 70 + "]" * 70,
}


@pytest.fixture(autouse=True)
def _webhooks_to_loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # no trigger here fires; its URL needs no DNS


@pytest.fixture
def token(alice):
    return api_token_create(user=alice, name="sensor")[1]


def post_raw(path: str, text: str, *, method: str = "post", **headers):
    return getattr(APIClient(), method)(path, data=text.encode(), content_type="application/json", headers=headers)


def bearer(credential: str) -> dict:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def jwt(alice, access_token):
    return access_token(alice)


# --- 1. JSON PostgreSQL or Python cannot store -------------------------------------------------


@pytest.mark.parametrize("payload", UNSTORABLE_JSON.values(), ids=UNSTORABLE_JSON.keys())
@pytest.mark.parametrize("path", ["/api/v1/ingest/", "/api/event", "/event"])
def test_ingest_refuses_unstorable_payloads_naming_the_field(token, path, payload):
    response = post_raw(path, f'{{"event_type": "t", "event_payload": {payload}}}', **bearer(token))
    assert response.status_code in (400, 422), response.content
    assert "event_payload" in response.content.decode()
    assert not IngestedEvent.objects.exists()


@pytest.mark.parametrize("event_type", ['"door\\u0000"', '"\\ud800"'])
@pytest.mark.parametrize("path", ["/api/v1/ingest/", "/api/event"])
def test_ingest_refuses_unstorable_event_types(token, path, event_type):
    response = post_raw(path, f'[{{"event_type": {event_type}, "event_payload": 1}}]', **bearer(token))
    assert response.status_code in (400, 422), response.content
    assert "event_type" in response.content.decode()
    assert not IngestedEvent.objects.exists()


def test_ingest_refuses_an_unstorable_idempotency_key(token):
    response = post_raw(
        "/api/v1/ingest/", '{"event_type": "t", "event_payload": 1, "idempotency_key": "k\\u0000"}', **bearer(token)
    )
    assert response.status_code == 400 and "idempotency_key" in response.json()["errors"][0]["fields"]


def test_an_unknown_field_named_with_a_lone_surrogate_is_a_400(token):
    response = post_raw("/api/v1/ingest/", '{"event_type": "t", "event_payload": 1, "\\ud800": 2}', **bearer(token))
    assert response.status_code == 400
    assert "\\ud800" in response.content.decode()  # echoed as a JSON escape, which UTF-8 can carry


def _trigger_body(payload: str) -> str:
    return (
        '{"name": "hook", "trigger_type": "api", "schedule_time": "2026-11-24T09:00:00Z",'
        f' "api_endpoint": "http://127.0.0.1:9/hook", "api_payload": {payload}}}'
    )


@pytest.mark.parametrize("payload", UNSTORABLE_JSON.values(), ids=UNSTORABLE_JSON.keys())
def test_trigger_create_refuses_unstorable_payloads(client_alice, jwt, payload):
    for path, headers in (("/api/v1/triggers/", bearer(jwt)), ("/trigger/create-trigger", bearer(jwt))):
        response = post_raw(path, _trigger_body(payload), **headers)
        assert response.status_code == 400, (path, response.content)
        assert "api_payload" in response.content.decode()
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("payload", UNSTORABLE_JSON.values(), ids=UNSTORABLE_JSON.keys())
def test_trigger_update_refuses_unstorable_payloads_and_keeps_the_old_one(alice, jwt, payload):
    trigger = trigger_create(
        owner=alice,
        name="hook",
        kind="api",
        schedule_type="one_off",
        schedule_time=NOW + timedelta(days=1),
        api_endpoint="http://127.0.0.1:9/hook",
        api_payload={"kept": True},
    )
    for method, path in (
        ("patch", f"/api/v1/triggers/{trigger.pk}/"),
        ("put", f"/trigger/update-trigger/{trigger.pk}"),
    ):
        response = post_raw(path, f'{{"api_payload": {payload}}}', method=method, **bearer(jwt))
        assert response.status_code == 400, (path, response.content)
        assert "api_payload" in response.content.decode()
    trigger.refresh_from_db()
    assert trigger.api_payload == {"kept": True}


def test_legacy_trigger_payload_given_as_json_text_is_bounded_too(jwt):
    text = json.dumps('{"a": "\\u0000"}')  # a JSON string holding JSON text, as the original's clients sent
    response = post_raw("/trigger/create-trigger", _trigger_body(text), **bearer(jwt))
    assert response.status_code == 400 and "api_payload" in response.json()["errors"]


def test_a_choice_echoing_a_lone_surrogate_is_a_400_not_a_500(client_alice, jwt):
    response = post_raw("/api/v1/triggers/", '{"trigger_type": "\\ud800"}', **bearer(jwt))
    assert response.status_code == 400
    assert "trigger_type" in response.json()


# --- 2, 3. Instants that cannot be rendered in every zone ----------------------------------------

FAR_TIMES = {
    "past year 9999 in UTC": "9999-12-31T23:59:59-14:00",
    "year 9999": "9999-12-31T22:00:00Z",
    "year 1 in UTC": "0001-01-01T00:00:00Z",
    "before year 1 in UTC": "0001-01-01T01:00:00+14:00",
}


@pytest.mark.parametrize("when", FAR_TIMES.values(), ids=FAR_TIMES.keys())
def test_ingest_refuses_an_occurred_at_out_of_bounds_and_the_list_keeps_working(token, alice, when):
    client = APIClient()
    response = post_raw(
        "/api/v1/ingest/", json.dumps({"event_type": "t", "event_payload": 1, "occurred_at": when}), **bearer(token)
    )
    assert response.status_code == 400 and "occurred_at" in response.json()["errors"][0]["fields"]
    client.force_authenticate(alice)
    assert client.get("/api/v1/ingested-events/").status_code == 200


@pytest.mark.parametrize("edge", ["0002-01-01T00:00:00Z", "9998-12-31T23:59:59Z"])
def test_ingest_takes_the_edges_of_the_bounds(token, alice, edge):
    body = json.dumps({"event_type": "t", "event_payload": 1, "occurred_at": edge})
    assert post_raw("/api/v1/ingest/", body, **bearer(token)).status_code == 201
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get("/api/v1/ingested-events/").status_code == 200


def _event_body(start: str, end: str, zone: str = "UTC") -> dict:
    return {
        "name": "Far",
        "location": "Here",
        "start_time": start,
        "end_time": end,
        "timezone": zone,
        "max_capacity": 5,
    }


@pytest.mark.parametrize(
    ("start", "end", "zone"),
    [
        ("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z", "Asia/Kolkata"),
        ("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z", "UTC"),
        ("9999-12-31T22:00:00", "9999-12-31T23:00:00", "Pacific/Kiritimati"),  # wall clock in the zone
        ("9998-12-31T22:00:00", "9998-12-31T23:00:00", "Etc/GMT+12"),  # in range as wall clock, not in UTC
        ("0001-01-01T02:00:00Z", "0001-01-01T03:00:00Z", "America/New_York"),
    ],
)
def test_event_create_refuses_times_that_do_not_render_everywhere(client_alice, start, end, zone):
    response = client_alice.post("/api/v1/events/", _event_body(start, end, zone), format="json")
    assert response.status_code == 400, response.data
    assert {"start_time", "end_time"} & set(response.data)
    assert not Event.objects.exists()
    assert APIClient().get("/api/v1/events/", {"when": "all", "tz": "Pacific/Kiritimati"}).status_code == 200


def test_event_update_refuses_a_far_end(client_alice):
    created = client_alice.post(
        "/api/v1/events/", _event_body("2027-01-01T10:00:00Z", "2027-01-01T12:00:00Z"), format="json"
    )
    response = client_alice.patch(f"/api/v1/events/{created.data['id']}/", {"end_time": "9999-12-31T23:00:00Z"})
    assert response.status_code == 400 and "end_time" in response.data


def test_legacy_event_create_refuses_a_far_wall_clock_time(jwt):
    body = {
        "payload": {
            "name": "Far",
            "location": "x",
            "start_time": "9999-12-31 22:00",
            "end_time": "9999-12-31 23:00",
            "max_capacity": 5,
        }
    }
    response = APIClient().post("/events/", body, format="json", headers=bearer(jwt))
    assert response.status_code == 400, response.content
    assert not Event.objects.exists()


@pytest.mark.parametrize("field", ["schedule_time", "end_at"])
def test_trigger_times_are_bounded(client_alice, field):
    body = {
        "name": "t",
        "trigger_type": "scheduled",
        "schedule_time": "2026-11-24T09:00:00Z",
        "is_recurring": True,
        "interval": 5,
    }
    body[field] = "9999-12-31T23:00:00Z"
    response = client_alice.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400 and field in response.data


def test_price_alert_expiry_is_bounded(client_alice):
    body = {"coin": "bitcoin", "target_price": "1", "direction": "above", "expires_at": "9999-12-31T23:00:00Z"}
    response = client_alice.post("/api/v1/price-alerts/", body, format="json")
    assert response.status_code == 400 and "expires_at" in response.data
    assert not PriceAlert.objects.exists()


# --- 3. Rows stored before the bounds are repaired ----------------------------------------------


def _run_migration(module: str) -> None:
    from importlib import import_module

    from django.apps import apps

    import_module(module).bound_instants(apps, None)


def _stored_event(organiser, zone: str, start: datetime, end: datetime) -> Event:
    """An event written past the serializers, as the unbounded API once stored one."""
    return Event.objects.create(
        organiser=organiser, name=zone, location="x", timezone=zone, max_capacity=5, start_time=start, end_time=end
    )


def test_the_migration_repairs_events_stored_out_of_bounds(alice):
    far = _stored_event(
        alice, "Asia/Kolkata", datetime(9999, 12, 31, 22, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)
    )
    early = _stored_event(alice, "America/New_York", datetime(1, 1, 1, 2, tzinfo=UTC), datetime(1, 1, 1, 3, tzinfo=UTC))
    _run_migration("events.migrations.0003_bound_stored_instants")
    far.refresh_from_db()
    early.refresh_from_db()
    assert MIN_INSTANT <= early.start_time < early.end_time <= MAX_INSTANT
    assert MIN_INSTANT <= far.start_time < far.end_time == MAX_INSTANT
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kolkata"):
        assert APIClient().get("/api/v1/events/", {"when": "all", "tz": zone}).status_code == 200


def test_the_migrations_repair_other_times_stored_out_of_bounds(alice, token):
    from django.db import connection

    trigger = trigger_create(
        owner=alice, name="t", kind="scheduled", schedule_type="one_off", schedule_time=NOW + timedelta(days=1)
    )
    IngestedEvent.objects.create(owner=alice, event_type="t", event_payload=1, body_hash="x", received_at=NOW)
    if connection.vendor == "postgresql":
        # PostgreSQL keeps what Python cannot read back: year 10000, as the unbounded ingest stored it.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE events_ingestedevent SET occurred_at = '10000-01-01T13:59:59Z'")
            cursor.execute("UPDATE triggers_trigger SET end_at = '0001-01-01T00:00:00Z', schedule_time = '10000-01-01'")
    else:
        IngestedEvent.objects.update(occurred_at=datetime(9999, 12, 31, 23, tzinfo=UTC))
        Trigger.objects.update(end_at=datetime(1, 1, 1, tzinfo=UTC), schedule_time=datetime(9999, 12, 31, tzinfo=UTC))
    _run_migration("events.migrations.0003_bound_stored_instants")
    _run_migration("triggers.migrations.0002_bound_stored_instants")
    assert IngestedEvent.objects.get().occurred_at == MAX_INSTANT
    trigger.refresh_from_db()
    assert (trigger.schedule_time, trigger.end_at) == (MAX_INSTANT, MIN_INSTANT)
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get("/api/v1/ingested-events/").status_code == 200
    assert client.get(f"/api/v1/triggers/{trigger.pk}/").status_code == 200


def test_the_price_alert_migration_repairs_a_far_expiry(alice):
    alert = PriceAlert.objects.create(
        owner=alice,
        coin="bitcoin",
        currency="usd",
        target_price=1,
        direction="above",
        expires_at=datetime(9999, 12, 31, 23, tzinfo=UTC),
    )
    _run_migration("alerts.migrations.0004_bound_stored_instants")
    alert.refresh_from_db()
    assert alert.expires_at == MAX_INSTANT


# --- 4. Control characters in query parameters and paths -----------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ingested-events/?event_type=%00",
        "/api/v1/price-alerts/?coin=%00",
        "/api/v1/prices/?coin=%00",
        "/api/v1/events/?tz=Europe%00",
        "/api/v1/triggers/?%00=1",
        "/alerts/fetch_all/%00",
        "/api/v1/event-logs/?since=2026-11-23T10:00:00%01Z",
    ],
)
def test_control_characters_in_a_query_or_path_are_a_400(client_alice, path):
    response = client_alice.get(path)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"


def test_the_400_names_the_parameter(client_alice):
    response = client_alice.get("/api/v1/price-alerts/?status=created&coin=bit%00coin")
    assert response.status_code == 400
    assert response.json() == {"coin": ["Control characters are not allowed."]}


def test_ordinary_unicode_in_a_query_is_left_alone(client_alice):
    assert client_alice.get("/api/v1/ingested-events/?event_type=caf%C3%A9%20d%C3%A9j%C3%A0").status_code == 200


# --- 8. Chunked bodies --------------------------------------------------------------------------


def _wsgi(body: bytes, *, terminated: bool, headers: dict) -> tuple[str, bytes]:
    """One request through Django's WSGI handler as a server passes a chunked body: no CONTENT_LENGTH,
    the input already de-chunked (gunicorn sets wsgi.input_terminated)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/ingest/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": terminated,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    status_line = []
    chunks = WSGIHandler()(environ, lambda status, response_headers: status_line.append(status))
    return status_line[0], b"".join(chunks)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_ingest_is_read_not_taken_as_empty(token):
    body = json.dumps({"event_type": "door.opened", "event_payload": {"bay": 3}}).encode()
    status, content = _wsgi(body, terminated=True, headers=bearer(token))
    assert status.startswith("201"), content
    assert IngestedEvent.objects.get().event_payload == {"bay": 3}


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_cap_is_413(token, settings):
    settings.REQUEST_MAX_BYTES = 2048
    body = json.dumps({"event_type": "t", "event_payload": "x" * 4000}).encode()
    status, _ = _wsgi(body, terminated=True, headers=bearer(token))
    assert status.startswith("413")
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_from_a_server_that_cannot_end_it_is_411(token):
    status, content = _wsgi(b'{"event_type": "t", "event_payload": 1}', terminated=False, headers=bearer(token))
    assert status.startswith("411") and json.loads(content)["code"] == "length_required"


# --- 9. Legacy trigger routes answer JSON to an id that is no id --------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/trigger/trigger_event/abc"),
        ("post", "/trigger/test_trigger/1.5"),
        ("put", "/trigger/update-trigger/-1"),
        ("put", "/trigger/update_trigger/x"),
        ("delete", "/trigger/delete-trigger/%20"),
        ("delete", "/trigger/delete_trigger/99999999999999999999999"),
    ],
)
def test_legacy_trigger_routes_answer_a_non_integer_id_in_the_originals_shape(jwt, method, path):
    response = getattr(APIClient(), method)(path, {}, format="json", headers=bearer(jwt))
    assert response.status_code == 404
    assert response.json() == {"error": "Trigger not found!"}
