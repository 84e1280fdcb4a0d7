from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from triggers.models import DeliveryAttempt, ExecutionLog
from triggers.services import logs_retention_apply, trigger_create, trigger_fire

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def trigger(alice):
    with time_machine.travel(NOW - timedelta(days=5), tick=False):
        return trigger_create(
            owner=alice,
            name="t",
            kind="api",
            api_endpoint="http://93.184.216.34/",
            schedule_type="cron",
            cron="0 * * * *",
        )


def log_aged(trigger, age: timedelta) -> ExecutionLog:
    log = trigger_fire(trigger=trigger, now=NOW - age)
    DeliveryAttempt.objects.create(log=log, number=1, started_at=log.created_at, outcome="delivered", latency_ms=5)
    return log


def test_logs_move_from_active_to_archived_to_deleted_by_age(trigger, settings):
    settings.TRIGGER_LOG_ARCHIVE_AFTER = timedelta(hours=2)
    settings.TRIGGER_LOG_DELETE_AFTER = timedelta(hours=48)
    fresh = log_aged(trigger, timedelta(minutes=119))
    old = log_aged(trigger, timedelta(hours=3))
    older = log_aged(trigger, timedelta(hours=47))
    expired = log_aged(trigger, timedelta(hours=49))

    result = logs_retention_apply(now=NOW, batch_size=1)
    assert (result.archived, result.deleted) == (2, 1)
    states = dict(ExecutionLog.objects.values_list("pk", "state"))
    assert states == {fresh.pk: "active", old.pk: "archived", older.pk: "archived"}
    assert expired.pk not in states
    assert not DeliveryAttempt.objects.filter(log_id=expired.pk).exists()
    assert logs_retention_apply(now=NOW) == type(result)(0, 0)


def test_the_management_command_applies_retention(trigger, capsys):
    log_aged(trigger, timedelta(hours=3))
    log_aged(trigger, timedelta(days=3))
    with time_machine.travel(NOW, tick=False):
        call_command("prune_trigger_logs")
    assert "archived 1, deleted 1" in capsys.readouterr().out


def test_archived_logs_stay_readable_and_filterable(trigger, api_client, alice):
    log_aged(trigger, timedelta(hours=3))
    log_aged(trigger, timedelta(minutes=5))
    logs_retention_apply(now=NOW)
    api_client.force_authenticate(alice)
    archived = api_client.get("/api/v1/event-logs/?state=archived")
    assert archived.status_code == 200 and archived.data["count"] == 1
    assert archived.data["results"][0]["state"] == "archived"
