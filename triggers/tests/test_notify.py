"""Lateness and failure notices (triggers/services/notify.py): told once per change, never flooded."""

import json
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from eventsys.http import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from triggers.models import ExecutionLog, Trigger
from triggers.services import deliveries_attempt, delivery_attempt, dispatch_due, trigger_create
from triggers.services.notify import alert_states_change, notice_send, notices_resend_owed, recovery_evaluate
from triggers.tasks import notify
from triggers.tests.test_delivery import api_trigger

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def notices(monkeypatch):
    """The notices published (after commit); deliveries are not published."""
    sent: list[dict] = []
    lock = threading.Lock()

    def record(batch):
        with lock:
            sent.extend(
                {"trigger": n.trigger, "state": n.state, "previous": n.previous, "reason": n.reason} for n in batch
            )
        return True

    monkeypatch.setattr("triggers.services.notify.notices_enqueue", record)
    monkeypatch.setattr("triggers.services.enqueue.publish_many", lambda *args, **kwargs: True)
    return sent


def fire_and_deliver(trigger, clock) -> str:
    trigger.refresh_from_db()
    clock.move_to(trigger.next_run_at)
    dispatch_due(now=trigger.next_run_at)
    log = trigger.logs.latest("created_at")
    return delivery_attempt(delivery_id=log.delivery_id)


