"""The trigger engine in steady state on PostgreSQL + Redis, against a naive baseline in the same run.

eventsys: N api triggers on fixed intervals (5, 10, 15, 30 or 60 s, drawn with a fixed seed), each first due at
a uniform offset within its first interval after T0 and ending at T0 + the run's length; fired by the real
processes (beat, a dispatcher worker -Q system --pool solo, 2 delivery workers) and POSTed to a local HTTP sink
(own process), DEBUG off as deployed. Per slot: log lateness to the commit (when a watcher polling the table
every 50 ms on its own connection first sees the row, minus the slot: up to one poll later than the commit,
never earlier; not `created_at`, which is set when the dispatch batch starts) and delivery lateness (sink
receive time - scheduled_for); every expected slot logged once, delivered once, no missed slots.
naive: the same N schedules as django-celery-beat PeriodicTasks (IntervalSchedule, start_time at the same offsets
after T1, queue "naive" that nobody consumes), sent by a fresh beat, engine stopped: each trigger's k-th message
(seen landing in Redis by polling every 50 ms) against its k-th slot, and messages sent against slots due.
Like with like: the naive beat's lateness is to the broker; it is compared with eventsys's delivery lateness
to the receiver (which comes after eventsys's own publish, so the comparison favours the naive beat).

Targets (--check exits 1 if one is missed): delivery lateness p99 < 2 s; every expected slot logged and
delivered; 0 slots off the grid, missed, logged twice or delivered twice.
Database eventsys_bench_steady is recreated and Redis db 6 flushed (override: BENCH_DATABASE_URL, BENCH_BROKER_URL).
Usage: python bench/dispatch_steady/run.py [--n N] [--minutes M] [--naive-seconds S] [--seed SEED] [--check]
(default 1,000 triggers for 1 minute: about 2.5 minutes in all; --minutes 5 is the issue's size)
"""

import argparse
import base64
import json
import os
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from support import (  # noqa: E402
    CONCURRENCY,
    RowWatcher,
    Targets,
    add_check_argument,
    beat,
    check_alive,
    engine_setup,
    percentile,
    percentile_text,
    start_engine,
    stop,
    webhook_sink,
)

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_steady")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6")
INTERVALS = (5, 10, 15, 30, 60)  # seconds
WARM_UP = timedelta(seconds=5)  # from creating the triggers to T0
NAIVE_WARM_UP = timedelta(seconds=10)  # a fresh beat loads its N entries before T1
DRAIN_SECONDS = 60  # after the last slot, for the last deliveries
TARGET_P99_MS = 2000


