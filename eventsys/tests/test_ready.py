from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from eventsys.ops.models import Heartbeat
from eventsys.ops.services import heartbeat_record
from eventsys.ops.tasks import heartbeat

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def alive():
    """Beat sent the heartbeat and a worker ran it, just now."""
    heartbeat_record(component=Heartbeat.Component.BEAT, now=NOW)
    heartbeat.run()  # what the worker executes


@time_machine.travel(NOW, tick=False)
def test_ready_is_200_when_database_broker_beat_and_worker_are_well(api_client, alive):
    response = api_client.get("/api/ready/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == [] and body["degraded"] == []
    assert set(body["checks"]) == {"database", "broker", "cache", "beat", "worker", "dispatcher"}
    assert response["Cache-Control"] == "no-store"


@time_machine.travel(NOW, tick=False)
def test_ready_is_503_naming_the_broker_when_it_is_unreachable(api_client, alive, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.READY_CHECK_TIMEOUT = 1
    response = api_client.get("/api/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert "unreachable" in body["checks"]["broker"]["detail"]


@time_machine.travel(NOW, tick=False)
def test_ready_is_503_when_the_filesystem_broker_folder_is_missing(api_client, alive, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "gone"),
        "data_folder_out": str(tmp_path / "gone"),
        "control_folder": str(tmp_path),
    }
    response = api_client.get("/api/ready/")
    assert response.status_code == 503 and response.json()["failing"] == ["broker"]


def test_ready_tells_a_dead_worker_from_a_dead_beat(api_client, settings):
    settings.READY_HEARTBEAT_MAX_AGE = 60
    with time_machine.travel(NOW, tick=False) as traveller:
        heartbeat_record(component=Heartbeat.Component.BEAT)
        heartbeat.run()
        traveller.shift(timedelta(seconds=61))
        heartbeat_record(component=Heartbeat.Component.BEAT)  # beat still sends; no worker runs it
        response = api_client.get("/api/ready/")
        assert response.status_code == 503
        assert response.json()["failing"] == ["worker"]
        assert "61s ago" in response.json()["checks"]["worker"]["detail"]

        traveller.shift(timedelta(seconds=61))
        assert api_client.get("/api/ready/").json()["failing"] == ["beat", "worker"]


def test_ready_is_503_before_any_heartbeat(api_client):
    response = api_client.get("/api/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["detail"] == "never seen"


def test_health_answers_without_touching_the_database(api_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api_client.get("/api/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@time_machine.travel(NOW, tick=False)
def test_checkready_command_exits_non_zero_naming_the_failing_part(capsys):
    from django.core.management import CommandError, call_command

    heartbeat_record(component=Heartbeat.Component.BEAT, now=NOW)
    call_command("checkready", "database", "beat")
    assert "beat: ok" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not ready: worker"):
        call_command("checkready", "worker")


def test_ready_is_503_naming_the_database_when_it_is_down(api_client, monkeypatch):
    from django.db import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("eventsys.ops.services.connection.cursor", down)
    response = api_client.get("/api/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "beat", "worker"]
    assert "connection refused" in body["checks"]["database"]["detail"]
    assert body["checks"]["worker"]["detail"] == "database unreachable"


@pytest.fixture
def dead_cache(settings):
    from eventsys.ops import cache as fail_open
    from eventsys.settings import cache_from_url

    original = settings.CACHES
    settings.CACHES = {"default": cache_from_url("redis://127.0.0.1:1/0", timeout_ms=250)}
    fail_open.outage.reset()
    yield
    settings.CACHES = original
    fail_open.outage.reset()


@time_machine.travel(NOW, tick=False)
def test_ready_stays_200_naming_the_cache_as_degraded_when_its_redis_is_down(api_client, alive, dead_cache):
    response = api_client.get("/api/ready/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failing"] == [] and body["degraded"] == ["cache"]
    assert body["checks"]["cache"]["ok"] is False
    assert "unreachable" in body["checks"]["cache"]["detail"]


@time_machine.travel(NOW, tick=False)
def test_a_degraded_cache_still_counts_as_unready_alongside_a_real_failure(api_client, dead_cache):
    body = api_client.get("/api/ready/").json()  # no heartbeats yet
    assert body["status"] == "unavailable"
    assert body["failing"] == ["beat", "worker"] and body["degraded"] == ["cache"]


@time_machine.travel(NOW, tick=False)
def test_checkready_passes_with_a_degraded_cache_unless_the_cache_is_named(alive, dead_cache, capsys):
    from django.core.management import CommandError, call_command

    call_command("checkready")
    assert "cache: FAILING" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not ready: cache"):
        call_command("checkready", "cache")
