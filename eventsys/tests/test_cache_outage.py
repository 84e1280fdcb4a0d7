"""The cache fails open: with its Redis down or silent, the API serves from the database alone."""

import logging
import socket
import time

import pytest
from django.core.cache import cache

from eventsys.ops import cache as fail_open
from eventsys.ops.cache import CacheUnavailable
from eventsys.ops.counters import CACHE_ERRORS, CACHE_FAIL_OPEN, counter_value
from eventsys.settings import cache_from_url

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every connection is refused


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(fail_open, "_clock", clock)
    return clock


@pytest.fixture
def redis_at(settings, clock):
    """Point the default cache at a Redis URL, configured as settings.py configures CACHE_URL."""

    def configure(url: str, timeout_ms: int = 250):
        settings.CACHES = {"default": cache_from_url(url, timeout_ms=timeout_ms)}
        settings.CACHE_FAIL_OPEN_SECONDS = 5
        settings.CACHE_WARNING_INTERVAL_SECONDS = 60

    original = settings.CACHES
    fail_open.outage.reset()
    yield configure
    settings.CACHES = original  # before conftest clears the cache, so that it clears the real one
    fail_open.outage.reset()


@pytest.fixture
def silent_redis():
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


def warnings_in(caplog):
    return [record for record in caplog.records if record.name == "eventsys.ops.cache"]


def test_with_redis_down_logins_and_throttled_reads_are_served(api_client, alice, redis_at, caplog):
    redis_at(DEAD_REDIS)
    errors_before = counter_value(CACHE_ERRORS)
    with caplog.at_level(logging.WARNING, logger="eventsys.ops.cache"):
        login = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": "a-Strong-passw0rd"})
        assert login.status_code == 200, login.content
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
        statuses = [api_client.get("/api/v1/auth/me/").status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert counter_value(CACHE_ERRORS) == errors_before + 1  # then the cache is skipped for a while
    warnings = warnings_in(caplog)
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "ConnectionError" in warnings[0].getMessage() and "failing open" in warnings[0].getMessage()


def test_with_redis_down_machines_still_ingest(api_client, alice, bob, redis_at):
    from accounts.services import api_token_create

    redis_at(DEAD_REDIS)
    for user in (alice, bob):
        _, plaintext = api_token_create(user=user, name="sensor")
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        response = api_client.post("/api/v1/ingest/", {"event_type": "door.opened", "event_payload": {}}, format="json")
        assert response.status_code == 201, response.content
        assert user.ingested_events.count() == 1


def test_the_warning_is_logged_once_per_interval_with_the_count_since(api_client, alice, redis_at, clock, caplog):
    redis_at(DEAD_REDIS)
    api_client.force_authenticate(alice)
    fail_open_before = counter_value(CACHE_FAIL_OPEN)
    with caplog.at_level(logging.WARNING, logger="eventsys.ops.cache"):
        for _ in range(30):
            assert api_client.get("/api/v1/auth/me/").status_code == 200
            clock.now += 1  # 30 s: Redis is asked again every 5 s, the warning waits for 60 s
        assert len(warnings_in(caplog)) == 1
        clock.now += 31
        assert api_client.get("/api/v1/auth/me/").status_code == 200
    warnings = warnings_in(caplog)
    assert len(warnings) == 2
    assert "30 cache call(s) answered without the cache" in warnings[1].getMessage()
    assert counter_value(CACHE_FAIL_OPEN) == fail_open_before + 31


def test_a_silent_redis_costs_one_time_out_then_is_skipped(api_client, alice, redis_at, silent_redis, clock):
    redis_at(silent_redis, timeout_ms=200)
    api_client.force_authenticate(alice)
    started = time.monotonic()
    assert api_client.get("/api/v1/auth/me/").status_code == 200
    first = time.monotonic() - started
    started = time.monotonic()
    assert [api_client.get("/api/v1/auth/me/").status_code for _ in range(10)] == [200] * 10
    rest = time.monotonic() - started
    assert 0.2 <= first < 1.0  # one read time-out, no retries
    assert rest < 0.5  # not asked again within CACHE_FAIL_OPEN_SECONDS
    clock.now += 6
    started = time.monotonic()
    api_client.get("/api/v1/auth/me/")
    assert time.monotonic() - started >= 0.2  # asked again after the pause


def test_reads_miss_writes_are_dropped_and_counters_cannot_be_faked(redis_at):
    redis_at(DEAD_REDIS)
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is False
    assert cache.set("k", 1) is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.has_key("k") is False
    assert cache.delete("k") is False
    with pytest.raises(CacheUnavailable):
        cache.incr("k")
    assert cache.get_or_set("k", 5) == 5


def test_the_cache_reports_recovery_once_it_answers_again(redis_at, clock, caplog, monkeypatch):
    redis_at(DEAD_REDIS)
    assert cache.get("k") is None
    assert fail_open.outage.skipping()
    monkeypatch.setattr(type(cache._cache), "get", lambda self, key, default: "back")
    clock.now += 6
    with caplog.at_level(logging.INFO, logger="eventsys.ops.cache"):
        assert cache.get("k") == "back"
    assert not fail_open.outage.skipping()
    assert "reachable again" in warnings_in(caplog)[-1].getMessage()


def test_a_process_configured_with_a_dead_cache_url_answers_throttled_requests(tmp_path):
    """The whole configuration path: CACHE_URL in the environment, settings.py, the throttles, a request."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env.update(DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="eventsys.settings", CACHE_URL=DEAD_REDIS)
    script = (
        "import django; django.setup(); from django.test import Client; "
        "c = Client(raise_request_exception=False, REMOTE_ADDR='192.0.2.1', HTTP_HOST='localhost'); "
        # throttled (auth and anon), then refused by the serializer: no database needed
        "rs = [c.post('/api/v1/auth/token/', {}, content_type='application/json') for _ in range(3)]; "
        "print(*[f'{r.status_code}:{\",\".join(sorted(r.json()))}' for r in rs])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["400:password,username"] * 3
    assert result.stderr.count("cache unavailable") == 1  # one warning, not one a request