@dataclass(frozen=True)
class Stagger:
    """One trigger's schedule, relative to the start of the run."""

    every: timedelta
    offset: timedelta  # of the first slot, uniform over [0, every)

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        """The slots start + offset + k * every that are <= end (an end time is an inclusive bound)."""
        first = start + self.offset
        return [first + k * self.every for k in range((end - first) // self.every + 1)] if first <= end else []


def staggers(n: int, seed: int) -> list[Stagger]:
    rng = random.Random(seed)
    result = []
    for _ in range(n):
        every = rng.choice(INTERVALS)
        result.append(Stagger(timedelta(seconds=every), timedelta(seconds=rng.uniform(0, every))))
    return result


def create_triggers(schedule: list[Stagger], minutes: float, sink_url: str) -> datetime:
    """The N interval triggers from T0 (a few seconds ahead), in bulk: creation speed is not measured.
    Returns the end time they share."""
    from django.utils import timezone

    from accounts.models import User
    from triggers.models import Trigger

    t0 = timezone.now() + WARM_UP
    end = t0 + timedelta(minutes=minutes)
    owner = User.objects.create_user(username="bench")
    fields = {"owner": owner, "kind": "api", "schedule_type": "interval", "interval_unit": "seconds"}
    fields |= {"end_at": end, "api_endpoint": sink_url, "status": "active"}
    triggers = [
        Trigger(
            name=f"t{i}",
            interval=int(stagger.every.total_seconds()),
            schedule_time=t0 + stagger.offset,
            next_run_at=t0 + stagger.offset,
            api_payload={"n": i},
            signing_secret=secrets.token_hex(16),
            **fields,
        )
        for i, stagger in enumerate(schedule)
    ]
    Trigger.objects.bulk_create(triggers, batch_size=2000)
    if timezone.now() > t0:
        print(f"warning: the triggers were created {(timezone.now() - t0).total_seconds():.1f} s after T0")
    return end


def expected_slots() -> set[tuple[int, datetime]]:
    """(trigger id, slot) of every firing due in the run, from the stored rows (the database's microseconds)."""
    from triggers.models import Trigger

    return {
        (pk, slot)
        for pk, start, every, end in Trigger.objects.values_list("id", "schedule_time", "interval", "end_at")
        for slot in Stagger(timedelta(seconds=every), timedelta(0)).slots(start, end)
    }


def wait_engine(end: datetime, expected: int, processes, log_dir: Path, watcher: RowWatcher) -> None:
    """Watch the logs commit through the run (checking the processes), then poll until every firing is
    logged and delivered."""
    from django.db.models import Count, Q

    from triggers.models import ExecutionLog

    checked = time.time()
    while time.time() < end.timestamp() + DRAIN_SECONDS:
        logged = watcher.poll()
        if time.time() - checked >= 1:
            check_alive(processes, log_dir)
            checked = time.time()
        if time.time() < end.timestamp() or logged < expected:
            time.sleep(0.05)
            continue
        counts = ExecutionLog.objects.aggregate(logs=Count("id"), delivered=Count("id", filter=Q(status="delivered")))
        if counts["logs"] >= expected and counts["delivered"] >= counts["logs"]:
            return
        check_alive(processes, log_dir)
        time.sleep(0.25)


def engine_figures(expected: set[tuple[int, datetime]], records: list[tuple[str, float]], watcher: RowWatcher) -> dict:
    from triggers.models import ExecutionLog

    logs = list(
        ExecutionLog.objects.values(
            "id", "trigger_id", "scheduled_for", "delivery_id", "status", "missed_slots", "attempts"
        )
    )
    logged = Counter((log["trigger_id"], log["scheduled_for"]) for log in logs)
    slot_of = {str(log["delivery_id"]): log["scheduled_for"].timestamp() for log in logs}
    first_received: dict[str, float] = {}
    for delivery_id, received in records:
        first_received[delivery_id] = min(received, first_received.get(delivery_id, received))
    return {
        "expected": len(expected),
        "logged": len(logs),
        "not_logged": len(expected - logged.keys()),
        "off_grid": len(logged.keys() - expected),
        "delivered": sum(log["status"] == "delivered" for log in logs),
        "log_late": [  # to the moment the watcher saw the row committed
            (watcher.seen[log["id"]] - log["scheduled_for"].timestamp()) * 1000
            for log in logs
            if log["id"] in watcher.seen
        ],
        "delivery_late": [(t - slot_of[d]) * 1000 for d, t in first_received.items() if d in slot_of],
        "unknown_deliveries": len(first_received.keys() - slot_of.keys()),
        "duplicates": sum(count > 1 for count in Counter(d for d, _ in records).values()),
        "multi_logs": sum(count > 1 for count in logged.values()),
        "missed": sum(log["missed_slots"] for log in logs),
        "retried": sum(log["attempts"] > 1 for log in logs),
    }


def message_index(raw: bytes) -> int:
    """The trigger index a naive beat message carries (its only argument)."""
    message = json.loads(raw)
    body = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return args[0]


def run_naive(schedule: list[Stagger], seconds: float, env: dict[str, str], log_dir: Path) -> dict:
    """The same schedules as PeriodicTasks sent by a fresh beat for `seconds` after T1."""
    import redis
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    intervals = {
        every: IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS) for every in INTERVALS
    }
    t1 = timezone.now() + NAIVE_WARM_UP
    end = t1 + timedelta(seconds=seconds)
    options = {"task": "bench.naive", "queue": "naive"}
    tasks = [
        PeriodicTask(
            name=f"naive {i}",
            args=f"[{i}]",
            interval=intervals[int(stagger.every.total_seconds())],
            start_time=t1 + stagger.offset,
            **options,
        )
        for i, stagger in enumerate(schedule)
    ]
    PeriodicTask.objects.bulk_create(tasks, batch_size=2000)
    broker, landed, seen = redis.Redis.from_url(BROKER_URL), [], 0
    with beat("naive-beat", env, log_dir) as naive_beat:
        while time.time() < end.timestamp():
            polled = time.time()
            if (queued := broker.llen("naive")) > seen:
                # Nobody pops and kombu pushes on the left: counted from the right, an index never moves.
                for raw in reversed(broker.lrange("naive", -queued, -(seen + 1))):
                    landed.append((message_index(raw), polled))
                seen = queued
            check_alive(naive_beat, log_dir)
            time.sleep(0.05)
    sent: Counter[int] = Counter()
    late = []
    for i, when in landed:
        slot = t1 + schedule[i].offset + sent[i] * schedule[i].every
        late.append((when - slot.timestamp()) * 1000)
        sent[i] += 1
    due = sum(len(stagger.slots(t1, end)) for stagger in schedule)
    return {"seconds": seconds, "due": due, "sent": len(landed), "late": late}


def report(args, f: dict, naive: dict) -> Targets:
    spread = percentile_text
    p99 = percentile(f["delivery_late"], 0.99) if f["delivery_late"] else None
    naive_p99 = percentile(naive["late"], 0.99) if naive["late"] else None
    per_minute = 60 / naive["seconds"]
    rows = [
        ("triggers (N)", f"{args.n:,}"),
        ("intervals (s), seed", f"{'/'.join(map(str, INTERVALS))}, {args.seed}"),
        ("run (minutes)", f"{args.minutes:g}"),
        ("workers", f"2 x threads {CONCURRENCY['threads']} + 1 solo"),
        ("firings expected / logged", f"{f['expected']:,} / {f['logged']:,}"),
        ("slots not logged / off the grid", f"{f['not_logged']} / {f['off_grid']}"),
        ("delivered (of logged)", f"{f['delivered']:,}"),
        ("missed slots (sum)", str(f["missed"])),
        ("log lateness to commit p50/p99/max (ms)", spread(f["log_late"])),
        ("delivery lateness p50/p99/max (ms)", spread(f["delivery_late"])),
        ("delivery ids received > 1 time", str(f["duplicates"])),
        ("logs per (trigger, slot) > 1", str(f["multi_logs"])),
        ("deliveries retried", str(f["retried"])),
        ("requests with an unknown delivery id", str(f["unknown_deliveries"])),
        (
            f"naive beat: sent / due per minute ({naive['seconds']:g} s)",
            f"{naive['sent'] * per_minute:,.0f} / {naive['due'] * per_minute:,.0f}",
        ),
        ("naive beat: to the broker p50/p99/max (ms)", spread(naive["late"])),
        (
            "naive to the broker p99 / eventsys to the receiver p99",
            f"{naive_p99 / p99:.1f}x" if naive_p99 and p99 else "n/a",
        ),
    ]
    print(f"{'eventsys trigger engine, steady state':<56} {'value':>24}")
    for name, value in rows:
        print(f"{name:<56} {value:>24}")
    targets = Targets()
    targets.add(
        f"delivery lateness p99 < {TARGET_P99_MS} ms", f"{p99:.0f} ms" if p99 is not None else "n/a",
        p99 is not None and p99 < TARGET_P99_MS,
    )  # fmt: skip
    complete = f["not_logged"] == 0 and f["delivered"] == f["logged"]
    targets.add("every expected slot logged and delivered", f"{f['logged']:,} / {f['expected']:,}", complete)
    wrong = f["off_grid"] + f["missed"] + f["multi_logs"] + f["duplicates"] + f["unknown_deliveries"]
    targets.add("0 slots off the grid, missed, logged or delivered twice", str(wrong), wrong == 0)
    return targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=1)
    parser.add_argument("--naive-seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    add_check_argument(parser)
    args = parser.parse_args()
    if args.minutes * 60 < max(INTERVALS):
        parser.error(f"--minutes must cover the longest interval ({max(INTERVALS)} s), so every trigger fires")

    schedule = staggers(args.n, args.seed)
    log_dir, env = engine_setup("eventsys-bench-steady-", database_url=DATABASE_URL, broker_url=BROKER_URL)
    processes: list = []
    with webhook_sink() as sink:
        try:
            import django

            django.setup()
            start_engine(processes, env, log_dir)
            watcher = RowWatcher(DATABASE_URL, "triggers_executionlog")
            end = create_triggers(schedule, args.minutes, sink.url)
            expected = expected_slots()
            wait_engine(end, len(expected), processes, log_dir, watcher)
            stop(processes)
            figures = engine_figures(expected, sink.records(), watcher)
            watcher.close()
            naive = run_naive(schedule, args.naive_seconds, env, log_dir)
        finally:
            stop(processes)
    print(f"process logs: {log_dir}")
    report(args, figures, naive).report(args.check)


if __name__ == "__main__":
    main()
