import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, connections
from rest_framework.test import APIClient

from eventsys.http import DELIVERY_HEADER
from triggers.models import ExecutionLog, Trigger
from triggers.services import (
    DeliveryInProgress,
    delivery_attempt,
    dispatch_due,
    execution_log_redeliver,
    trigger_create,
    trigger_fire,
    trigger_pause,
    trigger_resume,
)
from triggers.tests.test_delivery import api_trigger

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enqueued():
    """The delivery ids handed to the broker, once the request's transaction commits."""
    with mock.patch("triggers.services.enqueue.enqueue_deliveries") as enqueue:
        yield lambda: [delivery_id for call in enqueue.call_args_list for delivery_id in call.args[0]]


def fired(trigger, clock, django_capture_on_commit_callbacks) -> ExecutionLog:
    """A scheduled firing of the trigger, logged and (its enqueue patched out) not yet attempted."""
    trigger.refresh_from_db()
    clock.move_to(trigger.next_run_at)
    with django_capture_on_commit_callbacks():
        dispatch_due(now=trigger.next_run_at)
    return trigger.logs.latest("created_at")


def failed_delivery(trigger, receiver, clock, capture) -> ExecutionLog:
    receiver.responses.append((410, {}, b"gone"))
    log = fired(trigger, clock, capture)
    assert delivery_attempt(delivery_id=log.delivery_id) == "failed"
    log.refresh_from_db()
    return log


def redeliver(client, log, capture):
    with capture(execute=True):
        return client.post(f"/api/v1/event-logs/{log.pk}/redeliver/")


