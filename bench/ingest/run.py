"""Event ingestion throughput against gunicorn on PostgreSQL, beside a bare COPY of the same rows.

For batches of 1, 100 and 1,000 events: events per second, requests per second, p50/p99 latency
per request. The bare `COPY` (psycopg, no HTTP, no validation) is the physical limit the API is
compared with, in the same run on the same database.

Each batch size runs "as fast as it goes" (closed loop: each client sends again as soon as it has an
answer; the most the server does, and latency = clients / throughput by Little's law), then the
batches of 100 and 1,000 run again "at 10,000 ev/s", the throughput target, open loop: requests are
due at a fixed rate and latency counts from when each was due. The p99 target is about that one.

Usage: python bench/ingest/run.py [--scale 1.0] [--web-workers 2] [--threads 4]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_ingest).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import gunicorn, p99, post_all, recreate_database, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_ingest")
# (events per request, requests, concurrent clients, requests per second or None for as fast as it goes)
TARGET_EVENTS_PER_SECOND = 10_000
CASES = [
    (1, 3000, 16, None),
    (100, 300, 8, None),
    (1000, 60, 4, None),
    (100, 500, 8, TARGET_EVENTS_PER_SECOND / 100),
    (1000, 100, 4, TARGET_EVENTS_PER_SECOND / 1000),
]


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

    rows = []
    with gunicorn(env, workers=args.web_workers, threads=args.threads) as port:
        warm_up = [batch_body(10, 10**9 + i) for i in range(20)]
        post_all(port, "/api/v1/ingest/", token, warm_up, 2)  # imports, connections
        for index, (size, requests, clients, rate) in enumerate(CASES):
            requests = max(int(requests * args.scale), clients)
            bodies = [batch_body(size, index * 10**6 + seq) for seq in range(requests)]
            elapsed, latencies, statuses = post_all(port, "/api/v1/ingest/", token, bodies, clients, rate=rate)
            load = f"at {size * rate:,.0f} ev/s" if rate else "as fast as it goes"
            rows.append((size, load, requests, clients, elapsed, latencies, statuses))

    copy_rows = max(int(60 * args.scale), 4) * 1000
    copy_seconds = bare_copy(copy_rows, user.pk, token_row.pk)
    copy_rate = copy_rows / copy_seconds
    print(f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads (gthread), keep-alive clients")
    header = ("batch", "load", "requests", "clients", "events/s", "req/s", "p50 ms", "p99 ms", "vs COPY")
    print("{:>6} {:<19} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8}  answers".format(*header))
    for size, load, requests, clients, elapsed, latencies, statuses in rows:
        rate = size * requests / elapsed
        p50 = statistics.median(latencies) * 1000
        print(
            f"{size:>6} {load:<19} {requests:>8} {clients:>7} {rate:>9.0f} {requests / elapsed:>7.0f} "
            f"{p50:>7.1f} {p99(latencies) * 1000:>7.1f} {rate / copy_rate:>8.1%}  {dict(sorted(statuses.items()))}"
        )
    print(f"{'COPY':>6} {'':<19} {copy_rows:>8} {'-':>7} {copy_rate:>9.0f}   (bare psycopg COPY of the same rows)")
    print(
        "targets: >= 10,000 events/s at batch 1,000 (>= 10% of COPY) and >= 500 req/s at batch 1, as fast as it goes;"
        " p99 < 100 ms per batch at 10,000 ev/s"
    )


if __name__ == "__main__":
    main()
