from unittest import mock

import pytest
from celery.beat import ScheduleEntry

from eventsys.celery import app
from eventsys.ops.models import Heartbeat
from eventsys.ops.scheduler import HeartbeatDatabaseScheduler

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # Beat drops stale connections before writing; here that would close the test's transaction.
    with mock.patch("eventsys.ops.scheduler.close_old_connections"):
        yield


def _scheduler():
    scheduler = HeartbeatDatabaseScheduler.__new__(HeartbeatDatabaseScheduler)
    scheduler.app = app
    return scheduler


def test_beat_records_its_heartbeat_when_it_sends_the_heartbeat_task():
    entry = ScheduleEntry(name="eventsys.heartbeat", task="eventsys.heartbeat", app=app)
    with mock.patch("celery.beat.Scheduler.apply_async", return_value="sent") as send:
        assert _scheduler().apply_async(entry) == "sent"
    send.assert_called_once()
    assert Heartbeat.objects.filter(component="beat").exists()
    assert not Heartbeat.objects.filter(component="worker").exists()


def test_other_tasks_leave_the_beat_heartbeat_alone():
    entry = ScheduleEntry(name="other", task="something.else", app=app)
    with mock.patch("celery.beat.Scheduler.apply_async", return_value="sent"):
        _scheduler().apply_async(entry)
    assert not Heartbeat.objects.exists()


def test_the_system_schedule_declares_the_heartbeat_with_an_expiry(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["eventsys.heartbeat"]
    assert entry["task"] == "eventsys.heartbeat"
    assert entry["options"]["expire_seconds"] == settings.HEARTBEAT_SECONDS * 3
    assert "eventsys.heartbeat" in app.tasks
