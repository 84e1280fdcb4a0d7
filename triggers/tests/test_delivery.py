import json
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine

from eventsys.http import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from triggers.models import DeliveryAttempt, ExecutionLog, Trigger
from triggers.services import deliveries_requeue, delivery_attempt, dispatch_due, retry_delay, trigger_create
from triggers.tasks import deliver

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def api_trigger(owner, url, **fields):
    defaults = {
        "name": "hook",
        "kind": "api",
        "api_endpoint": url,
        "api_payload": {"hello": "world"},
        "schedule_type": "interval",
        "schedule_time": NOW + timedelta(minutes=1),
        "interval": 1,
    }
    return trigger_create(owner=owner, **{**defaults, **fields})


def fire_once(trigger, clock) -> ExecutionLog:
    clock.move_to(trigger.next_run_at)
    dispatch_due(now=trigger.next_run_at)
    return trigger.logs.latest("created_at")


def test_delivery_posts_the_payload_signed(alice, receiver, clock):
    trigger = api_trigger(alice, receiver.url)
    log = fire_once(trigger, clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"

    [request] = receiver.requests
    assert json.loads(request["body"]) == {"hello": "world"}
    headers = request["headers"]
    assert headers[DELIVERY_HEADER] == str(log.delivery_id)
    assert verify_signature(
        trigger.signing_secret,
        delivery_id=headers[DELIVERY_HEADER],
        timestamp=int(headers[TIMESTAMP_HEADER]),
        body=request["body"],
        signature=headers[SIGNATURE_HEADER],
        now=int(NOW.timestamp()) + 60,
    )
    assert not verify_signature(
        "whsec_wrong",
        delivery_id=headers[DELIVERY_HEADER],
        timestamp=int(headers[TIMESTAMP_HEADER]),
        body=request["body"],
        signature=headers[SIGNATURE_HEADER],
        now=int(NOW.timestamp()) + 60,
    )
    log.refresh_from_db()
    assert log.status == "delivered" and log.attempts == 1 and log.response_status == 200
    assert log.response_excerpt == "ok" and log.completed_at is not None and log.lease_until is None
    assert log.delivery_attempts.get().outcome == "delivered"


def test_delivery_task_run_twice_delivers_once(alice, receiver, clock):
    log = fire_once(api_trigger(alice, receiver.url), clock)
    assert deliver.run(str(log.delivery_id)) == "delivered"
    assert deliver.run(str(log.delivery_id)) == "not-due"
    assert len(receiver.requests) == 1
    assert log.delivery_attempts.count() == 1


def test_retries_follow_the_back_off_and_stop_at_the_bound(alice, receiver, clock, settings):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 3
    settings.TRIGGER_RETRY_BASE_SECONDS = 10
    receiver.responses = [(503, {}, b"busy")] * 3
    trigger = api_trigger(alice, receiver.url)
    log = fire_once(trigger, clock)
    started = trigger.next_run_at

    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    assert log.status == "pending" and log.attempts == 1
    assert started + timedelta(seconds=5) <= log.next_attempt_at <= started + timedelta(seconds=15)
    # Not due yet: an early duplicate message changes nothing.
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"

    clock.move_to(log.next_attempt_at)
    second_started = log.next_attempt_at
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    assert second_started + timedelta(seconds=10) <= log.next_attempt_at <= second_started + timedelta(seconds=30)

    clock.move_to(log.next_attempt_at)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    assert log.status == "failed" and log.attempts == 3 and log.next_attempt_at is None
    assert len(receiver.requests) == 3
    assert list(log.delivery_attempts.values_list("number", "response_status")) == [(1, 503), (2, 503), (3, 503)]


def test_retry_delay_grows_exponentially_within_jitter_and_cap(settings):
    settings.TRIGGER_RETRY_BASE_SECONDS = 10
    settings.TRIGGER_RETRY_MAX_SECONDS = 300
    assert retry_delay(1, rng=lambda: 0.0) == timedelta(seconds=5)
    assert retry_delay(1, rng=lambda: 0.999) < timedelta(seconds=15)
    assert retry_delay(3, rng=lambda: 0.5) == timedelta(seconds=40)
    assert retry_delay(10, rng=lambda: 0.5) == timedelta(seconds=300)
    assert retry_delay(1, retry_after=120, rng=lambda: 0.5) == timedelta(seconds=120)
    assert retry_delay(1, retry_after=10_000, rng=lambda: 0.5) == timedelta(seconds=300)


def test_retry_after_header_is_honoured(alice, receiver, clock):
    receiver.responses = [(429, {"Retry-After": "120"}, b"slow down")]
    log = fire_once(api_trigger(alice, receiver.url), clock)
    delivery_attempt(delivery_id=log.delivery_id)
    log.refresh_from_db()
    assert log.next_attempt_at >= log.created_at + timedelta(seconds=120)


def test_client_error_fails_at_once(alice, receiver, clock):
    receiver.responses = [(404, {}, b"no such hook")]
    log = fire_once(api_trigger(alice, receiver.url), clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "failed"
    log.refresh_from_db()
    assert log.status == "failed" and log.response_status == 404 and log.response_excerpt == "no such hook"


def test_a_trigger_whose_deliveries_keep_failing_is_disabled(alice, receiver, clock, settings):
    settings.TRIGGER_DISABLE_AFTER_FAILURES = 2
    receiver.responses = [(410, {}, b"gone")] * 2
    trigger = api_trigger(alice, receiver.url)
    for _ in range(2):
        trigger.refresh_from_db()
        delivery_attempt(delivery_id=fire_once(trigger, clock).delivery_id)
    trigger.refresh_from_db()
    assert trigger.status == "disabled" and trigger.next_run_at is None
    assert "2 deliveries in a row failed" in trigger.disabled_reason and "410" in trigger.disabled_reason


def test_a_success_resets_the_failure_count(alice, receiver, clock, settings):
    settings.TRIGGER_DISABLE_AFTER_FAILURES = 2
    receiver.responses = [(410, {}, b"gone"), (200, {}, b"ok"), (410, {}, b"gone")]
    trigger = api_trigger(alice, receiver.url)
    for _ in range(3):
        trigger.refresh_from_db()
        delivery_attempt(delivery_id=fire_once(trigger, clock).delivery_id)
    trigger.refresh_from_db()
    assert trigger.status == "active" and trigger.consecutive_failures == 1


def test_a_killed_workers_delivery_is_retried_with_the_same_delivery_id(
    alice, receiver, clock, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGER_DELIVERY_LEASE_SECONDS = 120
    log = fire_once(api_trigger(alice, receiver.url), clock)
    killed = mock.patch("triggers.services.delivery.post_json", side_effect=SystemExit("worker killed"))
    with killed, pytest.raises(SystemExit):
        delivery_attempt(delivery_id=log.delivery_id)
    log.refresh_from_db()
    assert log.status == "pending" and log.attempts == 1 and log.next_attempt_at is None

    clock.shift(timedelta(seconds=119))
    assert deliveries_requeue() == 0  # the attempt still owns its lease
    clock.shift(timedelta(seconds=2))
    with django_capture_on_commit_callbacks() as callbacks:
        assert deliveries_requeue() == 1
    assert len(callbacks) == 1
    with mock.patch("triggers.services.enqueue.enqueue_deliveries") as enqueue:
        callbacks[0]()
    assert enqueue.call_args.args[0] == [log.delivery_id]

    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert receiver.requests[0]["headers"][DELIVERY_HEADER] == str(log.delivery_id)
    log.refresh_from_db()
    assert log.attempts == 2 and log.status == "delivered"


def test_sweeper_enqueues_due_retries_once(alice, receiver, clock, django_capture_on_commit_callbacks):
    receiver.responses = [(500, {}, b"oops")]
    log = fire_once(api_trigger(alice, receiver.url), clock)
    delivery_attempt(delivery_id=log.delivery_id)
    log.refresh_from_db()
    assert deliveries_requeue() == 0  # the retry is not due yet
    clock.move_to(log.next_attempt_at)
    with django_capture_on_commit_callbacks():
        assert deliveries_requeue() == 1
        assert deliveries_requeue() == 0  # now enqueued: leased
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"


def test_a_lost_message_is_re_enqueued_after_its_lease(alice, clock, django_capture_on_commit_callbacks, settings):
    settings.TRIGGER_REQUEUE_AFTER_SECONDS = 600
    log = fire_once(api_trigger(alice, "http://93.184.216.34/hook"), clock)  # enqueued, never consumed
    clock.shift(timedelta(seconds=599))
    assert deliveries_requeue() == 0  # a deep queue may still deliver it
    clock.shift(timedelta(seconds=2))
    with django_capture_on_commit_callbacks():
        assert deliveries_requeue() == 1
    log.refresh_from_db()
    assert log.lease_until > log.created_at + timedelta(seconds=601)


def test_a_delivery_whose_worker_dies_on_every_attempt_still_stops_at_the_bound(
    alice, receiver, clock, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 2
    settings.TRIGGER_DISABLE_AFTER_FAILURES = 1
    trigger = api_trigger(alice, receiver.url)
    log = fire_once(trigger, clock)
    killed = mock.patch("triggers.services.delivery.post_json", side_effect=SystemExit("worker killed"))
    for _ in range(2):
        with killed, pytest.raises(SystemExit):
            delivery_attempt(delivery_id=log.delivery_id)
        clock.shift(timedelta(seconds=settings.TRIGGER_DELIVERY_LEASE_SECONDS + 1))
        with django_capture_on_commit_callbacks():
            deliveries_requeue()
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"  # the bound is reached
    log.refresh_from_db()
    assert log.status == "failed" and "attempts exhausted" in log.error
    trigger.refresh_from_db()
    assert trigger.status == "disabled"
    assert receiver.requests == []


def test_destination_refused_at_delivery_time_fails_without_a_request(alice, receiver, clock, settings):
    log = fire_once(api_trigger(alice, receiver.url), clock)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert delivery_attempt(delivery_id=log.delivery_id) == "failed"
    assert receiver.requests == []
    log.refresh_from_db()
    assert "loopback" in log.error or "private" in log.error


def test_test_action_sends_a_real_signed_request_and_is_not_a_run(api_client, alice, receiver, clock):
    trigger = api_trigger(alice, receiver.url)
    api_client.force_authenticate(alice)
    response = api_client.post(f"/api/v1/triggers/{trigger.pk}/test/")
    assert response.status_code == 200
    assert response.data["source"] == "test" and response.data["status"] == "delivered"
    assert response.data["response_status"] == 200 and response.data["latency_ms"] is not None
    assert len(receiver.requests) == 1 and SIGNATURE_HEADER in receiver.requests[0]["headers"]
    trigger.refresh_from_db()
    assert trigger.run_count == 0 and trigger.next_run_at == NOW + timedelta(minutes=1)


def test_manual_fire_enqueues_a_delivery(api_client, alice, receiver, clock, django_capture_on_commit_callbacks):
    trigger = api_trigger(alice, receiver.url)
    api_client.force_authenticate(alice)
    with (
        mock.patch("triggers.services.enqueue.enqueue_deliveries") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api_client.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 202 and response.data["status"] == "pending"
    log = ExecutionLog.objects.get()
    assert enqueue.call_args.args[0] == [log.delivery_id]
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert Trigger.objects.get().run_count == 0


def test_a_burst_is_delivered_from_shared_messages_and_one_failure_does_not_stop_the_rest(
    alice, receiver, clock, monkeypatch
):
    from triggers.services import delivery as delivery_module
    from triggers.tasks import deliver_many

    logs = [fire_once(api_trigger(alice, receiver.url, name=f"hook{i}"), clock) for i in range(3)]
    real_send = delivery_module.delivery_send

    def second_one_breaks(*, log):
        if log.delivery_id == logs[1].delivery_id:
            raise RuntimeError("signing went wrong")
        return real_send(log=log)

    monkeypatch.setattr(delivery_module, "delivery_send", second_one_breaks)
    outcome = deliver_many.run([str(log.delivery_id) for log in logs])
    assert outcome == {"delivered": 2, "error": 1}
    assert sorted(r["headers"][DELIVERY_HEADER] for r in receiver.requests) == sorted(
        [str(logs[0].delivery_id), str(logs[2].delivery_id)]
    )
    broken = ExecutionLog.objects.get(pk=logs[1].pk)  # still held: the sweeper re-sends it when its lease ends
    assert broken.status == "pending" and broken.attempts == 1 and broken.lease_until is not None
    assert DeliveryAttempt.objects.filter(log=broken).count() == 0


def test_a_message_naming_a_delivery_twice_makes_one_attempt(alice, receiver, clock):
    from triggers.tasks import deliver_many

    log = fire_once(api_trigger(alice, receiver.url), clock)

    assert deliver_many.run([str(log.delivery_id)] * 3) == {"delivered": 1}
    assert len(receiver.requests) == 1 and DeliveryAttempt.objects.filter(log=log).count() == 1


def test_the_deliveries_of_one_message_are_sent_side_by_side(alice, clock, settings):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from triggers.tasks import deliver_many

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.TRIGGER_DELIVERY_SENDERS = 8
    in_flight, most = [0], [0]
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.2)
            with lock:
                in_flight[0] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        logs = [fire_once(api_trigger(alice, url, name=f"hook{i}"), clock) for i in range(8)]
        started = time.perf_counter()
        assert deliver_many.run([str(log.delivery_id) for log in logs]) == {"delivered": 8}
        elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()

    assert most[0] >= 4 and elapsed < 8 * 0.2 / 2  # one by one would take 1.6 s
    assert DeliveryAttempt.objects.filter(log__in=logs).count() == 8


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(1, [1]), (64, [1] * 64), (65, [2] * 32 + [1]), (1000, [16] * 62 + [8]), (10_000, [20] * 500)],
)
def test_delivery_ids_share_messages_only_in_bursts(count, sizes):
    from triggers.services.enqueue import delivery_messages

    ids = [str(i) for i in range(count)]
    messages = delivery_messages(ids)
    assert [len(message) for message in messages] == sizes
    assert [delivery_id for message in messages for delivery_id in message] == ids


def test_enqueue_sends_single_ids_to_deliver_and_groups_to_deliver_many(monkeypatch):
    from triggers.services.enqueue import enqueue_deliveries
    from triggers.tasks import deliver_many

    sent = []
    monkeypatch.setattr(deliver, "apply_async", lambda args, **kwargs: sent.append(("deliver", args)))
    monkeypatch.setattr(deliver_many, "apply_async", lambda args, **kwargs: sent.append(("deliver_many", args)))
    enqueue_deliveries(["a"])
    assert sent == [("deliver", ("a",))]
    sent.clear()
    enqueue_deliveries([f"id{i}" for i in range(100)])
    assert {name for name, _ in sent} == {"deliver_many"} and len(sent) == 50
    assert [i for _, (ids,) in sent for i in ids] == [f"id{i}" for i in range(100)]


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_after_the_claim_does_not_strand_the_attempt(alice, receiver, clock, monkeypatch):
    """The worker that claimed an attempt reconnects and records it; before, the attempt waited out its lease."""
    from django.db import OperationalError, connection

    from triggers.services import delivery

    monkeypatch.setattr("triggers.services.enqueue.enqueue_deliveries", lambda ids: None)
    monkeypatch.setattr(delivery.time, "sleep", lambda seconds: None)
    log = fire_once(api_trigger(alice, receiver.url), clock)
    real_send = delivery.delivery_send

    def send_then_lose_the_connection(*, log):
        outcome = real_send(log=log)
        if connection.vendor == "postgresql":  # a real kill, as pg_terminate_backend does in the fault suite
            killer = connection.get_new_connection(connection.get_connection_params())
            killer.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
            killer.close()
        else:
            real_record = delivery.delivery_attempt_record
            calls = []

            def record_once_lost(**kwargs):
                calls.append(1)
                if len(calls) == 1:
                    raise OperationalError("server closed the connection unexpectedly")
                return real_record(**kwargs)

            monkeypatch.setattr(delivery, "delivery_attempt_record", record_once_lost)
        return outcome

    monkeypatch.setattr(delivery, "delivery_send", send_then_lose_the_connection)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    log.refresh_from_db()
    assert (log.status, log.lease_until, log.attempts) == ("delivered", None, 1)
    assert log.delivery_attempts.count() == 1 and len(receiver.requests) == 1


def test_a_logs_detail_shows_every_attempt_and_the_list_only_the_outcome(alice, receiver, clock, client_alice):
    receiver.responses = [(503, {}, b"busy"), (200, {}, b"thanks")]
    trigger = api_trigger(alice, receiver.url)
    log = fire_once(trigger, clock)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    clock.move_to(log.next_attempt_at)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"

    detail = client_alice.get(f"/api/v1/event-logs/{log.pk}/").json()

    assert [(a["number"], a["outcome"], a["response_status"]) for a in detail["delivery_attempts"]] == [
        (1, "retry", 503),
        (2, "delivered", 200),
    ]
    assert detail["delivery_attempts"][1]["response_excerpt"] == "thanks"
    assert {"started_at", "latency_ms", "error"} <= set(detail["delivery_attempts"][0])
    listed = client_alice.get("/api/v1/event-logs/").json()["results"]
    assert "delivery_attempts" not in listed[0] and listed[0]["attempts"] == 2
