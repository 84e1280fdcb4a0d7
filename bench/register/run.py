"""Concurrent event registration against gunicorn on PostgreSQL.

C concurrent clients (default 200) POST registrations for E events of 50 seats each, more requests
than seats and some e-mails sent twice, then the database is checked: overbooked events and
duplicate live registrations must both be 0. As a baseline in the same run, the same clients GET
one event (a read through the same stack) to show the server's ceiling on this machine.

Usage: python bench/register/run.py [--clients 200] [--events 20] [--requests 3000]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_register).
"""

import argparse
import asyncio
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
from support import gunicorn, recreate_database, web_env  # noqa: E402

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


async def http_call(port: int, method: str, path: str, body: bytes | None) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # drain until the server closes
    writer.close()
    return int(status_line.split()[1]), time.perf_counter() - started


async def run_load(port: int, clients: int, requests: list[tuple[str, str, bytes | None]]) -> tuple[list, float]:
    queue: asyncio.Queue = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    results: list[tuple[int, float]] = []

    async def client():
        while not queue.empty():
            method, path, body = queue.get_nowait()
            results.append(await http_call(port, method, path, body))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return results, time.perf_counter() - started


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


def summarise(label: str, results: list[tuple[int, float]], elapsed: float) -> str:
    latencies = sorted(latency for _, latency in results)
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)]
    return (
        f"{label:<14} {len(results):>7} {len(results) / elapsed:>9.0f} "
        f"{statistics.median(latencies) * 1000:>8.1f} {p99 * 1000:>8.1f}"
    )


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
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16)
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
        read_results, read_elapsed = asyncio.run(run_load(port, args.clients, reads))
        writes = registration_requests(event_ids, args.requests, rng)
        write_results, write_elapsed = asyncio.run(run_load(port, args.clients, writes))

    overbooked, duplicates, registered = check_database()
    statuses: dict[int, int] = {}
    for status, _ in write_results:
        statuses[status] = statuses.get(status, 0) + 1
    seats = args.events * 50
    print(
        f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads, {args.clients} concurrent clients, "
        f"{args.events} events x 50 seats"
    )
    print(f"{'case':<14} {'requests':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(summarise("read (base)", read_results, read_elapsed))
    print(summarise("register", write_results, write_elapsed))
    print(f"registrations/s (201 only): {statuses.get(201, 0) / write_elapsed:.0f}")
    print(f"answers: {dict(sorted(statuses.items()))}  (201 registered, 409 full or already registered)")
    print(f"seats {seats}, registered {registered}, overbooked events {overbooked} (must be 0), "
          f"duplicate registrations {duplicates} (must be 0)")  # fmt: skip


if __name__ == "__main__":
    main()
