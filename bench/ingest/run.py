"""Event ingestion throughput against gunicorn on PostgreSQL, beside its limits measured in the same run.

For batches of 1, 100 and 1,000 events: events per second, requests per second, p50/p99 latency
per request (nearest rank). Two limits, in the same run on the same database:
- single events: a bare DRF create of the same row (bench/baselines: the same gunicorn, API-token
  authentication, parser and throttles, a ModelSerializer and one INSERT; no idempotency, no hash),
  as many requests from as many clients, right after eventsys's single events;
- batches: a bare `COPY` of the same rows (psycopg, no HTTP, no validation), 1,000 rows and a commit
  at a time by as many connections as there are clients posting batches of 1,000: the physical limit
  of a request that answers with durable receipts. One COPY of all the rows and one commit is printed
  beside it as the ceiling (no design that commits each request reaches it).
Servers run as deployed (DEBUG off, gunicorn.conf.py), clients keep their connections open.

Each batch size runs "as fast as it goes" (closed loop: each client sends again as soon as it has an
answer; the most the server does, and latency = clients / throughput by Little's law), then the
batches of 100 and 1,000 run again "at 10,000 ev/s", the throughput target, open loop: requests are
due at a fixed rate and latency counts from when each was due.

Targets (--check exits 1 if one is missed): single events >= 60 % of the bare DRF create's
requests/s; batches of 1,000 >= 70 % of the COPY's events/s; every request answered 2xx.

Usage: python bench/ingest/run.py [--scale 1.0] [--web-workers 2] [--threads 4] [--check]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_ingest).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import (  # noqa: E402
    BASELINES_SETTINGS,
    Targets,
    add_check_argument,
    gunicorn,
    p99,
    post_all,
    recreate_database,
    web_env,
)

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


def bare_half(port: int, token: str, seq: int, requests: int, clients: int) -> tuple[float, list[float], dict]:
    bodies = [batch_body(1, seq + i) for i in range(requests)]
    return post_all(port, "/bare/ingest/", token, bodies, clients)


def bare_copy(rows: int, owner_id: int, token_id: int, *, per_commit: int, clients: int, tag: str) -> float:
    """Seconds for `clients` connections to COPY `rows` rows shaped like ingested events straight into
    the table, committing every `per_commit` rows (each client takes the next chunk when it is done)."""
    import psycopg

    columns = (
        "owner_id, token_id, event_type, event_payload, idempotency_key, body_hash, occurred_at_in_future, received_at"
    )
    chunks = iter(range(0, rows, per_commit))
    take = threading.Lock()

    def client() -> None:
        with psycopg.connect(DATABASE_URL) as conn, conn.cursor() as cursor:
            while True:
                with take:
                    start = next(chunks, None)
                if start is None:
                    return
                with cursor.copy(f"COPY events_ingestedevent ({columns}) FROM STDIN") as copy:
                    for i in range(start, min(start + per_commit, rows)):
                        payload = json.dumps({"sensor": f"s-{i % 50}", "value": i * 0.5, "unit": "C"})
                        key = f"copy-{tag}-{i}"
                        copy.write_row((owner_id, token_id, "sensor.reading", payload, key, "0" * 64, False, "now"))
                conn.commit()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the request counts")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    add_check_argument(parser)
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
    server_env = {**env, "DJANGO_SETTINGS_MODULE": BASELINES_SETTINGS}
    with gunicorn(server_env, workers=args.web_workers, threads=args.threads) as port:
        warm_up = [batch_body(10, 10**9 + i) for i in range(20)]
        post_all(port, "/api/v1/ingest/", token, warm_up, 2)  # imports, connections
        post_all(port, "/bare/ingest/", token, [batch_body(1, 2 * 10**9 + i) for i in range(20)], 2)
        for index, (size, requests, clients, rate) in enumerate(CASES):
            requests = max(int(requests * args.scale), clients)
            if size == 1:  # the limit: as many requests to the bare DRF create, half before and half after
                bare = [bare_half(port, token, 3 * 10**9, requests // 2, clients)]
            bodies = [batch_body(size, index * 10**6 + seq) for seq in range(requests)]
            elapsed, latencies, statuses = post_all(port, "/api/v1/ingest/", token, bodies, clients, rate=rate)
            load = f"at {size * rate:,.0f} ev/s" if rate else "as fast as it goes"
            rows.append((size, load, requests, clients, elapsed, latencies, statuses))
            if size == 1:
                bare.append(bare_half(port, token, 4 * 10**9, requests - requests // 2, clients))
                statuses = Counter(bare[0][2]) + Counter(bare[1][2])
                latencies = sorted(bare[0][1] + bare[1][1])
                rows.append(("bare", load, requests, clients, bare[0][0] + bare[1][0], latencies, statuses))

    # The limit of a batch of 1,000 is a COPY of 1,000 rows and its commit, by as many clients as post
    # batches of 1,000: a request's receipts are durable, so is each of these commits. One COPY of all
    # the rows in one transaction, printed beside it, is the ceiling no per-request commit reaches.
    batch_clients = next(clients for size, _, clients, rate in CASES if size == 1000 and rate is None)
    copy_rows = max(int(60 * args.scale), 4) * 1000
    copy_rate = copy_rows / bare_copy(
        copy_rows, user.pk, token_row.pk, per_commit=1000, clients=batch_clients, tag="batches"
    )
    ceiling_rate = copy_rows / bare_copy(copy_rows, user.pk, token_row.pk, per_commit=copy_rows, clients=1, tag="one")
    print(f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads (gthread), keep-alive clients,"
          " DEBUG off")  # fmt: skip
    header = ("batch", "load", "requests", "clients", "events/s", "req/s", "p50 ms", "p99 ms", "vs COPY")
    print("{:>6} {:<19} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8}  answers".format(*header))
    rates, failed = {}, 0
    for size, load, requests, clients, elapsed, latencies, statuses in rows:
        events = requests * (1 if size == "bare" else size)
        rate = events / elapsed
        rates.setdefault((size, load), (rate, requests / elapsed))
        failed += sum(n for status, n in statuses.items() if not 200 <= status < 300)
        p50 = statistics.median(latencies) * 1000
        print(
            f"{size:>6} {load:<19} {requests:>8} {clients:>7} {rate:>9.0f} {requests / elapsed:>7.0f} "
            f"{p50:>7.1f} {p99(latencies) * 1000:>7.1f} {rate / copy_rate:>8.1%}  {dict(sorted(statuses.items()))}"
        )
    print(
        f"{'COPY':>6} {'1,000 a commit':<19} {copy_rows // 1000:>8} {batch_clients:>7} {copy_rate:>9.0f}"
        "   (bare psycopg COPY of the same rows, 1,000 rows and a commit at a time: the batches' limit)"
    )
    print(
        f"{'COPY':>6} {'one commit':<19} {1:>8} {1:>7} {ceiling_rate:>9.0f}"
        f"   (all {copy_rows:,} rows in one COPY and one commit: the ceiling; batches of 1,000 at"
        f" {rates[1000, 'as fast as it goes'][0] / ceiling_rate:.0%} of it)"
    )
    print("bare: one event a request to a bare DRF create (bench/baselines), same gunicorn, same token")
    fast = "as fast as it goes"
    single, bare_single = rates[1, fast][1], rates["bare", fast][1]
    batch = rates[1000, fast][0]
    targets = Targets()
    targets.add(
        f"single events >= 60% of a bare DRF create + token ({bare_single:.0f} req/s)",
        f"{single:.0f} req/s, {single / bare_single:.0%}",
        single >= 0.6 * bare_single,
    )
    targets.add(
        f"batches of 1,000 >= 70% of a bare COPY ({copy_rate:,.0f} ev/s)",
        f"{batch:,.0f} ev/s, {batch / copy_rate:.0%}",
        batch >= 0.7 * copy_rate,
    )
    targets.add("every request answered 2xx", f"{failed} not", failed == 0)
    targets.report(args.check)


if __name__ == "__main__":
    main()