@pytest.mark.django_db
def test_failing_is_told_once_however_many_failures_and_recovery_once(
    alice, receiver, clock, notices, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 1
    trigger = api_trigger(alice, receiver.url, notify_email="ops@example.com", failing_after=2)
    receiver.defaults["POST"] = (500, {}, b"down")
    with django_capture_on_commit_callbacks(execute=True):
        assert fire_and_deliver(trigger, clock) == "retry"  # the only attempt: failed
        assert notices == []
        for _ in range(3):
            fire_and_deliver(trigger, clock)
    assert [(n["state"], n["previous"]) for n in notices] == [("failing", "ok")]
    assert "2 deliveries in a row failed" in notices[0]["reason"] and "HTTP 500" in notices[0]["reason"]
    trigger.refresh_from_db()
    assert trigger.alert_state == "failing" and trigger.consecutive_failures == 4
    assert trigger.alert_changed_at is not None

    receiver.defaults["POST"] = (200, {}, b"ok")
    with django_capture_on_commit_callbacks(execute=True):
        assert fire_and_deliver(trigger, clock) == "delivered"
        assert fire_and_deliver(trigger, clock) == "delivered"
    assert [(n["state"], n["previous"]) for n in notices] == [("failing", "ok"), ("ok", "failing")]
    assert notices[1]["reason"] == "a delivery succeeded"
    trigger.refresh_from_db()
    assert trigger.alert_state == "ok" and trigger.consecutive_failures == 0


@pytest.mark.django_db
def test_a_late_slot_is_told_once_and_an_on_time_one_recovers(
    alice, clock, notices, django_capture_on_commit_callbacks
):
    trigger = trigger_create(
        owner=alice,
        name="tick",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        notify_url="https://hooks.example.com/alerts",
        late_after_seconds=30,
    )
    slot = trigger.next_run_at
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_due(now=slot + timedelta(seconds=45))  # 45 s late
        dispatch_due(now=slot + timedelta(minutes=1, seconds=50))  # the next slot, late again: no second notice
        dispatch_due(now=slot + timedelta(minutes=2, seconds=1))  # on time
        dispatch_due(now=slot + timedelta(minutes=3, seconds=2))  # on time again: nothing
    assert [(n["state"], n["previous"]) for n in notices] == [("late", "ok"), ("ok", "late")]
    assert "logged 45.0 s late (limit 30 s)" in notices[0]["reason"]
    trigger.refresh_from_db()
    assert trigger.alert_state == "ok" and trigger.alert_changed_at == slot + timedelta(minutes=2, seconds=1)


@pytest.mark.django_db
def test_failing_outranks_late(alice, receiver, clock, notices, settings, django_capture_on_commit_callbacks):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 1
    receiver.defaults["POST"] = (500, {}, b"down")
    trigger = api_trigger(alice, receiver.url, notify_email="o@example.com", failing_after=1, late_after_seconds=5)
    with django_capture_on_commit_callbacks(execute=True):
        fire_and_deliver(trigger, clock)
        trigger.refresh_from_db()
        dispatch_due(now=trigger.next_run_at + timedelta(seconds=30))  # late, but failing already
    assert [n["state"] for n in notices] == ["failing"]
    assert Trigger.objects.get(pk=trigger.pk).alert_state == "failing"


@pytest.mark.django_db
def test_nothing_is_told_without_thresholds(
    alice, receiver, clock, notices, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 1
    receiver.defaults["POST"] = (500, {}, b"down")
    trigger = api_trigger(alice, receiver.url, notify_email="ops@example.com")  # a recipient, no threshold
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            fire_and_deliver(trigger, clock)
        trigger.refresh_from_db()
        dispatch_due(now=trigger.next_run_at + timedelta(minutes=10))  # very late
    assert notices == []
    assert Trigger.objects.get(pk=trigger.pk).alert_state == "ok"


def _dispatch_queries(owner, count: int, **fields) -> int:
    for i in range(count):
        trigger_create(
            owner=owner,
            name=f"t{i}",
            kind="scheduled",
            schedule_type="interval",
            schedule_time=NOW + timedelta(minutes=1),
            interval=1,
            **fields,
        )
    with CaptureQueriesContext(connection) as queries:
        dispatch_due(now=NOW + timedelta(minutes=1, seconds=10), batch_size=10)
    Trigger.objects.all().delete()
    return len(queries)


@pytest.mark.django_db
def test_a_dispatch_batch_costs_no_more_queries_unless_a_state_changes(alice, clock, notices):
    plain = _dispatch_queries(alice, 8)
    watched_on_time = _dispatch_queries(alice, 8, notify_email="o@example.com", late_after_seconds=60)
    watched_late = _dispatch_queries(alice, 8, notify_email="o@example.com", late_after_seconds=5)
    assert watched_on_time == plain
    assert watched_late == plain + 1  # one conditional UPDATE for the whole batch


def _delivery_queries(owner, url, count: int, **fields) -> tuple[int, list[str]]:
    triggers = [api_trigger(owner, url, name=f"t{i}", **fields) for i in range(count)]
    dispatch_due(now=NOW + timedelta(minutes=1))
    ids = list(ExecutionLog.objects.filter(trigger__in=triggers).values_list("delivery_id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        deliveries_attempt(delivery_ids=ids, now=NOW + timedelta(minutes=1))
    Trigger.objects.all().delete()
    return len(queries)


@pytest.mark.django_db
def test_a_delivery_batch_costs_no_more_queries_unless_a_trigger_recovers(
    alice, receiver, clock, notices, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGER_DELIVERY_SENDERS = 1
    plain = _delivery_queries(alice, receiver.url, 6)
    watched = _delivery_queries(alice, receiver.url, 6, notify_email="o@example.com", failing_after=2)
    assert watched == plain
    # Failing triggers (as loaded with their logs) whose deliveries succeed: one UPDATE for the batch.
    triggers = [
        api_trigger(alice, receiver.url, name=f"f{i}", notify_email="o@example.com", failing_after=2) for i in range(6)
    ]
    Trigger.objects.filter(pk__in=[t.pk for t in triggers]).update(alert_state="failing")
    dispatch_due(now=NOW + timedelta(minutes=1))
    ids = list(ExecutionLog.objects.values_list("delivery_id", flat=True))
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        deliveries_attempt(delivery_ids=ids, now=NOW + timedelta(minutes=1))
    assert len(queries) == plain + 1
    assert set(Trigger.objects.values_list("alert_state", flat=True)) == {"ok"}
    assert len(notices) == 6


@pytest.mark.django_db
def test_the_webhook_notice_is_posted_signed_to_the_receiver(alice, receiver, clock):
    trigger = api_trigger(alice, "https://93.184.216.34/hook", notify_url=receiver.url, failing_after=3)
    notice = {
        "id": "6f1c1c3e-8a8b-4d8e-9a38-2f0e3c1d2b4a",
        "event": "trigger.failing",
        "trigger": trigger.pk,
        "state": "failing",
        "previous": "ok",
        "reason": "3 deliveries in a row failed; the last: HTTP 500",
        "at": NOW.isoformat(),
    }
    Trigger.objects.filter(pk=trigger.pk).update(alert_notice=notice)  # as the change stored it
    assert notify.run(notice) == []
    assert notify.run(notice) == []  # a second copy of the message: already taken, nothing sent
    [request] = receiver.requests
    body = json.loads(request["body"])
    assert body == {**notice, "name": "hook"}
    headers = request["headers"]
    assert headers[DELIVERY_HEADER] == notice["id"]
    assert verify_signature(
        trigger.signing_secret,
        delivery_id=notice["id"],
        timestamp=int(headers[TIMESTAMP_HEADER]),
        body=request["body"],
        signature=headers[SIGNATURE_HEADER],
        now=int(NOW.timestamp()),
    )
    assert mail.outbox == []  # no notify_email: no e-mail


@pytest.mark.django_db
def test_a_webhook_notice_to_a_busy_receiver_is_retried_alone(alice, receiver, clock, monkeypatch):
    trigger = api_trigger(alice, "https://93.184.216.34/hook", notify_url=receiver.url, notify_email="o@example.com")
    receiver.responses = [(503, {}, b"busy")]
    notice = {"id": "x", "event": "trigger.late", "trigger": trigger.pk, "state": "late", "previous": "ok"}
    notice |= {"reason": "late", "at": NOW.isoformat()}
    Trigger.objects.filter(pk=trigger.pk).update(alert_notice=notice)
    assert notice_send(notice=notice) == ["webhook"]
    assert len(mail.outbox) == 1
    assert notice_send(notice=notice, channels=["webhook"]) == []  # the retry: the webhook only
    assert len(mail.outbox) == 1 and len(receiver.requests) == 2


@pytest.mark.django_db
def test_the_email_notice_names_the_trigger_and_the_change(alice, clock):
    trigger = trigger_create(
        owner=alice,
        name="nightly export",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        notify_email="ops@example.com",
        late_after_seconds=60,
    )
    notice = {"id": "n1", "event": "trigger.late", "trigger": trigger.pk, "state": "late", "previous": "ok"}
    notice |= {"reason": "the slot due 2026-11-23T12:01:00+00:00 was logged 75.0 s late (limit 60 s)"}
    notice |= {"at": NOW.isoformat()}
    Trigger.objects.filter(pk=trigger.pk).update(alert_notice=notice)
    assert notify.run(notice) == []
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == "[eventsys] Trigger “nightly export” is late"
    assert "75.0 s late" in message.body and "from ok to late" in message.body


@pytest.mark.django_db
def test_a_name_with_line_breaks_still_makes_a_valid_subject(alice, clock):
    trigger = trigger_create(
        owner=alice,
        name="nightly\nexport",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        notify_email="ops@example.com",
        late_after_seconds=60,
    )
    notice = {"id": "n2", "event": "trigger.late", "trigger": trigger.pk, "state": "late", "previous": "ok"}
    notice |= {"reason": "late", "at": NOW.isoformat()}
    Trigger.objects.filter(pk=trigger.pk).update(alert_notice=notice)
    assert notify.run(notice) == []
    [message] = mail.outbox
    assert message.subject == "[eventsys] Trigger “nightly export” is late" and "nightly\nexport" in message.body


@pytest.mark.django_db
def test_a_notice_of_a_deleted_trigger_is_dropped(alice, clock):
    assert notice_send(notice={"id": "n", "trigger": 999_999, "state": "late"}) == []
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_broker_outage_does_not_break_dispatch(alice, clock, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("celery.app.base.Celery.producer_or_acquire", down)
    trigger = trigger_create(
        owner=alice,
        name="tick",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        notify_email="ops@example.com",
        late_after_seconds=5,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due(now=trigger.next_run_at + timedelta(seconds=30)).fired == 1
    trigger.refresh_from_db()
    assert trigger.alert_state == "late" and trigger.alert_notice["state"] == "late"  # owed, not lost


@pytest.mark.django_db
def test_a_notice_the_broker_lost_is_sent_again_once(alice, clock, monkeypatch, django_capture_on_commit_callbacks):
    trigger = trigger_create(
        owner=alice,
        name="tick",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        notify_email="ops@example.com",
        late_after_seconds=5,
    )
    changed_at = trigger.next_run_at + timedelta(seconds=30)
    lost, published = [], []
    monkeypatch.setattr("triggers.services.notify.notices_enqueue", lost.extend)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_due(now=changed_at)
    [first] = lost  # published, and lost by the broker
    monkeypatch.setattr("triggers.services.notify.notices_enqueue", published.extend)
    assert notices_resend_owed(now=changed_at + timedelta(seconds=60)) == 0  # may still be on its way
    assert notices_resend_owed(now=changed_at + timedelta(minutes=3)) == 1
    [again] = published
    assert again == first  # the same notice, the same id
    assert notify.run(asdict(again)) == []
    assert notify.run(asdict(first)) == []  # the original turning up late sends nothing
    [message] = mail.outbox
    assert message.subject == "[eventsys] Trigger “tick” is late"
    assert notices_resend_owed(now=changed_at + timedelta(minutes=10)) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs them)")
@pytest.mark.parametrize("change", ["recovery", "late"])
def test_two_workers_changing_the_same_state_notify_once(alice, notices, change):
    trigger = trigger_create(
        owner=alice,
        name="raced",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=1,
        now=NOW,
        notify_email="ops@example.com",
        late_after_seconds=5,
        failing_after=2,
    )
    Trigger.objects.filter(pk=trigger.pk).update(alert_state="failing" if change == "recovery" else "ok")
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            with transaction.atomic():
                barrier.wait()
                if change == "recovery":
                    recovery_evaluate({trigger.pk}, now=NOW)
                else:
                    alert_states_change({trigger.pk: ("ok", "late", "late")}, now=NOW)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(notices) == 1
    assert Trigger.objects.get(pk=trigger.pk).alert_state == ("ok" if change == "recovery" else "late")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs them)")
def test_two_workers_recording_failures_at_once_notify_failing_once(alice, receiver, notices, settings):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 1
    receiver.defaults["POST"] = (500, {}, b"down")
    with time_machine.travel(NOW, tick=False):
        trigger = api_trigger(alice, receiver.url, notify_email="ops@example.com", failing_after=2)
    slot = trigger.next_run_at
    for minute in range(2):  # two pending deliveries of the same trigger
        dispatch_due(now=slot + timedelta(minutes=minute))
    ids = list(ExecutionLog.objects.values_list("delivery_id", flat=True))
    assert len(ids) == 2
    barrier = threading.Barrier(2)
    errors = []

    def worker(delivery_id):
        try:
            barrier.wait()
            delivery_attempt(delivery_id=delivery_id, now=slot + timedelta(minutes=2))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(delivery_id,)) for delivery_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [n["state"] for n in notices] == ["failing"]
    trigger.refresh_from_db()
    assert trigger.consecutive_failures == 2 and trigger.alert_state == "failing"
