import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections

from triggers.models import ExecutionLog, Trigger
from triggers.services import DispatchResult, dispatch_due, trigger_create

NOW = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)


def make_trigger(owner, **fields):
    defaults = {
        "name": "t",
        "kind": "scheduled",
        "schedule_type": "interval",
        "schedule_time": NOW + timedelta(minutes=1),
        "interval": 1,
    }
    with time_machine.travel(NOW, tick=False):
        return trigger_create(owner=owner, **{**defaults, **fields})


@pytest.mark.django_db
def test_due_slot_is_logged_once(alice, django_capture_on_commit_callbacks):
    trigger = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/hook")
    due = NOW + timedelta(minutes=1)
    with django_capture_on_commit_callbacks() as callbacks:
        first = dispatch_due(now=due)
        second = dispatch_due(now=due)
    assert (first.fired, second.fired) == (1, 0)
    assert trigger.logs.count() == 1 and len(callbacks) == 1
    log = trigger.logs.get()
    assert log.source == "schedule" and log.scheduled_for == due and log.status == "pending"
    assert log.payload == {} and log.url == "http://93.184.216.34/hook"
    trigger.refresh_from_db()
    assert trigger.next_run_at == due + timedelta(minutes=1)
    assert trigger.run_count == 1 and trigger.last_run_at == due


@pytest.mark.django_db
def test_nothing_fires_before_its_time(alice):
    trigger = make_trigger(alice)
    assert dispatch_due(now=NOW + timedelta(seconds=59)).fired == 0
    assert not trigger.logs.exists()


