"""Event ingestion throughput against gunicorn on PostgreSQL, beside a bare COPY of the same rows.

For batches of 1, 100 and 1,000 events: events per second, requests per second, p50/p99 latency
per request. The bare `COPY` (psycopg, no HTTP, no validation) is the physical limit the API is
compared with, in the same run on the same database.

Usage: python bench/ingest/run.py [--scale 1.0] [--web-workers 2] [--threads 4]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_ingest).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import free_port, recreate_database, wait_for_port, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_ingest")
# (events per request, requests, concurrent clients)
CASES = [(1, 3000, 16), (100, 300, 8), (1000, 60, 4)]


def batch_body(size: int, seq: int) -> bytes:
    events = [
        {
            "event_type": "sensor.reading",
            "event_payload": {"sensor": f"s-{i % 50}", "value": i * 0.5, "unit": "C"},
            "idempotency_key": f"r{seq}-{i}",
        }
        for i in range(size)
    ]
    return json.dumps(events[0] if size == 1 else events).encode()


async def client(port: int, token: str, bodies: asyncio.Queue, latencies: list[float], statuses: dict) -> None:
    """One keep-alive connection sending requests from the queue until it is empty."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not bodies.empty():
            body = bodies.get_nowait()
            started = time.perf_counter()
            writer.write(
                b"POST /api/v1/ingest/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length, closing = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    closing = True
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def run_case(port: int, token: str, size: int, requests: int, clients: int, seq_base: int):
    bodies: asyncio.Queue = asyncio.Queue()
    for seq in range(requests):
        bodies.put_nowait(batch_body(size, seq_base + seq))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    await asyncio.gather(*(client(port, token, bodies, latencies, statuses) for _ in range(clients)))
    return time.perf_counter() - started, sorted(latencies), statuses


def bare_copy(rows: int, owner_id: int, token_id: int) -> float:
    """Seconds to COPY `rows` rows shaped like ingested events straight into the table."""
    import psycopg

    columns = (
        "owner_id, token_id, event_type, event_payload, idempotency_key, body_hash, occurred_at_in_future, received_at"
    )
    with psycopg.connect(DATABASE_URL) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(f"COPY events_ingestedevent ({columns}) FROM STDIN") as copy:
            for i in range(rows):
                payload = json.dumps({"sensor": f"s-{i % 50}", "value": i * 0.5, "unit": "C"})
                copy.write_row((owner_id, token_id, "sensor.reading", payload, f"copy-{i}", "0" * 64, False, "now"))
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the request counts")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    env = web_env(
        database_url=DATABASE_URL,
        data_dir=tempfile.mkdtemp(prefix="eventsys-bench-ingest-"),
        THROTTLE_INGEST="100000000/min",
        THROTTLE_USER="100000000/min",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    recreate_database(DATABASE_URL)

    import django

    django.setup()
    from accounts.models import User
    from accounts.services import api_token_create

    user = User.objects.create_user(username="machine-owner", password="not-used-here")
    token_row, token = api_token_create(user=user, name="bench")

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "eventsys.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.web_workers), "--worker-class", "gthread", "--threads", str(args.threads),
            "--keep-alive", "30", "--backlog", "2048",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows = []
    try:
        wait_for_port(port)
        asyncio.run(run_case(port, token, 10, 20, 2, 10**9))  # warm-up: imports, connections
        for index, (size, requests, clients) in enumerate(CASES):
            requests = max(int(requests * args.scale), clients)
            elapsed, latencies, statuses = asyncio.run(run_case(port, token, size, requests, clients, index * 10**6))
            rows.append((size, requests, clients, elapsed, latencies, statuses))
    finally:
        server.terminate()
        server.wait(timeout=30)

    copy_rows = max(int(CASES[-1][1] * args.scale), CASES[-1][2]) * CASES[-1][0]
    copy_seconds = bare_copy(copy_rows, user.pk, token_row.pk)
    copy_rate = copy_rows / copy_seconds
    print(f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads (gthread), keep-alive clients")
    header = ("batch", "requests", "clients", "events/s", "req/s", "p50 ms", "p99 ms", "vs COPY")
    print("{:>6} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8}  answers".format(*header))
    for size, requests, clients, elapsed, latencies, statuses in rows:
        p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)]
        rate = size * requests / elapsed
        p50 = statistics.median(latencies) * 1000
        print(
            f"{size:>6} {requests:>8} {clients:>7} {rate:>9.0f} {requests / elapsed:>7.0f} "
            f"{p50:>7.1f} {p99 * 1000:>7.1f} {rate / copy_rate:>8.1%}  {dict(sorted(statuses.items()))}"
        )
    print(f"{'COPY':>6} {copy_rows:>8} {'-':>7} {copy_rate:>9.0f}   (bare psycopg COPY of the same rows)")
    print(
        "targets: >= 10,000 events/s at batch 1,000 (>= 10% of COPY), p99 < 100 ms per batch, >= 500 req/s at batch 1"
    )


if __name__ == "__main__":
    main()
