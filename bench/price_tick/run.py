"""Matching one price poll against a million live alerts, beside the naive design, on PostgreSQL.

N alerts (default 1,000,000) over 500 coins; one poll brings new prices for 100 coins that cross
0.5% of all alerts (5,000: a hundred per rising coin). eventsys: one `UPDATE … FROM unnest(…)
RETURNING` per direction for the whole poll, on a partial index. Naive: load every live alert
of those coins, compare in Python, then update the ids.

Usage: python bench/price_tick/run.py [--alerts 1000000] [--coins 500] [--polled 100]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_price).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_price")


def setup(alerts: int, coins: int) -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DATA_DIR": tempfile.mkdtemp(prefix="eventsys-bench-price-")}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES ('!', false, 'bench', '', '', 'b@example.com', false, true, now())"
        )
        # Half the alerts wait for a rise (targets 100.01 … 200), half for a fall (0.01 … 99.99); every
        # coin trades at 100 now.
        conn.execute(
            """
            INSERT INTO alerts_pricealert (owner_id, coin, currency, target_price, direction, status, repeat,
                rearm_band_percent, trigger_count, created_at, updated_at)
            SELECT (SELECT id FROM accounts_user LIMIT 1), 'coin-' || (i %% %(coins)s), 'usd',
                   CASE WHEN i %% 2 = 0 THEN 100 + ((i / %(coins)s) %% 10000 + 1) / 100.0
                        ELSE 100 - ((i / %(coins)s) %% 9999 + 1) / 100.0 END,
                   CASE WHEN i %% 2 = 0 THEN 'above' ELSE 'below' END,
                   'created', false, 0, 0, now(), now()
            FROM generate_series(0, %(alerts)s - 1) AS i
            """,
            {"coins": coins, "alerts": alerts},
        )
        conn.execute("ANALYZE alerts_pricealert")


def poll_prices(polled: int) -> dict[str, Decimal]:
    # 101 crosses the first hundred of each rising coin's targets (100.01 … 101.00).
    return {f"coin-{i}": Decimal("101") for i in range(polled)}


def eventsys_match(prices: dict[str, Decimal]) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.services.polling import Crossing, alerts_rearm_many, alerts_trigger_crossed_many

    now = datetime.now(UTC)
    crossings = [Crossing(coin, "usd", price, now, None) for coin, price in prices.items()]
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        alerts_rearm_many(crossings, now=now)  # a poll re-arms first, then triggers
        flipped = len(alerts_trigger_crossed_many(crossings, now=now))
        elapsed = time.perf_counter() - started
    return elapsed, flipped, len(queries)


def naive_match(prices: dict[str, Decimal]) -> tuple[float, int, int]:
    """What a service without the range query does: every live alert of the polled coins, in Python."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.models import PriceAlert

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        live = PriceAlert.objects.filter(status="created", coin__in=list(prices), currency="usd")
        crossed = [
            a.pk
            for a in live.only("id", "coin", "target_price", "direction")
            if (a.direction == "above" and prices[a.coin] >= a.target_price)
            or (a.direction == "below" and prices[a.coin] <= a.target_price)
        ]
        PriceAlert.objects.filter(pk__in=crossed, status="created").update(status="triggered")
        elapsed = time.perf_counter() - started
    return elapsed, len(crossed), len(queries)


def reset() -> None:
    """Undo the flips, and vacuum so the next run does not wade through the dead row versions."""
    from django.db import connection

    from alerts.models import PriceAlert

    PriceAlert.objects.filter(status="triggered").update(status="created", trigger_count=0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE alerts_pricealert")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--coins", type=int, default=500)
    parser.add_argument("--polled", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    setup(args.alerts, args.coins)
    print(f"{args.alerts:,} live alerts over {args.coins} coins created in {time.perf_counter() - started:.1f} s")

    os.environ.update(DATABASE_URL=DATABASE_URL, DJANGO_SETTINGS_MODULE="eventsys.settings")
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="eventsys-bench-price-"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from unittest import mock

    prices = poll_prices(args.polled)
    with mock.patch("django.db.transaction.on_commit"):  # no e-mails: matching is what is measured
        rows = []
        for label, match in (("eventsys", eventsys_match), ("naive", naive_match)):
            runs = []
            for _ in range(3):
                runs.append(match(prices))
                reset()
            best = min(runs)
            rows.append((label, *best))
    print(f"one poll of {args.polled} coins: {rows[0][2]:,} alerts cross ({rows[0][2] / args.alerts:.1%} of all)")
    print(f"{'design':<10} {'best ms':>9} {'flipped':>8} {'queries':>8}")
    for label, elapsed, flipped, queries in rows:
        print(f"{label:<10} {elapsed * 1000:>9.1f} {flipped:>8} {queries:>8}")
    print(f"speed-up: {rows[1][1] / rows[0][1]:.0f}x   targets: < 100 ms for 100 coins, >= 20x faster than naive")


if __name__ == "__main__":
    main()
