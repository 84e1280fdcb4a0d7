"""Webhook delivery alone, beside the limit of the same receiver, on PostgreSQL + Redis.

N deliveries (default 5,000) are pending when the clock starts: their execution logs are written
beforehand, in one INSERT, and their delivery messages are published at T0 exactly as the dispatcher
publishes a burst (`enqueue_deliveries`: 20 ids a message). Two delivery workers (`celery -A eventsys
worker --pool threads --concurrency 8`, DEBUG off, as deployed) claim, sign, POST and record them.
Delivered: when a reader sees no pending log left (polled every 50 ms on its own connection), so each
delivery's attempt row and its log's outcome are committed. The rate is N / (delivered - T0).

The receiver is a keep-alive HTTP/1.1 server (asyncio, its own process) that answers 200 "ok" and
notes every X-Eventsys-Delivery id, so duplicates and misses are counted where they land.
limit: a bare keep-alive POST loop to the same receiver from this process: 16 threads (the workers'
slots), one persistent http.client connection each, the same body and headers (signature included),
no database. That is what the receiver and the loopback allow a Python client on this machine.

Targets (issue 16; --check exits 1 if one is missed): >= 1,500 deliveries/s, >= 50 % of the limit,
every delivery delivered once, one attempt row each.

Usage: python bench/deliver/run.py [--n 5000] [--check]
Database eventsys_bench_deliver is recreated and Redis db 6 flushed (BENCH_DATABASE_URL, BENCH_BROKER_URL).
"""

import argparse
import asyncio
import http.client
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from support import (  # noqa: E402
    Targets,
    add_check_argument,
    check_alive,
    engine_setup,
    spawn,
    stop,
    wait_ready,
)

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_deliver")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6")
WORKERS, THREADS = 2, 8
PAYLOAD = {"order": 42, "status": "paid", "lines": [{"sku": "A-1", "qty": 2}]}


# --- the receiver (its own process) -----------------------------------------------------------------


def receiver_main(conn) -> None:
    ids: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, delivery = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-eventsys-delivery":
                        delivery = value.strip().decode()
                if length:
                    await reader.readexactly(length)
                ids.append(delivery)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
        conn.send(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        while True:
            request = await loop.run_in_executor(None, conn.recv)
            if request == "stop":
                conn.send(ids)
                return
            conn.send(len(ids))  # "count"

    asyncio.run(main())


class Receiver:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=receiver_main, args=(child,), daemon=True)
        self._process.start()
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        self._conn.send("count")
        return self._conn.recv()

    def stop(self) -> list[str]:
        self._conn.send("stop")
        ids = self._conn.recv()
        self._process.terminate()
        return ids


# --- the limit: a bare keep-alive POST loop --------------------------------------------------------------


