"""The original event consumer's endpoints (seed 002) and `manage.py propagate`, its propagator."""

import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.services import api_token_create, api_token_revoke
from conftest import Receiver
from events import ingestion
from events.management.commands import propagate as propagate_command
from events.models import IngestedEvent
from events.propagator import propagator_samples

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

EVENT_PATHS = ["/api/event", "/event"]
READY_PATHS = ["/api/ready", "/ready"]


@pytest.fixture
def token(alice):
    return api_token_create(user=alice, name="propagator")


def post(path, body, **headers):
    """POST `body` as the original propagator did: JSON, with its headers."""
    return APIClient().post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def bearer(plaintext: str) -> dict:
    return {"Authorization": f"Bearer {plaintext}"}


# --- GET /api/ready ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", READY_PATHS)
def test_readme_ready_example_verbatim(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert response["Cache-Control"] == "no-store"
    # No beat or worker heartbeat was ever seen: /api/ready/ says so, the consumer's probe needs neither.
    assert api_client.get("/api/ready/").status_code == 503


@pytest.mark.django_db
def test_ready_ignores_the_token_the_original_propagator_sent(api_client, token):
    response = api_client.get("/api/ready", headers={**bearer(token[1]), "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"status": "ready"}
    assert api_client.get("/ready", headers=bearer("not-a-token")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", READY_PATHS)
def test_ready_is_503_when_the_database_is_down(api_client, monkeypatch, path):
    from django.db import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("eventsys.ops.services.connection.cursor", down)
    response = api_client.get(path)
    assert response.status_code == 503
    assert response.json() == {"detail": "Not ready: database unavailable."}


@pytest.mark.django_db
def test_ready_is_503_when_the_broker_is_unavailable(api_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "gone"),
        "data_folder_out": str(tmp_path / "gone"),
        "control_folder": str(tmp_path),
    }
    response = api_client.get("/api/ready")
    assert response.status_code == 503
    assert response.json() == {"detail": "Not ready: broker unavailable."}


# --- POST /api/event -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize("path", EVENT_PATHS)
def test_readme_event_example_verbatim(token, alice, path):
    headers = {"Authorization": "Bearer " + token[1], "Content-Type": "application/json"}
    response = post(path, [{"event_type": "string", "event_payload": "string"}], **headers)
    assert response.status_code == 200, response.content
    assert response.json() == {"status_code": "200"}
    event = IngestedEvent.objects.get()
    assert (event.owner, event.token, event.event_type, event.event_payload) == (alice, token[0], "string", "string")
    assert event.received_at == NOW


@pytest.mark.django_db
@pytest.mark.parametrize("path", EVENT_PATHS)
def test_one_event_as_the_original_model_took_it(token, path):
    response = post(path, {"event_type": "door.opened", "event_payload": "loading bay"}, **bearer(token[1]))
    assert response.status_code == 200 and response.json() == {"status_code": "200"}
    assert list(IngestedEvent.objects.values_list("event_type", "event_payload")) == [("door.opened", "loading bay")]


@pytest.mark.django_db
@pytest.mark.parametrize("payload", ["text", {"a": [1, 2]}, [1, "b"], 4.5, 7, None, True])
def test_any_json_payload_is_stored_as_sent(token, payload):
    assert post("/api/event", {"event_type": "t", "event_payload": payload}, **bearer(token[1])).status_code == 200
    assert IngestedEvent.objects.get().event_payload == payload


@pytest.mark.django_db
def test_a_persons_jwt_works_too_and_stores_no_api_token(alice, access_token):
    response = post("/api/event", [{"event_type": "t", "event_payload": 1}], **bearer(access_token(alice)))
    assert response.status_code == 200 and response.json() == {"status_code": "200"}
    event = IngestedEvent.objects.get()
    assert (event.owner, event.token) == (alice, None)


@pytest.mark.django_db
def test_the_token_may_also_come_bare_or_as_x_access_token(token):
    assert post("/api/event", {"event_type": "t", "event_payload": 1}, Authorization=token[1]).status_code == 200
    assert (
        post("/api/event", {"event_type": "t", "event_payload": 2}, **{"x-access-token": token[1]}).status_code == 200
    )
    assert IngestedEvent.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("path", EVENT_PATHS)
def test_no_token_is_401_in_fastapis_words(path):
    response = post(path, {"event_type": "t", "event_payload": 1})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db
def test_a_bad_or_revoked_token_is_401_with_the_originals_detail(token, alice, access_token):
    unknown = post("/api/event", {"event_type": "t", "event_payload": 1}, **bearer("evs_nothere_secret"))
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "Invalid token: Invalid or revoked API token."}
    garbage = post("/api/event", {"event_type": "t", "event_payload": 1}, **bearer("not.a.jwt"))
    assert garbage.status_code == 401
    assert garbage.json()["detail"].startswith("Invalid token: ") and len(garbage.json()) == 1
    api_token_revoke(token=token[0])
    revoked = post("/api/event", {"event_type": "t", "event_payload": 1}, **bearer(token[1]))
    assert revoked.status_code == 401 and revoked.json()["detail"].startswith("Invalid token: ")
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db
def test_the_default_owner_does_not_apply_the_original_needed_a_token(settings, alice):
    settings.LEGACY_DEFAULT_OWNER = "alice"
    response = post("/api/event", {"event_type": "t", "event_payload": 1})
    assert response.status_code == 401 and response.json() == {"detail": "Not authenticated"}
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"event_payload": "string"},
            [{"loc": ["body", "event_type"], "msg": "Required: a non-empty string.", "type": "missing"}],
        ),
        (
            {"event_type": "string"},
            [{"loc": ["body", "event_payload"], "msg": "Required (any JSON value).", "type": "missing"}],
        ),
        (
            {"event_type": 5, "event_payload": "x", "colour": "red"},
            [
                {"loc": ["body", "colour"], "msg": "Unknown field.", "type": "value_error"},
                {"loc": ["body", "event_type"], "msg": "Required: a non-empty string.", "type": "value_error"},
            ],
        ),
        (
            [{"event_type": "ok", "event_payload": 1}, {"event_type": " "}, "nope"],
            [
                {"loc": ["body", 1, "event_type"], "msg": "Required: a non-empty string.", "type": "value_error"},
                {"loc": ["body", 1, "event_payload"], "msg": "Required (any JSON value).", "type": "missing"},
                {"loc": ["body", 2], "msg": "Each event must be a JSON object.", "type": "value_error"},
            ],
        ),
        ("string", [{"loc": ["body"], "msg": "Each event must be a JSON object.", "type": "value_error"}]),
        ([], [{"loc": ["body"], "msg": "The batch is empty.", "type": "value_error"}]),
    ],
    ids=["no-type", "no-payload", "bad-type-and-unknown-field", "batch", "not-an-object", "empty-list"],
)
def test_invalid_events_are_422_with_fastapis_field_errors_and_nothing_is_stored(token, body, errors):
    response = post("/api/event", body, **bearer(token[1]))
    assert response.status_code == 422
    assert response.json() == {"detail": errors}
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_422(token):
    response = APIClient().post(
        "/api/event", data=b"{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token[1]}"
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"] and error["type"] == "json_invalid" and "JSON parse error" in error["msg"]


@pytest.mark.django_db
def test_the_ingestion_limits_apply(token, settings):
    settings.INGEST_MAX_BATCH = 2
    too_many = post("/api/event", [{"event_type": "t", "event_payload": i} for i in range(3)], **bearer(token[1]))
    assert too_many.status_code == 422
    assert too_many.json() == {
        "detail": [{"loc": ["body"], "msg": "At most 2 events a request.", "type": "value_error"}]
    }
    settings.INGEST_MAX_REQUEST_BYTES = 1024
    big = post("/api/event", {"event_type": "t", "event_payload": "x" * 2000}, **bearer(token[1]))
    assert big.status_code == 413 and big.json() == {"detail": "An ingest request is at most 1024 bytes."}
    assert not IngestedEvent.objects.exists()


@pytest.mark.django_db
def test_the_throttle_is_the_tokens_shared_with_v1(token):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "ingest": "2/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
        v1 = APIClient().post(
            "/api/v1/ingest/", {"event_type": "t", "event_payload": 0}, format="json", headers=bearer(token[1])
        )
        statuses = [post("/api/event", {"event_type": "t", "event_payload": i}, **bearer(token[1])) for i in (1, 2)]
    assert v1.status_code == 201
    assert [r.status_code for r in statuses] == [200, 429]
    assert set(statuses[1].json()) == {"detail"} and "Retry-After" in statuses[1]


@pytest.mark.django_db
def test_legacy_and_v1_clients_see_the_same_events(token, alice, bob, client_alice):
    post("/api/event", [{"event_type": "door.opened", "event_payload": "bay 1"}], **bearer(token[1]))
    listed = client_alice.get("/api/v1/ingested-events/").json()["results"]
    assert [(e["event_type"], e["event_payload"]) for e in listed] == [("door.opened", "bay 1")]
    bobs = APIClient()
    bobs.force_authenticate(bob)
    assert bobs.get(f"/api/v1/ingested-events/{listed[0]['id']}/").status_code == 404  # someone else's
    assert bobs.get("/api/v1/ingested-events/").json()["results"] == []

    # And the other way: an event sent to /api/v1/ingest/ and resent to the legacy route is stored once.
    event = {"event_type": "sensor", "event_payload": {"t": 21}, "idempotency_key": "k-1"}
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {token[1]}")
    assert machine.post("/api/v1/ingest/", event, format="json").status_code == 201
    assert post("/api/event", event, **bearer(token[1])).json() == {"status_code": "200"}
    assert IngestedEvent.objects.filter(owner=alice).count() == 2
    conflict = post("/api/event", {**event, "event_payload": {"t": 22}}, **bearer(token[1]))
    assert conflict.status_code == 409 and set(conflict.json()) == {"detail"}
    assert IngestedEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_as_one_event(token, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        assert post("/api/event", {"event_type": "t", "event_payload": 0}, **bearer(token[1])).status_code == 200
    with django_assert_max_num_queries(5):
        batch = [{"event_type": "t", "event_payload": i} for i in range(50)]
        assert post("/api/event", batch, **bearer(token[1])).status_code == 200
    assert IngestedEvent.objects.count() == 51


@pytest.mark.django_db
def test_the_service_stores_a_persons_events_without_a_token(alice):
    [receipt] = ingestion.ingest(owner=alice, body={"event_type": "t", "event_payload": 1})
    assert receipt.status == "accepted"
    assert IngestedEvent.objects.filter(owner=alice, token=None).count() == 1
    with pytest.raises(ValueError, match="token or an owner"):
        ingestion.ingest(body={"event_type": "t", "event_payload": 1})


@pytest.mark.django_db
def test_the_routes_are_in_the_schema_under_the_legacy_tag(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = {
        "/api/ready": "get",
        "/ready": "get",
        "/api/event": "post",
        "/event": "post",
    }
    for path, method in operations.items():
        assert schema["paths"][path][method]["tags"] == ["legacy"], path
    assert "422" in schema["paths"]["/api/event"]["post"]["responses"]


# --- manage.py propagate -------------------------------------------------------------------------


def ready_consumer():
    """The original consumer at the HTTP layer: GET …/ready answers ready, POST …/event 200 (both scriptable)."""
    reply = {"status_code": "200"}
    return Receiver(
        defaults={
            "GET": (200, {"Content-Type": "application/json"}, json.dumps({"status": "ready"}).encode()),
            "POST": (200, {"Content-Type": "application/json"}, json.dumps(reply).encode()),
        }
    )


def answer(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def consumer(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    fake = ready_consumer()
    yield fake
    fake.close()


@pytest.fixture
def sleeps(monkeypatch):
    """The command's waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(propagate_command, "_sleep", recorded.append)
    return recorded


@pytest.mark.parametrize(
    ("url", "ready"),
    [
        ("http://consumer:8000/event", "http://consumer:8000/ready"),
        ("http://consumer:8000/api/event", "http://consumer:8000/api/ready"),
        ("https://eventsys.example/api/v1/ingest/", "https://eventsys.example/api/ready"),
        ("https://eventsys.example/prefix/api/v1/ingest/?x=1", "https://eventsys.example/prefix/api/ready"),
        ("https://hooks.example/hook", ""),
    ],
)
def test_the_readiness_probe_sits_beside_the_event_url(url, ready):
    assert propagate_command.default_ready_url(url) == ready


def test_propagate_defaults_one_sample_every_5_seconds_to_the_settings_url(settings, consumer, sleeps, capsys):
    settings.PROPAGATOR_URL = f"{consumer.base}/api/event"
    settings.PROPAGATOR_TOKEN = "evs_settings_token"
    call_command("propagate", "--count", "3")
    assert consumer.calls() == [("GET", "/api/ready")] + [("POST", "/api/event")] * 3
    assert len(sleeps) == 2 and all(4.5 < s <= 5 for s in sleeps)  # 5 s from one send's start to the next
    posts = [r for r in consumer.requests if r["method"] == "POST"]
    assert all(r["headers"]["Authorization"] == "Bearer evs_settings_token" for r in posts)
    samples = {json.dumps(s, sort_keys=True) for s in propagator_samples()}
    for request in posts:
        event = json.loads(request["body"])  # one event, not a list, as the original sent
        sample = {"event_type": event["event_type"], "event_payload": event["event_payload"]}
        assert json.dumps(sample, sort_keys=True) in samples
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_propagate_waits_for_a_consumer_that_is_not_ready_instead_of_exiting(consumer, sleeps, capsys):
    consumer.get_responses = [
        answer(503, {"detail": "Not ready: database unavailable."}),
        answer(200, {"status": "starting"}),
    ]
    url = f"{consumer.base}/event"
    call_command("propagate", "--url", url, "--token", "evs_t", "--interval", "2", "--count", "1")
    assert consumer.calls() == [("GET", "/ready")] * 3 + [("POST", "/event")]
    assert sleeps == [2, 2]  # one wait after each "not ready"; none after the last send
    lines = capsys.readouterr().out.strip().splitlines()
    assert "not ready" in lines[0] and "HTTP 503" in lines[0]
    assert "not ready" in lines[1] and "starting" in lines[1]
    assert lines[2].startswith("[1] 200 ")
    probes = [r for r in consumer.requests if r["method"] == "GET"]
    assert all(r["headers"]["Authorization"] == "Bearer evs_t" for r in probes)  # same origin as the events


def test_propagate_asks_again_after_a_failed_send(consumer, sleeps, capsys):
    consumer.responses = [answer(503, {"status_code": "503"})]
    call_command("propagate", "--url", f"{consumer.base}/api/event", "--token", "t", "--every", "1", "--count", "2")
    assert consumer.calls() == [
        ("GET", "/api/ready"),
        ("POST", "/api/event"),
        ("GET", "/api/ready"),
        ("POST", "/api/event"),
    ]
    out = capsys.readouterr().out
    assert "[1] 503 " in out and "[2] 200 " in out


def test_propagate_keeps_waiting_while_nothing_listens_and_stops_on_ctrl_c(settings, monkeypatch, capsys):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(propagate_command, "_sleep", sleep)
    call_command("propagate", "--url", "http://127.0.0.1:1/api/event", "--token", "t")  # nothing listens on 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("cannot connect" in line for line in lines[:3])
    assert lines[-1] == "stopped after 0 sends" and waits == [5, 5, 5]


def test_propagate_stops_cleanly_on_ctrl_c_between_sends(consumer, monkeypatch, capsys):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(propagate_command, "_sleep", interrupted)
    call_command("propagate", "--url", f"{consumer.base}/api/event", "--token", "t")
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("[1] 200 ") and out[-1] == "stopped after 1 sends"


def test_propagate_refuses_a_probe_it_may_not_request(settings, consumer, sleeps):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(CommandError, match=r"Cannot check .*/api/ready.*private"):
        call_command("propagate", "--url", f"{consumer.base}/api/event", "--token", "t", "--count", "1")
    assert consumer.requests == [] and sleeps == []


def test_propagate_with_the_probe_turned_off_or_elsewhere(consumer, sleeps):
    call_command("propagate", "--url", f"{consumer.base}/api/event", "--ready-url", "", "--count", "1")
    assert consumer.calls() == [("POST", "/api/event")]
    other = ready_consumer()
    try:
        ready_url = f"{other.base}/health"
        call_command(
            "propagate", "--url", f"{consumer.base}/event", "--token", "t", "--ready-url", ready_url, "--count", "1"
        )
        assert other.calls() == [("GET", "/health")]
        assert "Authorization" not in other.requests[0]["headers"]  # the token only goes where events go
    finally:
        other.close()


def test_propagate_rejects_bad_options(settings):
    settings.PROPAGATOR_URL = ""
    with pytest.raises(CommandError, match="--url"):
        call_command("propagate")
    with pytest.raises(CommandError, match="--interval must be positive"):
        call_command("propagate", "--url", "http://consumer/event", "--interval", "0")


@pytest.mark.django_db(transaction=True)
def test_propagate_feeds_our_own_legacy_consumer_end_to_end(live_server, settings, alice, sleeps):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    _, plaintext = api_token_create(user=alice, name="propagator")
    call_command("propagate", "--url", f"{live_server.url}/api/event", "--token", plaintext, "--count", "2")
    events = IngestedEvent.objects.filter(owner=alice)
    assert events.count() == 2
    assert all(e.idempotency_key.startswith("propagator-") for e in events)
