"""The trigger engine end to end on PostgreSQL + Redis, against a naive baseline in the same run.

eventsys: N one-off api triggers due at T0, fired by the real processes (beat, 2 celery workers) and POSTed
to a local HTTP sink (own process). Relative to T0: when all N logs exist (polled), when the dispatch tasks
had logged and enqueued all N (their completion lines in the worker logs), when all N were delivered.
naive: the same N as one django-celery-beat PeriodicTask each (ClockedSchedule at T1, one_off, queue "naive"
that nobody consumes), sent by a fresh beat, workers stopped: time until Redis holds all N messages.
Database eventsys_bench is recreated and Redis db 5 flushed (override: BENCH_DATABASE_URL, BENCH_BROKER_URL).
Usage: python bench/dispatch/run.py [--n N] [--naive-timeout S] [--pool threads|prefork] [--dispatcher dedicated|shared]
(default N 2000: about a minute; --n 10000 and --n 100000 are the bigger runs)
"""

import argparse
import os
import re
import secrets
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from support import (  # noqa: E402
    CONCURRENCY,
    beat,
    check_alive,
    engine_setup,
    percentile,
    start_engine,
    stop,
    webhook_sink,
)

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/5")
DISPATCH_DONE = re.compile(
    r"\[([\d-]+ [\d:,]+): INFO/\S+ Task triggers\.dispatch\[\S+ succeeded in \S+ \{'fired': (\d+)"
)


def create_triggers(n: int, sink_url: str) -> float:
    """N one-off api triggers due at T0 (returned, epoch seconds), in bulk: creation speed is not measured."""
    from django.utils import timezone

    from accounts.models import User
    from triggers.models import Trigger

    t0 = timezone.now() + timedelta(seconds=5 + n / 10000)
    fields = {"owner": User.objects.create_user(username="bench"), "kind": "api", "schedule_type": "one_off"}
    fields |= {"schedule_time": t0, "next_run_at": t0, "api_endpoint": sink_url, "status": "active"}
    triggers = [
        Trigger(name=f"t{i}", api_payload={"n": i}, signing_secret=secrets.token_hex(16), **fields) for i in range(n)
    ]
    Trigger.objects.bulk_create(triggers, batch_size=2000)
    if timezone.now() > t0:
        print(f"warning: the triggers were created {(timezone.now() - t0).total_seconds():.1f} s after T0")
    return t0.timestamp()


def database_sessions() -> int:
    """Sessions opened on the bench database so far (PostgreSQL's statistics)."""
    from django.db import connection

    with connection.cursor() as cursor:
        return cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def wait_engine(n: int, t0: float, timeout: float, processes, log_dir: Path) -> dict:
    """Poll until all N are delivered or the time-out; when the first and all N logs were seen (epoch s)."""
    from django.db.models import Count, Q

    from triggers.models import ExecutionLog

    time.sleep(max(t0 - 0.5 - time.time(), 0))
    seen = {"first_logged": None, "all_logged": None, "sessions": database_sessions()}
    while time.time() < t0 + timeout:
        seen |= ExecutionLog.objects.aggregate(logs=Count("id"), delivered=Count("id", filter=Q(status="delivered")))
        if seen["logs"] and seen["first_logged"] is None:
            seen["first_logged"] = time.time()
        if seen["logs"] >= n and seen["all_logged"] is None:
            seen["all_logged"] = time.time()
        if seen["delivered"] >= n:
            break
        check_alive(processes, log_dir)
        time.sleep(0.05 if seen["all_logged"] is None else 0.25)
    seen["sessions"] = database_sessions() - seen["sessions"]
    return seen


def dispatch_enqueued_at(n: int, log_dir: Path) -> float | None:
    """When the dispatch tasks had logged and enqueued all N: the last of their completion lines."""
    done = [
        (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), int(fired))
        for path in log_dir.glob("worker*.log")
        for stamp, fired in DISPATCH_DONE.findall(path.read_text(errors="replace"))
        if int(fired)
    ]
    return max(t for t, _ in done) if sum(fired for _, fired in done) >= n else None


def engine_figures(n: int, t0: float, seen: dict, records: list[tuple[str, float]], enqueued: float | None) -> dict:
    from django.db.models import Count, Max

    from triggers.models import ExecutionLog

    logs = ExecutionLog.objects.all()
    lateness = [(c - s).total_seconds() * 1000 for c, s in logs.values_list("created_at", "scheduled_for")]
    last_delivered = logs.filter(status="delivered").aggregate(last=Max("completed_at"))["last"]
    received = sorted(t for _, t in records)
    all_logged, all_delivered = seen["all_logged"], seen["delivered"] >= n
    return {
        "logged": all_logged - t0 if all_logged else f"timeout ({seen['logs']}/{n})",
        "enqueued": enqueued - t0 if enqueued else "n/a",
        "delivered": last_delivered.timestamp() - t0 if all_delivered else f"timeout ({seen['delivered']}/{n})",
        "firings": n / max(all_logged - seen["first_logged"], 0.05) if all_logged else None,
        "webhooks": len(received) / (received[-1] - received[0]) if len(received) > 1 else None,
        "log_late": [percentile(lateness, p) for p in (0.5, 0.99, 1.0)],
        "delivery_late": [percentile([(t - t0) * 1000 for t in received], p) for p in (0.5, 0.99)],
        "duplicates": len(records) - len({delivery_id for delivery_id, _ in records}),
        "multi_logs": logs.values("trigger_id", "scheduled_for").annotate(c=Count("id")).filter(c__gt=1).count(),
        "retried": logs.filter(attempts__gt=1).count(),
        "sessions": seen["sessions"],
    }


