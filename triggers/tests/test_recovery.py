"""Recovery after a worker crash: a lost message or a killed attempt reaches its target within 60 s of a
worker running again, and a deep healthy queue is never re-sent wholesale (delivery.py, the sweeper).

The broker is simulated (a FIFO list, as Redis and RabbitMQ queues are) and time is frozen; workers,
their heartbeats, the sweeper and the probe run the real code, second by second, as beat would drive them.
"""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from eventsys.http import DELIVERY_HEADER, Outcome
from eventsys.ops import workers
from eventsys.ops.models import WorkerInstance
from triggers.models import DeliveryQueueMark, ExecutionLog
from triggers.services import deliveries_requeue, delivery_attempt, trigger_fire
from triggers.services.enqueue import delivery_queue_name, delivery_queue_probe_send
from triggers.services.triggers import new_execution_log
from triggers.tasks import deliver, deliver_many, queue_probe, sweep
from triggers.tests.test_delivery import api_trigger as make_api_trigger

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SWEEP_EVERY = 5  # beat's schedule for triggers.sweep
DEPTH = 2_000  # a deep queue
BOUND = 60  # seconds after a worker runs again by which every pending delivery has reached its target


class Broker:
    """The delivery queue as the broker keeps it: one FIFO shared by every worker."""

    def __init__(self, monkeypatch):
        self.messages: list[tuple[str, tuple]] = []
        monkeypatch.setattr("triggers.services.enqueue.enqueue_deliveries", self.publish_deliveries)
        monkeypatch.setattr(queue_probe, "apply_async", lambda args, **options: self.publish(queue_probe, args))

    def publish(self, task, args):
        self.messages.append((task.name, tuple(args)))

    def publish_deliveries(self, delivery_ids):
        for delivery_id in delivery_ids:
            self.publish(deliver, (str(delivery_id),))

    def take(self) -> tuple[str, tuple] | None:
        return self.messages.pop(0) if self.messages else None

    def delivery_messages(self) -> int:
        return sum(name == deliver.name for name, _ in self.messages)


class Worker:
    """One `celery worker` instance: it registers, beats while alive, and runs what it takes from the queue."""

    def __init__(self, name: str, monkeypatch):
        self.monkeypatch = monkeypatch
        self.instance = workers.worker_register(hostname=name, pid=abs(hash(name)) % 60000)
        self.alive = True

    def beat(self):
        if self.alive:
            workers.worker_heartbeat(instance=self.instance)

    def run(self, message):
        self.monkeypatch.setattr(workers, "_this_worker", self.instance)
        name, args = message
        task = {deliver.name: deliver, deliver_many.name: deliver_many, queue_probe.name: queue_probe}[name]
        return task.run(*args)

    def kill(self):
        self.alive = False


class Cluster:
    """Beat's clock: every second the live workers drain the queue (up to `rate` messages a second);
    every SWEEP_EVERY seconds they beat and the sweeper runs (re-sends, then sends the probe)."""

    def __init__(self, broker, clock, capture):
        self.broker, self.clock, self.capture = broker, clock, capture
        self.workers: list[Worker] = []
        self.resent = 0

    def sweep(self) -> int:
        with self.capture(execute=True):
            count = deliveries_requeue()
        delivery_queue_probe_send()
        self.resent += count
        return count

    def tick(self, second: int, *, rate: int | None = None):
        self.clock.move_to(NOW + timedelta(seconds=second))
        live = [worker for worker in self.workers if worker.alive]
        if second % SWEEP_EVERY == 0:
            for worker in live:
                worker.beat()
            if live:  # the sweep task runs on a worker
                self.sweep()
        taken = 0
        while live and (rate is None or taken < rate) and (message := self.broker.take()):
            live[taken % len(live)].run(message)
            taken += 1


@pytest.fixture
def clock():
    import time_machine

    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def broker(monkeypatch):
    return Broker(monkeypatch)


@pytest.fixture
def cluster(broker, clock, django_capture_on_commit_callbacks):
    return Cluster(broker, clock, django_capture_on_commit_callbacks)


def api_trigger(owner, url, **fields):
    """An interval trigger whose first slot is an hour away: only the firings a test makes happen."""
    return make_api_trigger(owner, url, **{"schedule_time": NOW + timedelta(hours=1), **fields})


def fire(trigger, capture) -> ExecutionLog:
    with capture(execute=True):
        return trigger_fire(trigger=trigger)


def never_reports_back(worker, message):
    """The worker claims the attempt and is killed (or hangs) in the POST: it never records an outcome."""
    with (
        mock.patch("triggers.services.delivery.post_json", side_effect=SystemExit("kill -9")),
        pytest.raises(SystemExit),
    ):
        worker.run(message)


