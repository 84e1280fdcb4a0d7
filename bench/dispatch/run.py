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
import contextlib
import math
import multiprocessing
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/5")
CONCURRENCY = {"threads": 8, "prefork": 4}  # per worker process
DISPATCH_DONE = re.compile(
    r"\[([\d-]+ [\d:,]+): INFO/\S+ Task triggers\.dispatch\[\S+ succeeded in \S+ \{'fired': (\d+)"
)


def bench_env(data_dir: str) -> dict[str, str]:
    """The processes' environment; an exported DJANGO_SETTINGS_MODULE (a what-if variant) is kept."""
    env = {"DJANGO_SETTINGS_MODULE": "eventsys.settings", **os.environ, "DATA_DIR": data_dir, "DEBUG": "true"}
    env |= {"DATABASE_URL": DATABASE_URL, "CELERY_BROKER_URL": BROKER_URL}
    return env | {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}


def reset_stores(env: dict[str, str]) -> None:
    """A fresh, migrated database and an empty broker db."""
    import psycopg
    import redis
    from psycopg import sql

    parts = urlsplit(DATABASE_URL)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        name = sql.Identifier(parts.path.lstrip("/"))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    redis.Redis.from_url(BROKER_URL).flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)


def sink_main(conn) -> None:
    """The webhook target, in its own process: answers 200 "ok", records (delivery id, receive time)."""
    records: list[tuple[str, float]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received = time.time()
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            records.append((self.headers.get("X-Eventsys-Delivery", ""), received))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads, request_queue_size = True, 256  # the default backlog (5) drops concurrent connects

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_port)
    conn.recv()  # the stop request
    server.shutdown()
    conn.send(records)


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> tuple[str, subprocess.Popen]:
    """A celery process in its own session, so that stopping it also stops its pool children."""
    with open(log_dir / f"{name}.log", "wb") as log:
        command = [sys.executable, "-m", "celery", "-A", "eventsys", *args, "--loglevel", "INFO"]
        return name, subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)


def stop(processes: list[tuple[str, subprocess.Popen]], grace: float = 15) -> None:
    """SIGTERM (warm shutdown), then SIGKILL whatever is left after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for _, process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        for _, process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.1))
        if all(process.poll() is not None for _, process in processes):
            return


def check_alive(processes, log_dir: Path) -> None:
    for name, process in processes:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_dir / name}.log")


def wait_ready(processes, log_dir: Path, timeout: float = 60) -> None:
    """Every worker is ready and one has run a triggers.dispatch sent by beat."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(processes, log_dir)
        logs = [(log_dir / f"{name}.log").read_text(errors="replace") for name, _ in processes if name != "beat"]
        if all(" ready." in text for text in logs) and any("triggers.dispatch[" in text for text in logs):
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers or beat not ready within {timeout} s; see {log_dir}")


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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)] if ordered else math.nan


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
    broker, beat = redis.Redis.from_url(BROKER_URL), [spawn("naive-beat", ["beat"], env, log_dir)]
    try:
        while time.time() < t1 + timeout:
            if broker.llen("naive") >= n:
                return time.time() - t1, n
            check_alive(beat, log_dir)
            time.sleep(0.1)
        return None, broker.llen("naive")
    finally:
        stop(beat)


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

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the processes on kill as on Ctrl-C
    log_dir = Path(tempfile.mkdtemp(prefix="eventsys-bench-dispatch-"))
    env = bench_env(str(log_dir))
    os.environ.update(env)
    reset_stores(env)
    context = multiprocessing.get_context("spawn")
    sink_conn, child_conn = context.Pipe()
    sink = context.Process(target=sink_main, args=(child_conn,), daemon=True)
    sink.start()
    processes: list = []
    try:
        import django

        django.setup()
        processes.append(spawn("beat", ["beat"], env, log_dir))
        delivery_queues = []
        if args.dispatcher == "dedicated":
            # The topology: a dispatcher process of its own, so delivery threads never hold its GIL.
            dispatcher = ["worker", "-n", "bench-dispatch@%h", "-Q", "system", "--pool", "solo"]
            processes.append(spawn("worker-dispatch", dispatcher, env, log_dir))
            delivery_queues = ["-Q", "celery"]
        for i in (1, 2):
            pool = ["--pool", args.pool, "--concurrency", str(CONCURRENCY[args.pool]), *delivery_queues]
            processes.append(spawn(f"worker{i}", ["worker", "-n", f"bench{i}@%h", *pool], env, log_dir))
        wait_ready(processes, log_dir)
        t0 = create_triggers(args.n, f"http://127.0.0.1:{sink_conn.recv()}/hook")
        seen = wait_engine(args.n, t0, 120 + args.n / 100, processes, log_dir)
        stop(processes)
        sink_conn.send("stop")
        records = sink_conn.recv()
        figures = engine_figures(args.n, t0, seen, records, dispatch_enqueued_at(args.n, log_dir))
        naive = run_naive(args.n, args.naive_timeout, env, log_dir)
    finally:
        stop(processes)
        sink.terminate()
    print(f"process logs: {log_dir}")
    report(args.n, args.pool, args.dispatcher, figures, naive, args.naive_timeout)


if __name__ == "__main__":
    main()