def run_naive(n: int, timeout: float, env: dict[str, str], log_dir: Path) -> tuple[float | None, int]:
    """N PeriodicTasks due at T1, sent by a fresh beat: (seconds from T1 until all were sent, or None; sent)."""
    import redis
    from django.utils import timezone
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1))
    options = {"task": "bench.naive", "clocked": clocked, "one_off": True, "queue": "naive"}
    tasks = [PeriodicTask(name=f"naive {i}", args=f"[{i}]", **options) for i in range(n)]
    PeriodicTask.objects.bulk_create(tasks, batch_size=2000)
    t1 = timezone.now() + timedelta(seconds=5)
    ClockedSchedule.objects.filter(pk=clocked.pk).update(clocked_time=t1)  # all N due at once
    t1 = t1.timestamp()
    broker = redis.Redis.from_url(BROKER_URL)
    with beat("naive-beat", env, log_dir) as naive_beat:
        while time.time() < t1 + timeout:
            if broker.llen("naive") >= n:
                return time.time() - t1, n
            check_alive(naive_beat, log_dir)
            time.sleep(0.1)
        return None, broker.llen("naive")


def report(n: int, pool: str, dispatcher: str, f: dict, naive: tuple[float | None, int], naive_timeout: float) -> None:
    def fmt(value, spec=".2f"):
        return "n/a" if value is None else value if isinstance(value, str) else format(value, spec)

    naive_time, sent = naive
    naive_text = fmt(naive_time) if naive_time else f"{sent}/{n} in {naive_timeout:g} s ({sent / naive_timeout:.0f}/s)"
    ours = next((f[k] for k in ("enqueued", "logged") if isinstance(f[k], float)), None)  # like "sent": on the broker
    speedup = "n/a" if ours is None else f"{'> ' * (naive_time is None)}{(naive_time or naive_timeout) / ours:.1f}x"
    rows = [
        ("triggers (N)", str(n), "10,000"),
        ("workers", f"2 x {pool} {CONCURRENCY[pool]}", ""),
        ("dispatcher (system queue)", dispatcher, ""),
        ("all logged within (s after T0)", fmt(f["logged"]), "<= 1"),
        ("all enqueued within (s after T0)", fmt(f["enqueued"]), "<= 5"),
        ("all delivered within (s after T0)", fmt(f["delivered"]), ""),
        ("firings/s (first to last log)", fmt(f["firings"], ".0f"), ""),
        ("webhooks/s (first to last request)", fmt(f["webhooks"], ".0f"), ">= 300"),
        ("log lateness p50/p99/max (ms)", " / ".join(fmt(v, ".0f") for v in f["log_late"]), "max <= 1000"),
        ("delivery lateness p50/p99 (ms)", " / ".join(fmt(v, ".0f") for v in f["delivery_late"]), ""),
        ("duplicate deliveries", str(f["duplicates"]), "0"),
        ("logs per (trigger, slot) > 1", str(f["multi_logs"]), "0"),
        ("deliveries retried", str(f["retried"]), ""),
        ("database sessions opened", str(f["sessions"]), ""),
        ("naive beat: all sent (s after T1)", naive_text, ""),
        ("speed-up vs naive (all enqueued)", speedup, ">= 10x"),
    ]
    print(f"{'eventsys trigger engine':<36} {'value':>30}   issue target (at N=10,000)")
    for name, value, target in rows:
        print(f"{name:<36} {value:>30}   {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--naive-timeout", type=float, default=60)
    parser.add_argument("--pool", choices=sorted(CONCURRENCY), default="threads")
    parser.add_argument(
        "--dispatcher",
        choices=["dedicated", "shared"],
        default="dedicated",
        help="dedicated: a third worker (-Q system, solo pool) runs dispatch; shared: the 2 workers run everything",
    )
    args = parser.parse_args()

    log_dir, env = engine_setup("eventsys-bench-dispatch-", database_url=DATABASE_URL, broker_url=BROKER_URL)
    processes: list = []
    with webhook_sink() as sink:
        try:
            import django

            django.setup()
            start_engine(processes, env, log_dir, pool=args.pool, dispatcher=args.dispatcher)
            t0 = create_triggers(args.n, sink.url)
            seen = wait_engine(args.n, t0, 120 + args.n / 100, processes, log_dir)
            stop(processes)
            records = sink.records()
            figures = engine_figures(args.n, t0, seen, records, dispatch_enqueued_at(args.n, log_dir))
            naive = run_naive(args.n, args.naive_timeout, env, log_dir)
        finally:
            stop(processes)
    print(f"process logs: {log_dir}")
    report(args.n, args.pool, args.dispatcher, figures, naive, args.naive_timeout)


if __name__ == "__main__":
    main()
