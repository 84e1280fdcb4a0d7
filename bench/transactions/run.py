"""Transaction monitoring through gunicorn on PostgreSQL, beside a bare DRF create of the same row.

20 concurrent clients post a mixed stream of deposits and withdrawals for 10,000 customers of each of
three callers: one whose customers have H historical transactions (default 200,000, 20 each; the
issue's 1,000,000 with --history 1000000), one whose customers have none, and the limit: a bare DRF
view (bench/baselines: the same authentication, parser and throttles, a ModelSerializer and one INSERT
of the same row, no rules, no lock) served by the same gunicorn. Every caller's customers and the
history are loaded before anything is measured. The streams take turns in three rounds each, so that
a slower minute of a shared machine weighs on all alike instead of on whichever happened to run then.

Each time the stream runs two ways. "as fast as it goes": every client sends its next transaction as
soon as it has an answer; that is the most the server does (with 20 clients always waiting, latency
is 20 / throughput by Little's law, whatever the server). "at 400/s": the same 20 clients send at the
target rate, open loop, latency counted from when each transaction was due; that is the latency a
caller sees at that load, which is what the p99 target is about (nearest-rank p99, each of the three
runs). Servers run as deployed (DEBUG off, gunicorn.conf.py).

Targets (--check exits 1 if one is missed), for the caller with history: >= 600/s as fast as it goes
and >= 80 % of the bare DRF create's rate; p99 < 25 ms at 400/s in each of the 3 runs.

Usage: python bench/transactions/run.py [--history 200000] [--requests 3000] [--clients 20] [--rate 400] [--check]
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


def create_customers(owner_id: int) -> None:
    """The caller's 10,000 customers, before anything is measured."""
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts_customer (owner_id, external_id) SELECT %s, g FROM generate_series(1, %s) g "
            "ON CONFLICT DO NOTHING",
            (owner_id, CUSTOMERS),
        )


def load_history(owner_id: int, rows: int) -> float:
    """Insert `rows` historical transactions spread over the customers (times before the stream's), drawn
    like the stream: either type at even odds, amounts 0.01 to 300.00; so the rules fire on them as often."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
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
    add_check_argument(parser)
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

    history = f"{args.history:,} history"
    callers = {"no history": "fresh", history: "bank", "bare DRF create": "bare"}
    tokens, paths = {}, {}
    for label, username in callers.items():
        owner = User.objects.create_user(username=username, password="not-used-here")
        tokens[label] = api_token_create(user=owner, name="bench")[1]
        paths[label] = "/bare/transactions/" if username == "bare" else "/api/v1/transactions/"
        create_customers(owner.pk)
        if username == "bank":
            seconds = load_history(owner.pk, args.history)
            print(f"loaded {args.history:,} historical transactions over {CUSTOMERS:,} customers in {seconds:.0f} s")

    fast, paced = "as fast as it goes", f"at {args.rate:.0f}/s"
    chunk = max(args.requests // ROUNDS, args.clients)
    runs = {(label, load): [] for load in (fast, paced) for label in tokens}
    with gunicorn({**env, "DJANGO_SETTINGS_MODULE": BASELINES_SETTINGS}, workers=args.web_workers,
                  threads=args.threads) as port:  # fmt: skip
        for label, token in tokens.items():
            post_all(port, paths[label], token, stream(200, 0, 10**9), args.clients)  # warm-up
        for round_number in range(ROUNDS):
            # each load, each caller in turn, the one that went first going last the next round
            order = list(tokens)[:: 1 if round_number % 2 == 0 else -1]
            for load, rate in ((fast, None), (paced, args.rate)):
                for label in order:
                    seed = 2 * round_number + (rate is not None) + 1
                    bodies = stream(chunk, seed, seed * 10**9)
                    measured = post_all(port, paths[label], tokens[label], bodies, args.clients, rate=rate)
                    runs[label, load].append(measured)
    rows = {(label, load): summarise(label, load, measured) for (label, load), measured in runs.items()}

    print(
        f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads, {args.clients} concurrent clients,"
        f" DEBUG off, {ROUNDS} rounds"
    )
    print(f"{'caller':<18} {'load':<19} {'requests':>8} {'tx/s':>7} {'p50 ms':>7} {'p99 ms':>7}  answers")
    for label, load, count, rate, p50, p99_ms, statuses in rows.values():
        print(f"{label:<18} {load:<19} {count:>8} {rate:>7.0f} {p50:>7.1f} {p99_ms:>7.1f}  {statuses}")
    ours, fresh, bare = rows[history, fast], rows["no history", fast], rows["bare DRF create", fast]
    paced_p99s = [p99(latencies) * 1000 for _, latencies, _ in runs[history, paced]]
    fresh_p99 = rows["no history", paced][5]
    print(
        f"with history / without: {ours[3] / fresh[3]:.0%} of the rate as fast as it goes, "
        f"p99 at {args.rate:.0f}/s {rows[history, paced][5]:.1f} ms against {fresh_p99:.1f} ms"
    )
    targets = Targets()
    failed = sum(n for row in rows.values() for status, n in row[6].items() if not 200 <= status < 300)
    targets.add("every request answered 2xx", f"{failed} not", failed == 0)
    targets.add(f"{history}: >= 600 tx/s as fast as it goes", f"{ours[3]:.0f}/s", ours[3] >= 600)
    targets.add(
        f"{history}: >= 80% of a bare DRF create ({bare[3]:.0f}/s, same gunicorn, same run)",
        f"{ours[3] / bare[3]:.0%}",
        ours[3] >= 0.8 * bare[3],
    )
    targets.add(
        f"{history}: p99 < 25 ms {paced}, each of {ROUNDS} runs",
        " / ".join(f"{value:.1f}" for value in paced_p99s) + " ms",
        all(value < 25 for value in paced_p99s),
    )
    targets.report(args.check)


if __name__ == "__main__":
    main()
