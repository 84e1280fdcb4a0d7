"""Concurrent failed logins are all counted, and lock once (PostgreSQL; CI runs these)."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import RequestFactory

from accounts.models import LoginLockout
from accounts.services import user_authenticate
from eventsys.api.errors import DomainError

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs them)"),
]

WORKERS = 20


def test_concurrent_failures_from_one_address_are_each_counted_and_lock_the_pair_once(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 100
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 1000
    barrier = threading.Barrier(WORKERS)
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.66")

    def fail(_):
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            user_authenticate(username="alice", password="guess", request=request)
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(fail, range(WORKERS)))
    assert outcomes == ["invalid_credentials"] * WORKERS
    rows = dict(LoginLockout.objects.filter(username="alice").values_list("address", "failures"))
    assert rows == {"203.0.113.66": WORKERS, LoginLockout.ALL_ADDRESSES: WORKERS}