def seconds_until_delivered(cluster, receiver, *, start: int, limit: int = 600) -> int | None:
    for second in range(start, start + limit):
        cluster.tick(second)
        if receiver.requests:
            return second - start
    return None


@pytest.mark.parametrize("restart_after", [2, 30, 300])
def test_a_message_lost_with_a_killed_worker_reaches_its_target_within_60_s_of_a_live_worker(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks, restart_after
):
    old = Worker("old@host", monkeypatch)
    cluster.workers.append(old)
    cluster.tick(0)
    log = fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    assert broker.take() == (deliver.name, (str(log.delivery_id),))  # received by `old` ...
    old.kill()  # ... which is killed with it: the message is gone (Redis: until its visibility timeout)

    cluster.clock.move_to(NOW + timedelta(seconds=restart_after))
    cluster.workers.append(Worker("new@host", monkeypatch))
    waited = seconds_until_delivered(cluster, receiver, start=restart_after)
    assert waited is not None and waited <= BOUND
    [request] = receiver.requests
    assert request["headers"][DELIVERY_HEADER] == str(log.delivery_id)
    log.refresh_from_db()
    assert log.status == "delivered" and log.attempts == 1


@pytest.mark.parametrize("restart_after", [2, 30, 300])
def test_a_delivery_killed_mid_attempt_reaches_its_target_within_60_s_of_a_live_worker(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks, restart_after
):
    old = Worker("old@host", monkeypatch)
    cluster.workers.append(old)
    cluster.tick(0)
    log = fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    never_reports_back(old, broker.take())
    old.kill()
    log.refresh_from_db()
    assert log.attempts == 1 and log.next_attempt_at is None  # claimed: the attempt was under way

    cluster.clock.move_to(NOW + timedelta(seconds=restart_after))
    cluster.workers.append(Worker("new@host", monkeypatch))
    waited = seconds_until_delivered(cluster, receiver, start=restart_after)
    assert waited is not None and waited <= BOUND
    log.refresh_from_db()
    assert log.status == "delivered" and log.attempts == 2  # the killed attempt counts
    assert receiver.requests[0]["headers"][DELIVERY_HEADER] == str(log.delivery_id)


def test_every_delivery_of_a_killed_burst_message_is_re_sent(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks
):
    old = Worker("old@host", monkeypatch)
    cluster.workers.append(old)
    cluster.tick(0)
    logs = [fire(api_trigger(alice, receiver.url, name=f"h{i}"), django_capture_on_commit_callbacks) for i in range(3)]
    broker.messages = [(deliver_many.name, ([str(log.delivery_id) for log in logs],))]
    calls = []

    def the_worker_dies_while_posting(*args, **kwargs):
        calls.append(args)
        raise SystemExit("kill -9")

    posts = mock.patch("triggers.services.delivery.post_json", the_worker_dies_while_posting)
    with posts, pytest.raises(SystemExit):
        old.run(broker.take())
    old.kill()
    assert len(calls) == 3  # the message's deliveries are claimed together and sent side by side
    assert all(log.attempts == 1 for log in ExecutionLog.objects.filter(pk__in=[log.pk for log in logs]))

    cluster.clock.move_to(NOW + timedelta(seconds=2))
    cluster.workers.append(Worker("new@host", monkeypatch))
    for second in range(2, 2 + BOUND):
        cluster.tick(second)
    assert sorted(r["headers"][DELIVERY_HEADER] for r in receiver.requests) == sorted(
        str(log.delivery_id) for log in logs
    )


def test_a_deep_queue_with_live_workers_is_not_re_sent(alice, broker, cluster, monkeypatch, settings):
    """A burst enqueued at once, draining slowly behind slow targets: for 15 minutes the workers beat and
    the probe waits its turn behind the deliveries, so nothing is re-sent, however old (the old sweeper
    re-sent the lot at 600 s, 1,000 a sweep). DEPTH stays small to keep the test quick; nothing in the
    sweeper's decision depends on it."""
    trigger = api_trigger(alice, "http://93.184.216.34/hook")
    a, b = Worker("a@host", monkeypatch), Worker("b@host", monkeypatch)
    cluster.workers += [a, b]
    cluster.tick(0)
    logs = []
    for _ in range(DEPTH):
        log = new_execution_log(trigger, source=ExecutionLog.Source.MANUAL, scheduled_for=NOW, now=NOW)
        log.next_attempt_at = NOW
        log.lease_until = NOW + timedelta(seconds=settings.TRIGGER_REQUEUE_AFTER_SECONDS)
        logs.append(log)
    ExecutionLog.objects.bulk_create(logs, batch_size=2000)
    broker.publish_deliveries([log.delivery_id for log in logs])
    delivered = Outcome("delivered", 200, 5, "", "ok", None)
    with mock.patch("triggers.services.delivery.post_json", return_value=delivered):
        for second in range(30, 15 * 60 + 1, 30):  # a sweep and a delivery every 30 s (to keep the test short)
            cluster.tick(second, rate=1)
    assert cluster.resent == 0
    drained = 15 * 60 // 30
    assert broker.delivery_messages() == DEPTH - drained
    assert ExecutionLog.objects.filter(status="delivered").count() == drained
    assert ExecutionLog.objects.filter(attempts__gt=1).count() == 0


