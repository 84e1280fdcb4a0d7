"""Every delivery attempt records the request headers exactly as sent and the response headers as
received (bounded), with credentials redacted in both: on the model, in the API and in the admin."""

import json
import socket
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from eventsys.http import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, post_json
from triggers.models import DeliveryAttempt
from triggers.services import delivery_attempt, execution_log_redeliver, trigger_test
from triggers.tests.test_delivery import api_trigger, fire_once

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(frozen):
    return frozen


class RepeatedHeaders(list):
    """Response headers for the Receiver's script that may name a header twice (a dict cannot)."""

    def items(self):
        return list(self)


def delivered_attempt(alice, receiver, clock) -> DeliveryAttempt:
    log = fire_once(api_trigger(alice, receiver.url), clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    return log.delivery_attempts.get()


def pairs(headers) -> list[tuple[str, str]]:
    return [tuple(pair) for pair in headers]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_request_headers_are_exactly_those_the_receiver_saw(alice, receiver, clock):
    attempt = delivered_attempt(alice, receiver, clock)

    seen = receiver.requests[0]["headers"]
    assert pairs(attempt.request_headers) == list(seen.items())
    names = {name for name, _ in attempt.request_headers}
    assert {"Host", "User-Agent", "Content-Type", DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER} <= names
    assert dict(attempt.request_headers)[SIGNATURE_HEADER].startswith("v1=")
    assert attempt.log.trigger.signing_secret not in json.dumps(attempt.request_headers)


def test_retries_and_re_deliveries_record_their_own_headers(alice, receiver, clock):
    receiver.responses = [(503, {"X-Attempt": "first"}, b"busy"), (200, {"X-Attempt": "second"}, b"ok")]
    log = fire_once(api_trigger(alice, receiver.url), clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    clock.move_to(log.next_attempt_at)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    log.refresh_from_db()
    execution_log_redeliver(log=log)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"

    attempts = list(log.delivery_attempts.order_by("number"))
    assert [pairs(a.request_headers) for a in attempts] == [list(r["headers"].items()) for r in receiver.requests]
    assert [dict(a.response_headers).get("X-Attempt") for a in attempts] == ["first", "second", None]
    assert all(dict(a.response_headers)["Content-Length"] for a in attempts)


def test_a_test_run_records_the_headers_too(alice, receiver, clock):
    log = trigger_test(trigger=api_trigger(alice, receiver.url))
    attempt = log.delivery_attempts.get()
    assert pairs(attempt.request_headers) == list(receiver.requests[0]["headers"].items())
    assert dict(attempt.response_headers)["Content-Length"] == "2"


def test_response_headers_are_recorded_with_cookies_redacted(alice, receiver, clock):
    cookies = [("Set-Cookie", "session=s3cr3t-one"), ("Set-Cookie", "csrf=s3cr3t-two")]
    receiver.responses = [(200, RepeatedHeaders([("X-Receiver", "yes"), *cookies]), b"ok")]

    attempt = delivered_attempt(alice, receiver, clock)

    received = pairs(attempt.response_headers)
    assert ("X-Receiver", "yes") in received and ("Content-Length", "2") in received
    assert received.count(("Set-Cookie", "[redacted]")) == 2  # one pair per header, as sent
    assert "s3cr3t" not in json.dumps(attempt.response_headers)


def test_secret_request_headers_from_the_caller_are_redacted_and_still_sent(receiver):
    secrets = {"Authorization": "Bearer tok-1", "X-Api-Key": "key-2", "Cookie": "sid=3", "X-Auth-Token": "tok-4"}
    outcome = post_json(receiver.url, b"{}", delivery_id="d-1", secret="whsec_x", headers={**secrets, "X-Trace": "t-5"})

    recorded = dict(outcome.request_headers)
    assert {name: recorded[name] for name in secrets} == dict.fromkeys(secrets, "[redacted]")
    assert recorded["X-Trace"] == "t-5" and recorded[SIGNATURE_HEADER].startswith("v1=")
    seen = receiver.requests[0]["headers"]
    assert {name: seen[name] for name in secrets} == secrets
    assert recorded[SIGNATURE_HEADER] == seen[SIGNATURE_HEADER]
    assert "whsec_x" not in json.dumps(outcome.request_headers)


def test_response_headers_are_bounded(alice, receiver, clock):
    long_secret_name = "X-" + "n" * 120 + "-token"
    many = {"X-Long": "v" * 2000, long_secret_name: "t0ken-value", **{f"X-H{i:02}": str(i) for i in range(80)}}
    receiver.responses = [(200, many, b"ok")]

    attempt = delivered_attempt(alice, receiver, clock)

    received = dict(attempt.response_headers)
    assert len(attempt.response_headers) == 50
    assert received["X-Long"] == "v" * 500
    assert received[long_secret_name[:100]] == "[redacted]"
    assert "X-H79" not in received and "Content-Length" not in received  # past the first 50


def test_without_a_connection_the_request_headers_are_kept_and_no_response_headers(alice, receiver, clock):
    port = closed_port()
    log = fire_once(api_trigger(alice, f"http://127.0.0.1:{port}/hook"), clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"

    attempt = log.delivery_attempts.get()
    assert attempt.response_headers == [] and attempt.error.startswith("cannot connect")
    recorded = dict(attempt.request_headers)
    assert recorded["Host"] == f"127.0.0.1:{port}" and recorded[DELIVERY_HEADER] == str(log.delivery_id)
    assert recorded[SIGNATURE_HEADER].startswith("v1=") and recorded["User-Agent"] == "eventsys/1.0"


def test_an_unresolvable_host_keeps_the_headers_that_would_have_been_sent(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr("eventsys.http.socket.getaddrinfo", no_dns)
    outcome = post_json("http://hooks.example:8080/in", b"{}", delivery_id="d-2", secret="whsec_x")

    assert outcome.kind == "retry" and outcome.response_headers == ()
    recorded = dict(outcome.request_headers)
    assert recorded["Host"] == "hooks.example:8080" and recorded[DELIVERY_HEADER] == "d-2"
    assert SIGNATURE_HEADER in recorded


def test_the_logs_detail_shows_each_attempts_headers(alice, receiver, clock, client_alice):
    receiver.responses = [(200, {"X-Receiver": "yes"}, b"ok")]
    attempt = delivered_attempt(alice, receiver, clock)

    detail = client_alice.get(f"/api/v1/event-logs/{attempt.log_id}/").json()

    [shown] = detail["delivery_attempts"]
    assert shown["request_headers"] == attempt.request_headers
    assert [name for name, _ in shown["request_headers"]] == list(receiver.requests[0]["headers"])
    assert ["X-Receiver", "yes"] in shown["response_headers"]


def test_the_admin_log_page_shows_the_headers_escaped(admin_client, alice, receiver, clock):
    receiver.responses = [(200, {"X-Note": "<script>alert(1)</script>"}, b"ok")]
    attempt = delivered_attempt(alice, receiver, clock)

    page = admin_client.get(f"/admin/triggers/executionlog/{attempt.log_id}/change/").content.decode()

    assert "X-Note: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert f"{DELIVERY_HEADER}: {attempt.log.delivery_id}" in page
    assert page.count("X-Note") == 1  # as lines only, not also as the raw JSON


@pytest.fixture
def _latest_migrations_after():
    """Later tests share this database: whatever the test migrated back to, end at the latest migrations."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_latest_migrations_after")
def test_attempts_recorded_before_the_migration_get_empty_headers():
    before, after = (
        ("triggers", "0006_delivery_status_no_delivery_label"),
        ("triggers", "0007_delivery_attempt_headers"),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    user = old.get_model("accounts", "User").objects.create(username="old")
    trigger = old.get_model("triggers", "Trigger").objects.create(
        owner=user, name="old", kind="scheduled", status="paused", schedule_type="one_off", schedule_time=NOW
    )
    log = old.get_model("triggers", "ExecutionLog").objects.create(
        trigger=trigger, owner=user, source="manual", scheduled_for=NOW, status="delivered"
    )
    old.get_model("triggers", "DeliveryAttempt").objects.create(
        log=log, number=1, started_at=NOW, outcome="delivered", latency_ms=5
    )

    executor = MigrationExecutor(connection)
    executor.migrate([after])
    attempt = executor.loader.project_state([after]).apps.get_model("triggers", "DeliveryAttempt").objects.get()
    assert (attempt.request_headers, attempt.response_headers) == ([], [])
    # (_latest_migrations_after brings the schema back up to date for the tests that follow.)
