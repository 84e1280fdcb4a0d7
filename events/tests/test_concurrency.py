"""Capacity and duplicates hold under real concurrent transactions (PostgreSQL; CI runs these)."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from events.models import Attendee
from events.services import attendee_cancel, attendee_register, event_create
from eventsys.api.errors import DomainError

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs them)"),
]

WORKERS = 40  # concurrent connections; PostgreSQL's default limit is 100


def _event(organiser, capacity):
    start = timezone.now() + timedelta(days=1)
    return event_create(
        organiser=organiser,
        name="race",
        location="here",
        start_time=start,
        end_time=start + timedelta(hours=1),
        timezone="UTC",
        max_capacity=capacity,
    )


def _race(calls: list) -> list[str]:
    """Run the calls at once (a barrier releases them together); each outcome is a status or error code."""
    barrier = threading.Barrier(min(len(calls), WORKERS))

    def run(call):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            attendee, _ = call()
            return attendee.status if attendee is not None else "cancelled"
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, calls))


def test_100_concurrent_registrations_for_the_last_5_seats_register_exactly_5(alice):
    event = _event(alice, capacity=10)
    for i in range(5):
        attendee_register(event=event, name="early", email=f"early{i}@example.com")
    outcomes = _race(
        [lambda i=i: attendee_register(event=event, name="racer", email=f"racer{i}@example.com") for i in range(100)]
    )
    assert outcomes.count("registered") == 5
    assert outcomes.count("event_full") == 95
    event.refresh_from_db()
    assert event.seats_taken == 10
    assert Attendee.objects.filter(event=event, status="registered").count() == 10


def test_one_email_racing_itself_registers_once(alice):
    event = _event(alice, capacity=50)
    outcomes = _race(
        [lambda: attendee_register(event=event, name="twin", email="Twin@Example.com ") for _ in range(30)]
    )
    assert outcomes.count("registered") == 1
    assert outcomes.count("already_registered") == 29
    assert Attendee.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert event.seats_taken == 1


def test_cancellations_racing_registrations_never_overbook(alice, monkeypatch):
    from events.tasks import send_promotion_email

    promoted = []
    monkeypatch.setattr(send_promotion_email, "delay", promoted.append)
    event = _event(alice, capacity=5)
    seated = [attendee_register(event=event, name="s", email=f"s{i}@example.com")[0] for i in range(5)]
    calls = [lambda a=a: (attendee_cancel(attendee=a), None) for a in seated]
    calls += [
        lambda i=i: attendee_register(event=event, name="w", email=f"w{i}@example.com", waitlist=True)
        for i in range(30)
    ]
    _race(calls)
    event.refresh_from_db()
    registered = Attendee.objects.filter(event=event, status="registered").count()
    waitlisted = Attendee.objects.filter(event=event, status="waitlisted").count()
    assert registered == event.seats_taken == 5
    assert waitlisted == event.waitlist_length == 25
    assert len(promoted) == Attendee.objects.filter(event=event, promoted_at__isnull=False).count()


def test_one_idempotency_key_racing_itself_is_stored_once(alice):
    from accounts.services import api_token_create
    from events.ingestion import ingest
    from events.models import IngestedEvent

    token, _ = api_token_create(user=alice, name="racer")
    event = {"event_type": "t", "event_payload": {"n": 1}, "idempotency_key": "same"}
    barrier = threading.Barrier(10)

    def send():
        try:
            barrier.wait(timeout=10)
            return ingest(token=token, body=[event, {"event_type": "t", "event_payload": "keyless"}])[0].status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: send(), range(10)))
    assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 9
    assert IngestedEvent.objects.filter(idempotency_key="same").count() == 1
    assert IngestedEvent.objects.filter(idempotency_key="").count() == 10
