"""The operators' dashboard (the admin index) with 1,000,000 execution logs and 1,000,000 ingested events.

Both tables get N rows spread over the last 48 hours (the logs' default retention keeps exactly that
much; 5.8 firings and 5.8 events a second), so the day's charts cover half of each table. The page is
rendered in this process by Django's test client as a superuser (no HTTP): the readiness checks, the
verdicts and seven charts, for the last 24 hours and the last 7 days.

Three designs in one run, on the same database:
- floor: the same page over empty tables: what the page costs with nothing to count (the limit);
- live: every chart counted from the source tables on each view (no roll-up: the honest baseline,
  and what the page costs when beat has stalled since before the window);
- rolled up: eventsys, after the roll-up task has written the hours that are over.

Target (--check exits 1 if it is missed): rolled up, the median view < 300 ms for both windows.

Usage: python bench/dashboard/run.py [--rows 1000000] [--views 15] [--check]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_dashboard).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from support import Targets, add_check_argument, recreate_database, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_dashboard")
PAGES = {"24h": "/admin/", "7d": "/admin/?range=7d"}


def fill(rows: int, trigger_id: int, owner_id: int) -> float:
    """N logs and N events over the last 48 hours, in two INSERT … SELECT statements."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO triggers_executionlog (trigger_id, owner_id, source, scheduled_for, missed_slots,
                delivery_id, status, state, url, payload, attempts, lease_holder, error, response_excerpt,
                created_at)
            SELECT %(trigger)s, %(owner)s, 'schedule', at - (i %% 7) * interval '90 ms', 0, gen_random_uuid(),
                (ARRAY['delivered', 'delivered', 'delivered', 'failed', 'none'])[1 + i %% 5],
                CASE WHEN at < now() - interval '2 hours' THEN 'archived' ELSE 'active' END,
                'https://example.com/hook', '{"n": 1}', 1, '', '', '', at
            FROM (SELECT i, now() - i * (interval '48 hours' / %(rows)s) AS at
                  FROM generate_series(1, %(rows)s) AS i) AS slots
            """,
            {"trigger": trigger_id, "owner": owner_id, "rows": rows},
        )
        cursor.execute(
            """
            INSERT INTO events_ingestedevent (owner_id, event_type, event_payload, idempotency_key, body_hash,
                occurred_at_in_future, received_at)
            SELECT %(owner)s, 'sensor.reading', '{"value": 1}', '', '', false,
                now() - i * (interval '48 hours' / %(rows)s)
            FROM generate_series(1, %(rows)s) AS i
            """,
            {"owner": owner_id, "rows": rows},
        )
        cursor.execute("ANALYZE triggers_executionlog")
        cursor.execute("ANALYZE events_ingestedevent")
    return time.perf_counter() - started


def views(client, path: str, count: int) -> tuple[list[float], int]:
    """Milliseconds per view of `path`, and the queries one view makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(path).status_code == 200  # warm: templates, connections
    timings = []
    for _ in range(count):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings, len(queries)


def measure(client, count: int) -> dict[str, tuple[float, float, int]]:
    found = {}
    for window, path in PAGES.items():
        timings, queries = views(client, path, count)
        found[window] = (statistics.median(timings), max(timings), queries)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="execution logs, and as many ingested events")
    parser.add_argument("--views", type=int, default=15, help="page views measured per design and window")
    add_check_argument(parser)
    args = parser.parse_args()

    os.environ.update(web_env(database_url=DATABASE_URL, data_dir=tempfile.mkdtemp(prefix="eventsys-bench-dash-")))
    os.environ["ALLOWED_HOSTS"] = "testserver"
    recreate_database(DATABASE_URL)
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User
    from eventsys.ops.models import HourlyCount, RollupMark
    from eventsys.ops.rollup import rollup
    from triggers.services import trigger_create

    admin = User.objects.create_superuser(username="operator", password="not-used", email="ops@example.com")
    trigger = trigger_create(
        owner=admin,
        name="hook",
        kind="api",
        schedule_type="cron",
        cron="* * * * *",
        api_endpoint="https://example.com/h",
    )
    client = Client()
    client.force_login(admin)

    results = {"floor": measure(client, args.views)}
    seconds = fill(args.rows, trigger.pk, admin.pk)
    print(f"{args.rows:,} execution logs and {args.rows:,} ingested events over 48 hours, inserted in {seconds:.1f} s")
    results["live"] = measure(client, args.views)

    started = time.perf_counter()
    written = rollup(now=timezone.now())
    backfill = time.perf_counter() - started
    started = time.perf_counter()
    rollup(now=timezone.now())
    again = time.perf_counter() - started
    results["rolled up"] = measure(client, args.views)
    assert HourlyCount.objects.exists() and RollupMark.objects.exists()

    print(f"PostgreSQL, DEBUG off, in-process views (test client, no HTTP), median and worst of {args.views} views")
    print(f"{'design':<10} {'window':>6} {'median ms':>10} {'worst ms':>9} {'queries':>8} {'vs floor':>9}")
    for design, windows in results.items():
        for window, (median, worst, queries) in windows.items():
            ratio = median / results["floor"][window][0]
            print(f"{design:<10} {window:>6} {median:>10.1f} {worst:>9.1f} {queries:>8} {ratio:>8.1f}x")
    print(
        f"roll-up task: first run (7 days backfilled, {written} hourly rows) {backfill * 1000:.0f} ms;"
        f" a routine run (the last 2 hours again) {again * 1000:.0f} ms"
    )
    print("floor: the same page over empty tables (the limit); live: counted from the tables on every view")
    targets = Targets()
    for window in PAGES:
        median = results["rolled up"][window][0]
        targets.add(
            f"rolled up, {window}: median < 300 ms (floor {results['floor'][window][0]:.1f} ms)",
            f"{median:.1f} ms, {median / results['floor'][window][0]:.1f}x the floor",
            median < 300,
        )
    if args.rows != 1_000_000:
        print(f"note: the target is for 1,000,000 rows; this run has {args.rows:,}")
    targets.report(args.check)


if __name__ == "__main__":
    main()