@pytest.mark.django_db
def test_scheduled_kind_logs_without_delivery(alice, django_capture_on_commit_callbacks):
    make_trigger(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        dispatch_due(now=NOW + timedelta(minutes=1))
    assert ExecutionLog.objects.get().status == "none"
    assert callbacks == []


@pytest.mark.django_db
def test_missed_slots_are_coalesced_into_one_firing(alice):
    trigger = make_trigger(alice)
    after_downtime = NOW + timedelta(minutes=10, seconds=30)  # slots at +1 … +10 minutes are due
    assert dispatch_due(now=after_downtime).fired == 1
    log = trigger.logs.get()
    assert log.missed_slots == 9 and log.scheduled_for == NOW + timedelta(minutes=1)
    trigger.refresh_from_db()
    assert trigger.next_run_at == NOW + timedelta(minutes=11)
    assert trigger.run_count == 1


@pytest.mark.django_db
def test_skip_policy_logs_late_slots_as_skipped(alice, settings):
    settings.TRIGGER_MISFIRE_GRACE_SECONDS = 60
    trigger = make_trigger(alice, misfire_policy="skip", interval=5, kind="api", api_endpoint="http://93.184.216.34/")
    # Slots at +1 and +6 minutes were missed; the latest is 4.5 minutes late, past the grace.
    result = dispatch_due(now=NOW + timedelta(minutes=10, seconds=30))
    assert (result.fired, result.skipped) == (0, 1)
    log = trigger.logs.get()
    assert log.status == "skipped" and log.missed_slots == 2
    trigger.refresh_from_db()
    assert trigger.run_count == 0 and trigger.next_run_at == NOW + timedelta(minutes=11)
    # A slot within the grace period fires normally.
    assert dispatch_due(now=NOW + timedelta(minutes=11, seconds=5)).fired == 1


@pytest.mark.django_db
def test_skip_policy_still_fires_the_latest_slot_within_the_grace(alice, settings):
    settings.TRIGGER_MISFIRE_GRACE_SECONDS = 60
    trigger = make_trigger(alice, misfire_policy="skip")
    # Slots at +1 … +10 minutes are due; +10 is only 30 s late.
    assert dispatch_due(now=NOW + timedelta(minutes=10, seconds=30)).fired == 1
    log = trigger.logs.get()
    assert log.scheduled_for == NOW + timedelta(minutes=10) and log.missed_slots == 9


@pytest.mark.django_db
def test_one_off_completes_after_firing(alice):
    trigger = make_trigger(alice, schedule_type="one_off", interval=None)
    dispatch_due(now=NOW + timedelta(minutes=5))
    trigger.refresh_from_db()
    assert trigger.status == "completed" and trigger.next_run_at is None and trigger.run_count == 1
    assert dispatch_due(now=NOW + timedelta(days=1)).fired == 0


@pytest.mark.django_db
def test_max_runs_completes_the_trigger(alice):
    trigger = make_trigger(alice, max_runs=2)
    for minute in (1, 2, 3, 4):
        dispatch_due(now=NOW + timedelta(minutes=minute))
    trigger.refresh_from_db()
    assert trigger.run_count == 2 and trigger.status == "completed"
    assert trigger.logs.count() == 2


@pytest.mark.django_db
def test_end_at_completes_the_trigger(alice):
    trigger = make_trigger(alice, end_at=NOW + timedelta(minutes=2, seconds=30))
    for minute in (1, 2, 3):
        dispatch_due(now=NOW + timedelta(minutes=minute))
    trigger.refresh_from_db()
    assert trigger.run_count == 2 and trigger.status == "completed"


@pytest.mark.django_db
def test_paused_triggers_do_not_fire(alice):
    from triggers.services import trigger_pause

    trigger_pause(trigger=make_trigger(alice))
    assert dispatch_due(now=NOW + timedelta(hours=1)).fired == 0


@pytest.mark.django_db
def test_daily_cron_fires_at_nine_local_across_the_spring_change(alice):
    with time_machine.travel(datetime(2026, 3, 27, 12, 0, tzinfo=UTC), tick=False):
        trigger = trigger_create(
            owner=alice,
            name="daily",
            kind="scheduled",
            schedule_type="cron",
            cron="0 9 * * *",
            timezone="Europe/London",
        )
    fired_at = []
    for _ in range(3):
        trigger.refresh_from_db()
        fired_at.append(trigger.next_run_at)
        dispatch_due(now=trigger.next_run_at)
    assert fired_at == [
        datetime(2026, 3, 28, 9, 0, tzinfo=UTC),  # 09:00 GMT
        datetime(2026, 3, 29, 8, 0, tzinfo=UTC),  # 09:00 BST
        datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
    ]
    assert trigger.logs.count() == 3


@pytest.mark.django_db
def test_batches_cover_every_due_trigger(alice, django_assert_max_num_queries):
    for i in range(25):
        make_trigger(alice, name=f"t{i}")
    with django_assert_max_num_queries(40):
        result = dispatch_due(now=NOW + timedelta(minutes=1), batch_size=10)
    assert result.fired == 25 and result.batches == 3
    assert ExecutionLog.objects.count() == 25


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED races need PostgreSQL (CI runs them)")
def test_two_dispatchers_racing_over_the_same_rows_log_each_slot_once(alice):
    for i in range(400):
        make_trigger(alice, name=f"t{i}")
    due = NOW + timedelta(minutes=1)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(dispatch_due(now=due, batch_size=10))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.fired for r in results) == 400
    assert all(r.fired > 0 for r in results), "both dispatchers should have claimed work"
    assert ExecutionLog.objects.count() == 400
    assert ExecutionLog.objects.values("trigger_id", "scheduled_for").distinct().count() == 400
    assert set(Trigger.objects.values_list("next_run_at", flat=True)) == {due + timedelta(minutes=1)}


@pytest.mark.django_db
def test_triggers_sharing_a_schedule_each_log_their_own_url_and_payload(alice):
    first = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/a", api_payload={"n": 1})
    second = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/b", api_payload=["x"])
    bare = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/c")
    silent = make_trigger(alice)
    dispatch_due(now=NOW + timedelta(minutes=1))
    logs = {log.trigger_id: log for log in ExecutionLog.objects.all()}
    assert (logs[first.pk].url, logs[first.pk].payload) == ("http://93.184.216.34/a", {"n": 1})
    assert (logs[second.pk].url, logs[second.pk].payload) == ("http://93.184.216.34/b", ["x"])
    assert (logs[bare.pk].url, logs[bare.pk].payload) == ("http://93.184.216.34/c", {})
    assert (logs[silent.pk].url, logs[silent.pk].payload, logs[silent.pk].status) == ("", None, "none")
    assert logs[first.pk].owner_id == alice.pk and logs[first.pk].state == "active"
    assert logs[first.pk].next_attempt_at == NOW + timedelta(minutes=1) and logs[first.pk].lease_until is not None
    assert logs[silent.pk].completed_at == NOW + timedelta(minutes=1) and logs[silent.pk].next_attempt_at is None