def test_a_failed_delivery_is_sent_again_with_the_same_delivery_id_as_a_new_attempt(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 2
    receiver.responses = [(503, {}, b"busy"), (503, {}, b"busy")]
    log = fired(api_trigger(alice, receiver.url), clock, django_capture_on_commit_callbacks)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    clock.move_to(log.next_attempt_at)
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    assert (log.status, log.attempts) == ("failed", 2)  # attempts exhausted

    response = redeliver(client_alice, log, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.data
    assert response.data["status"] == "pending" and response.data["delivery_id"] == str(log.delivery_id)
    assert response.data["error"] == "" and response.data["response_status"] is None
    assert response.data["completed_at"] is None
    assert enqueued() == [log.delivery_id]

    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"  # a duplicate message sends nothing
    assert [r["headers"][DELIVERY_HEADER] for r in receiver.requests] == [str(log.delivery_id)] * 3
    log.refresh_from_db()
    assert (log.status, log.attempts, log.response_status) == ("delivered", 3, 200)
    assert list(log.delivery_attempts.values_list("number", "outcome")) == [
        (1, "retry"),
        (2, "retry"),
        (3, "delivered"),
    ]


def test_a_re_delivery_is_one_attempt_and_a_failure_ends_it(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = failed_delivery(api_trigger(alice, receiver.url), receiver, clock, django_capture_on_commit_callbacks)
    receiver.responses.append((503, {}, b"still busy"))
    assert redeliver(client_alice, log, django_capture_on_commit_callbacks).status_code == 202
    assert delivery_attempt(delivery_id=log.delivery_id) == "retry"
    log.refresh_from_db()
    assert (log.status, log.attempts, log.response_status) == ("failed", 2, 503)
    assert log.completed_at is not None and log.next_attempt_at is None


def test_a_delivered_delivery_can_be_sent_again(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = fired(api_trigger(alice, receiver.url), clock, django_capture_on_commit_callbacks)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    response = redeliver(client_alice, log, django_capture_on_commit_callbacks)
    assert response.status_code == 202 and response.data["status"] == "pending"
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert [r["headers"][DELIVERY_HEADER] for r in receiver.requests] == [str(log.delivery_id)] * 2
    assert list(log.delivery_attempts.values_list("number", flat=True)) == [1, 2]


def test_a_pending_delivery_is_a_409_and_stays_as_it_was(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = fired(api_trigger(alice, receiver.url), clock, django_capture_on_commit_callbacks)
    response = redeliver(client_alice, log, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and response.data["code"] == "delivery_in_progress"
    assert enqueued() == []
    after = ExecutionLog.objects.get(pk=log.pk)
    assert (after.attempts, after.attempt_limit, after.next_attempt_at) == (0, None, log.next_attempt_at)


def test_a_scheduled_triggers_firing_has_nothing_to_deliver(
    client_alice, alice, clock, enqueued, django_capture_on_commit_callbacks
):
    trigger = trigger_create(
        owner=alice, name="tick", kind="scheduled", schedule_type="one_off", schedule_time=NOW + timedelta(minutes=1)
    )
    log = fired(trigger, clock, django_capture_on_commit_callbacks)
    assert log.status == "none"
    response = redeliver(client_alice, log, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and response.data["code"] == "nothing_to_deliver"
    assert ExecutionLog.objects.get(pk=log.pk).status == "none" and enqueued() == []


def test_a_test_run_is_not_re_delivered(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    trigger = api_trigger(alice, receiver.url)
    assert client_alice.post(f"/api/v1/triggers/{trigger.pk}/test/").status_code == 200
    log = ExecutionLog.objects.get(source="test")
    response = redeliver(client_alice, log, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and response.data["code"] == "test_not_redeliverable"
    assert len(receiver.requests) == 1


def test_someone_elses_log_is_a_404(
    client_alice, alice, bob, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = failed_delivery(api_trigger(bob, receiver.url), receiver, clock, django_capture_on_commit_callbacks)
    assert redeliver(client_alice, log, django_capture_on_commit_callbacks).status_code == 404
    assert ExecutionLog.objects.get(pk=log.pk).status == "failed" and enqueued() == []
    trigger_resume(trigger=log.trigger)
    assert client_alice.post(f"/api/v1/triggers/{log.trigger_id}/redeliver-failed/").status_code == 404


def test_the_same_log_redelivered_twice_gets_one_new_attempt(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = failed_delivery(api_trigger(alice, receiver.url), receiver, clock, django_capture_on_commit_callbacks)
    assert redeliver(client_alice, log, django_capture_on_commit_callbacks).status_code == 202
    assert redeliver(client_alice, log, django_capture_on_commit_callbacks).status_code == 409
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"
    assert len(receiver.requests) == 2 and ExecutionLog.objects.get(pk=log.pk).attempts == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs this)")
def test_concurrent_redeliveries_of_one_log_make_one_new_attempt(alice, receiver, clock, monkeypatch):
    monkeypatch.setattr("triggers.services.enqueue.enqueue_deliveries", lambda ids: None)
    trigger = api_trigger(alice, receiver.url)
    receiver.responses.append((410, {}, b"gone"))
    log = trigger_fire(trigger=trigger)
    assert delivery_attempt(delivery_id=log.delivery_id) == "failed"
    barrier = threading.Barrier(4)

    def redeliver_once(_):
        try:
            barrier.wait(timeout=10)
            execution_log_redeliver(log=log)
            return "redelivered"
        except DeliveryInProgress:
            return "refused"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(redeliver_once, range(4)))
    assert sorted(results) == ["redelivered", "refused", "refused", "refused"]
    log.refresh_from_db()
    assert (log.status, log.attempt_limit) == ("pending", 2)
    assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"
    assert len(receiver.requests) == 2


def test_redeliver_failed_re_sends_every_failed_delivery_of_an_active_trigger(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.TRIGGER_DISABLE_AFTER_FAILURES = 2
    trigger = api_trigger(alice, receiver.url)
    delivered = fired(trigger, clock, django_capture_on_commit_callbacks)
    assert delivery_attempt(delivery_id=delivered.delivery_id) == "delivered"
    failed = [failed_delivery(trigger, receiver, clock, django_capture_on_commit_callbacks) for _ in range(2)]
    other = failed_delivery(
        api_trigger(alice, receiver.url, name="other"), receiver, clock, django_capture_on_commit_callbacks
    )
    trigger.refresh_from_db()
    assert trigger.status == "disabled"
    requests_before = len(receiver.requests)

    url = f"/api/v1/triggers/{trigger.pk}/redeliver-failed/"
    refused = client_alice.post(url)
    assert refused.status_code == 409 and refused.data["code"] == "trigger_not_active"

    trigger_resume(trigger=trigger)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_alice.post(url)
    assert response.status_code == 202 and response.data == {"redelivered": 2}
    assert sorted(enqueued()) == sorted(log.delivery_id for log in failed)
    for log in failed:
        assert delivery_attempt(delivery_id=log.delivery_id) == "delivered"
    sent = [r["headers"][DELIVERY_HEADER] for r in receiver.requests[requests_before:]]
    assert sorted(sent) == sorted(str(log.delivery_id) for log in failed)
    assert ExecutionLog.objects.get(pk=other.pk).status == "failed"  # another trigger's failure stays
    assert ExecutionLog.objects.get(pk=delivered.pk).attempts == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert client_alice.post(url).data == {"redelivered": 0}  # nothing failed any more


def test_redeliver_failed_is_bounded_per_call(alice, receiver, clock, enqueued, django_capture_on_commit_callbacks):
    from triggers.services import trigger_redeliver_failed

    trigger = api_trigger(alice, receiver.url)
    logs = [failed_delivery(trigger, receiver, clock, django_capture_on_commit_callbacks) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert trigger_redeliver_failed(trigger=trigger, limit=2) == 2
        assert trigger_redeliver_failed(trigger=trigger, limit=2) == 1
    assert enqueued() == [log.delivery_id for log in logs]  # oldest first


def test_redeliver_failed_of_a_paused_trigger_is_a_409(
    client_alice, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    trigger = api_trigger(alice, receiver.url)
    log = failed_delivery(trigger, receiver, clock, django_capture_on_commit_callbacks)
    trigger_pause(trigger=trigger)
    response = client_alice.post(f"/api/v1/triggers/{trigger.pk}/redeliver-failed/")
    assert response.status_code == 409 and response.data["code"] == "trigger_not_active"
    assert ExecutionLog.objects.get(pk=log.pk).status == "failed"


def test_admin_action_re_delivers_and_reports_refusals(
    client, admin_user, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    trigger = api_trigger(alice, receiver.url)
    failed = failed_delivery(trigger, receiver, clock, django_capture_on_commit_callbacks)
    pending = fired(trigger, clock, django_capture_on_commit_callbacks)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/triggers/executionlog/",
            {"action": "redeliver", "_selected_action": [failed.pk, pending.pk]},
            follow=True,
        )
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any("still pending" in message for message in shown), shown
    assert "Re-delivered 1 log(s)." in shown
    assert enqueued() == [failed.delivery_id]
    assert delivery_attempt(delivery_id=failed.delivery_id) == "delivered"
    assert [r["headers"][DELIVERY_HEADER] for r in receiver.requests] == [str(failed.delivery_id)] * 2


def test_admin_button_re_delivers_from_the_logs_page(
    client, admin_user, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = failed_delivery(api_trigger(alice, receiver.url), receiver, clock, django_capture_on_commit_callbacks)
    client.force_login(admin_user)
    page = f"/admin/triggers/executionlog/{log.pk}/change/"
    button = f"/admin/triggers/executionlog/{log.pk}/redeliver/"
    assert f'action="{button}"' in client.get(page).content.decode()
    assert client.get(button).status_code == 405  # a POST only

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(button, follow=True)
    assert response.redirect_chain == [(page, 302)]
    assert any("re-delivery enqueued" in str(m) for m in response.context["messages"])
    assert enqueued() == [log.delivery_id]
    assert f'action="{button}"' not in response.content.decode()  # pending now: no button

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(button, follow=True)
    assert any("still pending" in str(m) for m in again.context["messages"])
    assert enqueued() == [log.delivery_id]


def test_admin_button_needs_csrf_and_staff(
    client, alice, receiver, clock, enqueued, django_capture_on_commit_callbacks
):
    log = failed_delivery(api_trigger(alice, receiver.url), receiver, clock, django_capture_on_commit_callbacks)
    button = f"/admin/triggers/executionlog/{log.pk}/redeliver/"
    client.force_login(alice)  # not staff: sent to the admin's login
    assert client.post(button).status_code == 302
    staff = APIClient(enforce_csrf_checks=True)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    staff.force_login(alice)
    assert staff.post(button).status_code == 403  # no CSRF token
    assert ExecutionLog.objects.get(pk=log.pk).status == "failed" and enqueued() == []
    assert Trigger.objects.count() == 1