def test_a_running_attempt_of_a_live_worker_is_left_alone_until_its_lease(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.TRIGGER_DELIVERY_LEASE_SECONDS = 120
    a, b = Worker("a@host", monkeypatch), Worker("b@host", monkeypatch)
    cluster.workers += [a, b]
    cluster.tick(0)
    fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    never_reports_back(a, broker.take())
    # `a` is alive (it beats) though its attempt has not reported back: a slow target, not a dead worker.
    for second in range(1, 120):
        cluster.tick(second)
    assert cluster.resent == 0 and receiver.requests == []
    for second in range(120, 130):  # the lease is the backstop for an attempt that never reports back
        cluster.tick(second)
    assert cluster.resent == 1 and len(receiver.requests) == 1


def test_a_silent_worker_is_not_presumed_dead_while_no_worker_is_heard(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks, settings
):
    """A database outage silences every heartbeat at once: with no fresher worker to compare with,
    nobody's attempt is taken away (which would send it twice)."""
    settings.TRIGGER_DELIVERY_LEASE_SECONDS = 300
    a = Worker("a@host", monkeypatch)
    cluster.workers.append(a)
    cluster.tick(0)
    log = fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    never_reports_back(a, broker.take())
    cluster.clock.move_to(NOW + timedelta(seconds=100))
    assert deliveries_requeue() == 0  # `a` has been silent 100 s, but so has every worker
    a.beat()  # the database is back: `a` is heard again first
    assert deliveries_requeue() == 0
    log.refresh_from_db()
    assert log.next_attempt_at is None and log.lease_holder == a.instance


def test_a_worker_dead_on_the_last_attempt_fails_the_delivery_without_waiting_for_the_lease(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.TRIGGER_DELIVERY_MAX_ATTEMPTS = 1
    settings.TRIGGER_DISABLE_AFTER_FAILURES = 1
    old = Worker("old@host", monkeypatch)
    cluster.workers.append(old)
    cluster.tick(0)
    trigger = api_trigger(alice, receiver.url)
    log = fire(trigger, django_capture_on_commit_callbacks)
    never_reports_back(old, broker.take())
    old.kill()
    cluster.workers.append(Worker("new@host", monkeypatch))
    for second in range(2, 2 + BOUND):
        cluster.tick(second)
    log.refresh_from_db()
    assert log.status == "failed" and "attempts exhausted" in log.error
    trigger.refresh_from_db()
    assert trigger.status == "disabled" and receiver.requests == []


def test_a_re_sent_delivery_whose_first_message_comes_back_is_delivered_once(
    alice, receiver, broker, cluster, monkeypatch, django_capture_on_commit_callbacks
):
    old = Worker("old@host", monkeypatch)
    cluster.workers.append(old)
    cluster.tick(0)
    log = fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    lost = broker.take()
    old.kill()
    new = Worker("new@host", monkeypatch)
    cluster.workers.append(new)
    assert seconds_until_delivered(cluster, receiver, start=2) is not None
    # Redis hands the first message out again when its visibility timeout ends; a second re-send
    # may be in the queue too: each finds the attempt claimed and does nothing.
    assert new.run(lost) == "not-due"
    assert delivery_attempt(delivery_id=log.delivery_id) == "not-due"
    assert len(receiver.requests) == 1
    log.refresh_from_db()
    assert log.attempts == 1 and log.delivery_attempts.count() == 1


def test_a_message_the_queue_has_moved_past_is_re_sent_once_per_probe(
    alice, broker, cluster, monkeypatch, django_capture_on_commit_callbacks
):
    """Enqueued and not taken: re-sent only when a probe sent well after it has been run (the queue
    moved past it), and then once: the copy is newer than that probe."""
    worker = Worker("a@host", monkeypatch)
    cluster.workers.append(worker)
    cluster.tick(0)  # the sweep sends a probe, and the worker runs it
    log = fire(api_trigger(alice, "http://93.184.216.34/hook"), django_capture_on_commit_callbacks)
    broker.take()  # lost
    assert cluster.sweep() == 0  # the probe sent with the delivery has not been run
    worker.run(broker.take())
    assert cluster.sweep() == 0  # it has, but it was sent at the same time as the delivery
    cluster.clock.move_to(NOW + timedelta(seconds=30))
    assert cluster.sweep() == 0  # the probe sent now is still in the queue
    broker.messages = [
        message for message in broker.messages if message[1][1] == (NOW + timedelta(seconds=30)).isoformat()
    ]
    worker.run(broker.take())
    assert DeliveryQueueMark.objects.get(queue=delivery_queue_name()).consumed_through == NOW + timedelta(seconds=30)
    assert cluster.sweep() == 1
    assert cluster.sweep() == 0
    log.refresh_from_db()
    assert log.next_attempt_at == NOW + timedelta(seconds=30) and log.attempts == 0
    assert broker.messages[0] == (deliver.name, (str(log.delivery_id),))  # the copy, ahead of the next probe


def test_the_probe_is_routed_with_the_deliveries(monkeypatch):
    sent = []
    monkeypatch.setattr(queue_probe, "apply_async", lambda args, **options: sent.append(options))
    delivery_queue_probe_send()
    route = deliver.app.amqp.router.route({}, deliver.name)
    assert sent[0]["queue"] == route["queue"].name == delivery_queue_name() == "celery"


def test_a_claim_names_the_worker_and_a_silent_worker_is_presumed_dead(alice, clock, settings, monkeypatch):
    settings.WORKER_HEARTBEAT_SECONDS = 5
    settings.WORKER_PRESUMED_DEAD_SECONDS = 20
    a, b = Worker("a@host", monkeypatch), Worker("b@host", monkeypatch)
    assert a.instance.startswith("a@host:") and a.instance != Worker("a@host", monkeypatch).instance
    assert WorkerInstance.objects.get(instance=a.instance).seen_at == NOW
    clock.shift(timedelta(seconds=20))
    b.beat()
    assert set(workers.workers_alive()) >= {a.instance, b.instance}  # silent 20 s: not yet
    clock.shift(timedelta(seconds=1))
    b.beat()
    assert a.instance not in workers.workers_alive() and b.instance in workers.workers_alive()


def test_sweep_task_re_sends_then_probes(monkeypatch, clock):
    order = []
    monkeypatch.setattr("triggers.services.deliveries_requeue", lambda: order.append("requeue") or 0)
    monkeypatch.setattr(queue_probe, "apply_async", lambda args, **options: order.append("probe"))
    assert sweep.run() == 0
    assert order == ["requeue", "probe"]


def test_a_worker_registers_before_its_pool_forks_and_its_children_claim_in_its_name(
    alice, receiver, broker, clock, monkeypatch, django_capture_on_commit_callbacks
):
    from types import SimpleNamespace

    from eventsys.celery import _register_worker_instance

    monkeypatch.setattr(workers, "_this_worker", "")
    monkeypatch.setattr(workers.connection, "close", mock.Mock())  # the parent drops its connection
    _register_worker_instance(sender=SimpleNamespace(hostname="w1@host"))  # worker_init, in the parent
    instance = workers.this_worker()
    assert instance.startswith("w1@host:") and WorkerInstance.objects.filter(instance=instance).exists()
    log = fire(api_trigger(alice, receiver.url), django_capture_on_commit_callbacks)
    with (
        mock.patch("triggers.services.delivery.post_json", side_effect=SystemExit("kill -9")),
        pytest.raises(SystemExit),
    ):
        delivery_attempt(delivery_id=log.delivery_id)
    log.refresh_from_db()
    assert log.lease_holder == instance
    monkeypatch.setattr(workers, "_this_worker", "")
    clock.shift(timedelta(seconds=1))
    assert delivery_attempt(delivery_id=trigger_fire(trigger=log.trigger).delivery_id) == "delivered"
    assert ExecutionLog.objects.latest("id").lease_holder == ""  # recorded: no attempt running


def test_the_heartbeat_thread_beats_and_survives_a_database_error(clock, monkeypatch):
    instance = workers.worker_register(hostname="w@host")
    thread = workers.HeartbeatThread(instance, interval=5)
    # In a worker the thread has a connection of its own; here it shares the test's transaction.
    monkeypatch.setattr(workers, "close_old_connections", mock.Mock())
    clock.shift(timedelta(seconds=7))
    assert thread.beat()
    assert WorkerInstance.objects.get(instance=instance).seen_at == NOW + timedelta(seconds=7)
    monkeypatch.setattr(workers, "worker_heartbeat", mock.Mock(side_effect=RuntimeError("database down")))
    monkeypatch.setattr(workers.connection, "close", mock.Mock())
    assert thread.beat() is False  # logged; the next beat tries again


def test_a_forgotten_worker_heard_again_is_alive_again(clock):
    instance = workers.worker_register(hostname="w@host", pid=42)
    WorkerInstance.objects.all().delete()
    workers.worker_heartbeat(instance=instance)
    row = WorkerInstance.objects.get()
    assert (row.instance, row.hostname, row.pid, row.seen_at) == (instance, "w@host", 42, NOW)