@pytest.mark.django_db
def test_a_slot_another_dispatcher_logged_is_neither_logged_nor_enqueued_again(
    alice, django_capture_on_commit_callbacks, monkeypatch
):
    trigger = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/hook")
    other = make_trigger(alice, kind="api", api_endpoint="http://93.184.216.34/hook")
    due = NOW + timedelta(minutes=1)
    already = ExecutionLog.objects.create(
        trigger=trigger, owner=alice, source="schedule", scheduled_for=due, status="delivered"
    )
    enqueued = []
    monkeypatch.setattr("triggers.services.enqueue.enqueue_deliveries", enqueued.extend)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_due(now=due)
    assert list(trigger.logs.all()) == [already]
    assert enqueued == [other.logs.get().delivery_id]


@pytest.mark.django_db
def test_a_schedule_that_became_invalid_disables_only_its_trigger(alice):
    broken = make_trigger(alice, schedule_type="cron", cron="* * * * *", timezone="Europe/London", interval=None)
    healthy = make_trigger(alice)
    Trigger.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")
    result = dispatch_due(now=NOW + timedelta(minutes=1))
    broken.refresh_from_db()
    assert broken.status == "disabled" and broken.next_run_at is None
    assert broken.disabled_reason.startswith("Invalid schedule:")
    assert result.fired == 1 and healthy.logs.count() == 1 and not broken.logs.exists()


@pytest.mark.django_db
def test_a_burst_is_enqueued_once_after_all_its_batches_are_logged(alice, django_capture_on_commit_callbacks):
    for i in range(25):
        make_trigger(alice, name=f"t{i}", kind="api", api_endpoint="http://93.184.216.34/hook")
    with django_capture_on_commit_callbacks() as callbacks:
        result = dispatch_due(now=NOW + timedelta(minutes=1), batch_size=10)
    assert result.batches == 3 and len(callbacks) == 1


@pytest.mark.django_db
def test_a_failing_batch_still_enqueues_what_earlier_batches_committed(alice, monkeypatch):
    from triggers.services import dispatch

    for i in range(15):
        make_trigger(alice, name=f"t{i}", kind="api", api_endpoint="http://93.184.216.34/hook")
    real_batch, calls, enqueued = dispatch._dispatch_batch, [], []

    def second_batch_fails(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_batch(**kwargs)

    monkeypatch.setattr(dispatch, "_dispatch_batch", second_batch_fails)
    monkeypatch.setattr(dispatch, "enqueue_deliveries_on_commit", enqueued.extend)
    with pytest.raises(RuntimeError):
        dispatch_due(now=NOW + timedelta(minutes=1), batch_size=10)
    assert sorted(enqueued) == sorted(ExecutionLog.objects.values_list("delivery_id", flat=True))
    assert len(enqueued) == 10


@pytest.mark.django_db
def test_a_run_fires_later_slots_at_their_own_time_until_its_deadline(alice, frozen):
    from triggers.services import dispatch_due_until

    start = NOW + timedelta(minutes=1)  # make_trigger's first slot
    first = make_trigger(alice, name="now")
    soon = make_trigger(alice, name="soon", schedule_time=start + timedelta(milliseconds=400))
    later = make_trigger(alice, name="later", schedule_time=start + timedelta(seconds=2))
    frozen.move_to(start)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        frozen.shift(timedelta(seconds=seconds))

    result = dispatch_due_until(deadline=start + timedelta(milliseconds=900), sleep=sleep)
    assert result.fired == 2 and slept == [0.4]
    assert first.logs.get().created_at == start
    assert soon.logs.get().created_at == start + timedelta(milliseconds=400)
    assert not later.logs.exists()


@pytest.mark.django_db
def test_the_dispatch_task_runs_until_just_before_the_next_beat(alice, frozen, monkeypatch):
    from triggers import tasks

    calls = []
    monkeypatch.setattr(
        tasks.services, "dispatch_due_until", lambda deadline: calls.append(deadline) or DispatchResult()
    )
    assert tasks.dispatch() == {"fired": 0, "skipped": 0}
    assert calls == [NOW + timedelta(milliseconds=900)]


@pytest.mark.django_db
def test_a_zero_horizon_fires_on_the_beat_only(alice, frozen, settings):
    from triggers import tasks

    settings.TRIGGER_DISPATCH_HORIZON_MS = 0
    start = NOW + timedelta(minutes=1)
    due = make_trigger(alice, name="now")
    soon = make_trigger(alice, name="soon", schedule_time=start + timedelta(milliseconds=400))
    frozen.move_to(start)
    assert tasks.dispatch() == {"fired": 1, "skipped": 0}  # returns at once: no sleeping for "soon"
    assert due.logs.count() == 1 and not soon.logs.exists()
