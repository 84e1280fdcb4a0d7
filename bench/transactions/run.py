"""Transaction monitoring through gunicorn on PostgreSQL: with a large history and with none.

20 concurrent clients post a mixed stream of deposits and withdrawals for 10,000 customers of each of
two callers: one whose customers have H historical transactions (default 200,000, 20 each; the
issue's 1,000,000 with --history 1000000), loaded first, and one whose customers have none. The
rules read a bounded look-back and one indexed window, so the two must be close (within 20%). The two
streams take turns in three rounds each, so that a slower minute of a shared machine weighs on both
alike instead of on whichever happened to run then.

Each time the stream runs two ways. "as fast as it goes": every client sends its next transaction as
soon as it has an answer; that is the most the server does (with 20 clients always waiting, latency
is 20 / throughput by Little's law, whatever the server). "at 400/s": the same 20 clients send at the
target rate, open loop, latency counted from when each transaction was due; that is the latency a
caller sees at that load, which is what the p99 target is about.

Usage: python bench/transactions/run.py [--history 200000] [--requests 3000] [--clients 20] [--rate 400]
The issue's full size: --history 1000000 --requests 4000 (about three minutes).
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_tx).
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import gunicorn, p99, post_all, recreate_database, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_tx")
CUSTOMERS = 10_000


def stream(requests: int, seed: int, start_time: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        json.dumps(
            {
                "type": rng.choice(["deposit", "withdraw"]),
                "amount": f"{rng.randint(1, 30000) / 100:.2f}",
                "user_id": rng.randint(1, CUSTOMERS),
                "time": start_time + i,
            }
        ).encode()
        for i in range(requests)
    ]


def load_history(owner_id: int, rows: int) -> float:
    """Insert `rows` historical transactions spread over the customers (times before the stream's), drawn
    like the stream: either type at even odds, amounts 0.01 to 300.00; so the rules fire on them as often."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts_customer (owner_id, external_id) SELECT %s, g FROM generate_series(1, %s) g "
            "ON CONFLICT DO NOTHING",
            (owner_id, CUSTOMERS),
        )
        conn.execute(
            """
            INSERT INTO alerts_transaction
                (owner_id, customer_id, type, amount, time, idempotency_key, answer, created_at)
            SELECT %s, c.id, CASE WHEN random() < 0.5 THEN 'deposit' ELSE 'withdraw' END,
                   (1 + floor(random() * 30000)) / 100, g / %s, '', '{}'::jsonb, now()
            FROM generate_series(1, %s) g JOIN alerts_customer c ON c.owner_id = %s AND c.external_id = 1 + g %% %s
            """,
            (owner_id, CUSTOMERS, rows, owner_id, CUSTOMERS),
        )
        conn.execute("VACUUM ANALYZE alerts_transaction")
        conn.execute("CHECKPOINT")  # the load's dirty pages are written now, not during the measurement
    return time.perf_counter() - started


ROUNDS = 3


def summarise(label: str, load: str, runs: list[tuple[float, list[float], dict]]) -> tuple:
    """One row over several runs: total requests / total seconds, percentiles of all latencies."""
    elapsed = sum(seconds for seconds, _, _ in runs)
    latencies = sorted(latency for _, run_latencies, _ in runs for latency in run_latencies)
    statuses: dict[int, int] = {}
    for _, _, run_statuses in runs:
        for status, count in run_statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    p50 = statistics.median(latencies) * 1000
    return (
        label,
        load,
        len(latencies),
        len(latencies) / elapsed,
        p50,
        p99(latencies) * 1000,
        dict(sorted(statuses.items())),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=400, help="the offered load of the paced runs, per second")
    args = parser.parse_args()

    env = web_env(
        database_url=DATABASE_URL,
        data_dir=tempfile.mkdtemp(prefix="eventsys-bench-tx-"),
        THROTTLE_USER="100000000/min",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    recreate_database(DATABASE_URL)

    import django

    django.setup()
    from accounts.models import User
    from accounts.services import api_token_create

    tokens = {}
    for label, username in (("no history", "fresh"), (f"{args.history:,} history", "bank")):
        owner = User.objects.create_user(username=username, password="not-used-here")
        tokens[label] = api_token_create(user=owner, name="bench")[1]
        if username == "bank":
            seconds = load_history(owner.pk, args.history)
            print(f"loaded {args.history:,} historical transactions over {CUSTOMERS:,} customers in {seconds:.0f} s")

    path = "/api/v1/transactions/"
    paced = f"at {args.rate:.0f}/s"
    chunk = max(args.requests // ROUNDS, args.clients)
    runs = {(label, load): [] for load in ("as fast as it goes", paced) for label in tokens}
    with gunicorn(env, workers=args.web_workers, threads=args.threads) as port:
        for token in tokens.values():
            post_all(port, path, token, stream(200, 0, 10**9), args.clients)  # warm-up
        for round_number in range(ROUNDS):
            # each load, each caller in turn, the one that went first going second the next round
            order = list(tokens.items())[:: 1 if round_number % 2 == 0 else -1]
            for load, rate in (("as fast as it goes", None), (paced, args.rate)):
                for label, token in order:
                    seed = 2 * round_number + (rate is not None) + 1
                    bodies = stream(chunk, seed, seed * 10**9)
                    runs[label, load].append(post_all(port, path, token, bodies, args.clients, rate=rate))
    rows = [summarise(label, load, measured) for (label, load), measured in runs.items()]

    print(
        f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads, {args.clients} concurrent clients"
    )
    print(f"{'history':<18} {'load':<19} {'requests':>8} {'tx/s':>7} {'p50 ms':>7} {'p99 ms':>7}  answers")
    for label, load, count, rate, p50, p99_ms, statuses in rows:
        print(f"{label:<18} {load:<19} {count:>8} {rate:>7.0f} {p50:>7.1f} {p99_ms:>7.1f}  {statuses}")
    print(f"with history / without, as fast as it goes: {rows[1][3] / rows[0][3]:.0%} of the rate (must be within 20%)")
    print(f"targets: >= 400 transactions/s (as fast as it goes), p99 < 25 ms ({paced}) on 2 cores")


if __name__ == "__main__":
    main()
