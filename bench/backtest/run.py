"""A transaction-rule backtest over N stored transactions, beside the bare read of the same rows, on PostgreSQL.

N transactions (default 200,000; the issue's size with --transactions 1000000) of 100 each for N/100
customers of one caller, stored over the last 29 days, deposits and withdrawals of 1.00 to 300.99 at
20-second steps; in one customer of 100, every 10th transaction arrives 100 s late (its time before
its predecessors', so those customers are replayed in arrival order, the exact path). Loaded in one
INSERT … SELECT generate_series (the server generates the rows; nothing goes through Python), then
VACUUM ANALYZE.

What is timed is the whole service, `rule_backtest()`, as the API calls it: the history of every
customer with a transaction in the 30-day window streamed through a server-side cursor, both sides
(the rule as it is and as changed) evaluated, the counts, 20 examples each, the recorded alerts.
Two rules: 1100 (a withdrawal over 100) at 150, and 123 (deposits within 30 s over 200) at 120 s, the
kind whose window moves. The limit, same run: the same SELECT with the same ORDER BY (customer, time,
id) streamed through a psycopg server-side cursor in the same chunks, rows discarded — the read alone,
which no replay can beat. Each is run --runs times (default 3), alternating; medians reported.

Targets (--check exits 1 if one is missed), at 1,000,000 transactions: each backtest < 10 s.

Usage: python bench/backtest/run.py [--transactions 200000] [--runs 3] [--check]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_backtest).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import Targets, add_check_argument, recreate_database, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_backtest")
PER_CUSTOMER = 100
CHANGES = {1100: {"threshold": Decimal("150")}, 123: {"window_seconds": 120}}


def load(transactions: int) -> float:
    """Store the transactions; seconds taken."""
    from django.db import connection

    from accounts.models import User

    owner = User.objects.create_user(username="bench", password="not-used")
    customers = max(transactions // PER_CUSTOMER, 1)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO alerts_customer (owner_id, external_id) SELECT %s, c FROM generate_series(1, %s) AS c",
            [owner.pk, customers],
        )
        # Row i belongs to customer i % C (its (i / C)-th), arrives in i's order, at 20 s steps with some
        # jitter; every 10th of one customer in 100 is 100 s late (its time before its predecessors').
        cursor.execute(
            """
            INSERT INTO alerts_transaction (owner_id, customer_id, "type", amount, "time", idempotency_key, answer,
                created_at)
            SELECT %(owner)s, first.id + i %% %(customers)s,
                   CASE WHEN (i * 31) %% 7 < 4 THEN 'deposit' ELSE 'withdraw' END,
                   1 + ((i::bigint * 7919) %% 30000) / 100.0,
                   1000000 + (i / %(customers)s) * 20 + (i * 13) %% 15
                       - CASE WHEN (i / %(customers)s) %% 10 = 5 AND (i %% %(customers)s) %% 100 = 7
                              THEN 100 ELSE 0 END,
                   '', '{}', now() - interval '29 days' + i * (interval '29 days' / %(n)s)
            FROM generate_series(0, %(n)s - 1) AS i, (SELECT min(id) AS id FROM alerts_customer) AS first
            """,
            {"owner": owner.pk, "customers": customers, "n": transactions},
        )
        cursor.execute("VACUUM ANALYZE alerts_transaction")
        cursor.execute("ANALYZE alerts_customer")
    return time.perf_counter() - started


def backtest_once(code: int) -> tuple[float, object]:
    from django.db import connection

    from alerts.models import AlertRule
    from alerts.services.backtest import rule_backtest

    rule = AlertRule.objects.get(code=code)
    started = time.perf_counter()
    result = rule_backtest(rule=rule, changes=CHANGES[code], days=30)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, result


def bare_read_once() -> tuple[float, int]:
    """The same rows in the same order through a psycopg server-side cursor, discarded: seconds, rows."""
    import psycopg

    from alerts.services.backtest import _CHUNK_ROWS

    with psycopg.connect(DATABASE_URL) as conn:
        started = time.perf_counter()
        rows = 0
        with conn.cursor(name="bare") as cursor:
            cursor.execute(
                'SELECT customer_id, id, "type", amount, "time", created_at >= now() - interval \'30 days\''
                ' FROM alerts_transaction ORDER BY customer_id, "time", id'
            )
            while chunk := cursor.fetchmany(_CHUNK_ROWS):
                rows += len(chunk)
        return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each backtest and of the bare read")
    add_check_argument(parser)
    args = parser.parse_args()

    os.environ.update(web_env(database_url=DATABASE_URL, data_dir=tempfile.mkdtemp(prefix="eventsys-bench-bt-")))
    recreate_database(DATABASE_URL)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    seconds = load(args.transactions)
    print(f"{args.transactions:,} transactions of {max(args.transactions // PER_CUSTOMER, 1):,} customers stored in"
          f" {seconds:.1f} s (1 % of customers with late arrivals)")  # fmt: skip

    bare_read_once()  # warm: the table and its index in the page cache
    timings: dict[str, list[float]] = {"bare read": [], **{f"rule {code}": [] for code in CHANGES}}
    results = {}
    for _ in range(args.runs):
        elapsed, rows = bare_read_once()
        timings["bare read"].append(elapsed)
        assert rows == args.transactions, rows
        for code in CHANGES:
            elapsed, results[code] = backtest_once(code)
            timings[f"rule {code}"].append(elapsed)

    limit = statistics.median(timings["bare read"])
    print(f"PostgreSQL, DEBUG off, in process; median of {args.runs} runs")
    print(f"{'what':<36} {'best s':>7} {'median s':>9} {'rows/s':>10} {'vs bare read':>13}")
    for name, values in timings.items():
        median = statistics.median(values)
        label = name
        if name != "bare read":
            code = int(name.split()[1])
            label = f"{name} {', '.join(f'{k}={v}' for k, v in CHANGES[code].items())}"
        print(f"{label:<36} {min(values):>7.2f} {median:>9.2f} {args.transactions / median:>10,.0f}"
              f" {median / limit:>12.1f}x")  # fmt: skip
    for code, result in results.items():
        print(
            f"rule {code}: {result.replayed_transactions:,} replayed; as it is {result.current.alerts:,} alerts,"
            f" changed {result.backtest.alerts:,} (added {result.added:,}, removed {result.removed:,});"
            f" {len(result.backtest.examples)} examples"
        )
        assert result.replayed_transactions == args.transactions
    print("limit: the same SELECT … ORDER BY customer, time, id streamed through psycopg in the same chunks, discarded")

    targets = Targets()
    for code in CHANGES:
        median = statistics.median(timings[f"rule {code}"])
        targets.add(
            f"rule {code} backtest < 10 s (bare read {limit:.2f} s)",
            f"{median:.2f} s, {median / limit:.1f}x the bare read",
            median < 10,
        )
    if args.transactions != 1_000_000:
        print(f"note: the targets are for 1,000,000 transactions; this run has {args.transactions:,}")
    targets.report(args.check)


if __name__ == "__main__":
    main()