def bare_loop(port: int, n: int, threads: int) -> float:
    """Seconds for `threads` persistent connections to POST n signed bodies to the receiver between them."""
    import json
    import uuid

    from eventsys.http import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    body = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    counter = iter(range(n))
    lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            delivery_id, timestamp = str(uuid.uuid4()), int(time.time())
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: delivery_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign("whsec_bench", delivery_id=delivery_id, timestamp=timestamp, body=body),
            }
            connection.request("POST", "/hook", body, headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


# --- eventsys ----------------------------------------------------------------------------------------


def pending_deliveries(n: int, url: str) -> list[str]:
    """N pending deliveries of one webhook trigger, written in one INSERT; their delivery ids."""
    from django.db import connection

    from accounts.models import User
    from triggers.services import trigger_create

    owner = User.objects.create_user(username="bench", password="not-used")
    trigger = trigger_create(
        owner=owner, name="orders", kind="api", schedule_type="cron", cron="0 0 1 1 *", api_endpoint=url
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO triggers_executionlog (trigger_id, owner_id, source, scheduled_for, missed_slots,
                delivery_id, status, state, url, payload, attempts, next_attempt_at, lease_until, lease_holder,
                error, response_excerpt, created_at)
            SELECT %(trigger)s, %(owner)s, 'manual', now(), 0, gen_random_uuid(), 'pending', 'active', %(url)s,
                %(payload)s, 0, now() - interval '1 second', now() + interval '1 hour', '', '', '', now()
            FROM generate_series(1, %(n)s)
            RETURNING delivery_id
            """,
            {"trigger": trigger.pk, "owner": owner.pk, "url": url, "payload": _json(PAYLOAD), "n": n},
        )
        return [str(row[0]) for row in cursor.fetchall()]


def _json(value) -> str:
    import json

    return json.dumps(value)


def wait_delivered(watcher_conn, n: int, processes, log_dir: Path, timeout: float) -> float:
    """Seconds from now until a reader sees no pending log."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        pending = watcher_conn.execute("SELECT count(*) FROM triggers_executionlog WHERE status = 'pending'")
        if pending.fetchone()[0] == 0:
            return time.perf_counter() - started
        check_alive(processes, log_dir)
        time.sleep(0.05)
    raise RuntimeError(f"deliveries still pending after {timeout} s; see {log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--timeout", type=float, default=300)
    add_check_argument(parser)
    args = parser.parse_args()

    log_dir, env = engine_setup("eventsys-bench-deliver-", database_url=DATABASE_URL, broker_url=BROKER_URL)
    import django
    import psycopg

    django.setup()
    from triggers.models import DeliveryAttempt, ExecutionLog
    from triggers.services.enqueue import enqueue_deliveries

    receiver = Receiver()
    bare_seconds = bare_loop(receiver.port, args.n, WORKERS * THREADS)
    receiver.stop()

    receiver = Receiver()
    delivery_ids = pending_deliveries(args.n, receiver.url)
    processes: list = []
    watcher = psycopg.connect(DATABASE_URL, autocommit=True)
    try:
        for index in range(1, WORKERS + 1):
            options = ["--pool", "threads", "--concurrency", str(THREADS), "-Q", "celery"]
            processes.append(spawn(f"worker{index}", ["worker", "-n", f"deliver{index}@%h", *options], env, log_dir))
        wait_ready(processes, log_dir, beat_needed=False)
        enqueue_deliveries(delivery_ids)  # T0: as the dispatcher publishes a burst
        seconds = wait_delivered(watcher, args.n, processes, log_dir, args.timeout)
    finally:
        stop(processes)
        watcher.close()
    received = receiver.stop()

    rate, limit = args.n / seconds, args.n / bare_seconds
    delivered = ExecutionLog.objects.filter(status="delivered").count()
    attempts = DeliveryAttempt.objects.count()
    duplicates = len(received) - len(set(received))
    missing = len(set(delivery_ids) - set(received))
    print(f"PostgreSQL + Redis; {WORKERS} workers x {THREADS} threads; receiver: asyncio keep-alive, own process")
    print(f"{'':<28} {'seconds':>8} {'per second':>11}")
    print(f"{'eventsys, N deliveries':<28} {seconds:>8.2f} {rate:>11.0f}")
    print(f"{'limit: bare keep-alive loop':<28} {bare_seconds:>8.2f} {limit:>11.0f}")
    print(f"delivered {delivered} of {args.n}; attempt rows {attempts}; received {len(received)}, "
          f"{duplicates} duplicate(s), {missing} missing")  # fmt: skip
    targets = Targets()
    targets.add(">= 1,500 deliveries/s", f"{rate:.0f}/s", rate >= 1500)
    targets.add(">= 50 % of the bare keep-alive loop", f"{rate / limit:.0%} of {limit:.0f}/s", rate >= 0.5 * limit)
    targets.add("every delivery delivered once", f"{delivered} delivered, {duplicates} dup, {missing} missing",
                delivered == args.n and duplicates == 0 and missing == 0)  # fmt: skip
    targets.add("one attempt row each", f"{attempts} rows", attempts == args.n)
    targets.report(args.check)


if __name__ == "__main__":
    main()
