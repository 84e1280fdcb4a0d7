"""Concurrent event registration against gunicorn on PostgreSQL: the race for the last seats.

C concurrent clients (default 200) POST registrations for E events of 50 seats each (default one
event: all 200 race for the same 50 seats, the case the lock is for), more requests than seats and
some e-mails sent twice, then the database is checked: overbooked events and duplicate live
registrations must both be 0, and every seat taken. Each client keeps one connection open
(keep-alive), as a browser or an API client does, so requests, not TCP handshakes, are measured.
The limit, in the same run: the same clients GET one event (a read through the same stack, the
server's ceiling on this machine); registrations are reported as a ratio to it. Servers run as
deployed (DEBUG off, gunicorn.conf.py); p99 is the nearest-rank percentile.

Targets (--check exits 1 if one is missed): 0 overbooked events, 0 duplicate registrations, every
seat taken.

Usage: python bench/register/run.py [--clients 200] [--events 1] [--requests 1000] [--check]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_register).
"""

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import (  # noqa: E402
    Targets,
    add_check_argument,
    gunicorn,
    p99,
    percentile,
    post_all,
    recreate_database,
    web_env,
)

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_register")


def create_events(count: int) -> list[int]:
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import User
    from events.models import Event

    organiser = User.objects.create_user(username="organiser", password="not-used-here")
    start = timezone.now() + timedelta(days=7)
    events = Event.objects.bulk_create(
        Event(
            organiser=organiser,
            name=f"Event {i}",
            location="Bench",
            start_time=start,
            end_time=start + timedelta(hours=2),
            timezone="UTC",
            max_capacity=50,
        )
        for i in range(count)
    )
    return [event.pk for event in events]


def registration_requests(event_ids: list[int], total: int, rng: random.Random) -> list[tuple[str, str, bytes]]:
    requests, sent = [], []
    for i in range(total):
        if sent and rng.random() < 0.05:  # the same person pressing "register" twice
            event_id, email = rng.choice(sent)
        else:
            event_id, email = rng.choice(event_ids), f"person{i}@example.com"
            sent.append((event_id, email))
        body = json.dumps({"name": "Bench Person", "email": email}).encode()
        requests.append(("POST", f"/api/v1/events/{event_id}/attendees/", body))
    return requests


def summarise(label: str, latencies: list[float], elapsed: float) -> str:
    p50, p99_ms = percentile(latencies, 0.5) * 1000, p99(latencies) * 1000
    return f"{label:<14} {len(latencies):>7} {len(latencies) / elapsed:>9.0f} {p50:>8.1f} {p99_ms:>8.1f}"


def check_database() -> tuple[int, int, int]:
    from django.db.models import Count, F, Q

    from events.models import Attendee, Event

    overbooked = (
        Event.objects.annotate(registered=Count("attendees", filter=Q(attendees__status="registered")))
        .filter(Q(registered__gt=F("max_capacity")) | ~Q(registered=F("seats_taken")))
        .count()
    )
    duplicates = (
        Attendee.objects.exclude(status="cancelled")
        .values("event_id", "email")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    registered = Attendee.objects.filter(status="registered").count()
    return overbooked, duplicates, registered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16)
    add_check_argument(parser)
    args = parser.parse_args()

    env = web_env(
        database_url=DATABASE_URL,
        data_dir=tempfile.mkdtemp(prefix="eventsys-bench-register-"),
        THROTTLE_ANON="100000000/min",
        THROTTLE_REGISTRATION="100000000/min",
        THROTTLE_USER="100000000/min",  # DRF applies the user rate to anonymous clients too, by IP
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    recreate_database(DATABASE_URL)

    import django

    django.setup()
    event_ids = create_events(args.events)

    with gunicorn(env, workers=args.web_workers, threads=args.threads) as port:
        rng = random.Random(42)
        reads = [("GET", f"/api/v1/events/{rng.choice(event_ids)}/", None) for _ in range(args.requests)]
        post_all(port, "", "", reads[:200], args.clients)  # warm-up: imports, connections
        read_elapsed, read_latencies, read_statuses = post_all(port, "", "", reads, args.clients)
        writes = registration_requests(event_ids, args.requests, rng)
        write_elapsed, write_latencies, statuses = post_all(port, "", "", writes, args.clients)

    overbooked, duplicates, registered = check_database()
    seats = args.events * 50
    print(
        f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads, {args.clients} concurrent"
        f" keep-alive clients, {args.events} event(s) x 50 seats, DEBUG off"
    )
    print(f"{'case':<14} {'requests':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(summarise("read (limit)", read_latencies, read_elapsed))
    print(summarise("register", write_latencies, write_elapsed))
    read_rate, write_rate = len(read_latencies) / read_elapsed, len(write_latencies) / write_elapsed
    print(f"register / read: {write_rate / read_rate:.0%} of the requests/s")
    print(f"answers: reads {dict(sorted(read_statuses.items()))}, registrations {dict(sorted(statuses.items()))}"
          " (201 registered, 409 full or already registered)")  # fmt: skip
    expected = min(seats, args.requests)
    targets = Targets()
    targets.add("overbooked events: 0", str(overbooked), overbooked == 0)
    targets.add("duplicate live registrations: 0", str(duplicates), duplicates == 0)
    targets.add(f"seats taken: {expected} (no seat lost)", str(registered), registered >= expected)
    failed = sum(n for status, n in statuses.items() if status not in (201, 409))
    failed += sum(n for status, n in read_statuses.items() if status != 200)
    targets.add("every answer 200, 201 or 409", f"{failed} not", failed == 0)
    targets.report(args.check)


if __name__ == "__main__":
    main()
