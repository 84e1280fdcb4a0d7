"""The dispatcher's watchdog: /api/ready/ says when slots are due and nothing fires, and staff are
e-mailed once when it stops and once when it fires again."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from eventsys.ops.figures import service_figures
from eventsys.ops.health import FAIL, service_health
from eventsys.ops.models import Heartbeat
from eventsys.ops.services import heartbeat_record
from triggers.models import DispatcherWatch
from triggers.services import dispatch_due, trigger_create
from triggers.services.watchdog import dispatcher_status, watchdog_recipients
from triggers.tasks import watchdog

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SLOT = NOW + timedelta(minutes=1)


@pytest.fixture
def tick(alice):
    return trigger_create(
        owner=alice, name="tick", kind="scheduled", schedule_type="interval", schedule_time=SLOT, interval=1
    )


@pytest.fixture
def emails(monkeypatch):
    """The watchdog's e-mail task, run in place of being published."""
    from triggers.services.watchdog import watchdog_email_send

    def send(*, stopped, detail, at):
        watchdog_email_send(stopped=stopped, detail=detail, at=at.isoformat())
        return True

    monkeypatch.setattr("triggers.services.watchdog.watchdog_email_enqueue", send)
    return mail.outbox


@pytest.fixture
def staff_users(make_user):
    make_user("root", email="root@example.com", is_staff=True)
    make_user("quiet", email="", is_staff=True)
    make_user("gone", email="gone@example.com", is_staff=True, is_active=False)
    make_user("user", email="user@example.com")


def _alive():
    heartbeat_record(component=Heartbeat.Component.BEAT)
    heartbeat_record(component=Heartbeat.Component.WORKER)


def test_nothing_due_is_not_stopped(tick, frozen):
    frozen.move_to(SLOT + timedelta(seconds=30))
    assert dispatcher_status(now=SLOT + timedelta(seconds=30)) == (False, "no slot overdue")


def test_a_slot_due_past_the_grace_with_nothing_fired_is_stopped(api_client, tick, frozen, settings):
    settings.WATCHDOG_GRACE_SECONDS = 60
    frozen.move_to(SLOT + timedelta(seconds=90))
    _alive()
    response = api_client.get("/api/ready/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "degraded" and body["failing"] == [] and body["degraded"] == ["dispatcher"]
    check = body["checks"]["dispatcher"]
    assert check["ok"] is False
    assert check["detail"] == "stopped: a slot has been due for 90 s and nothing fired (none logged yet)"


def test_a_dispatcher_behind_but_firing_is_not_stopped(tick, alice, frozen):
    other = trigger_create(
        owner=alice, name="other", kind="scheduled", schedule_type="interval", schedule_time=SLOT, interval=1
    )
    dispatch_due(
        now=SLOT + timedelta(seconds=80), batch_size=1, max_batches=1
    )  # one of two fired: the other still waits
    stopped, detail = dispatcher_status(now=SLOT + timedelta(seconds=90))
    assert not stopped and detail.startswith("behind: a slot due 90 s ago waits; the last firing was logged 10 s")
    assert other.pk


def test_staff_are_emailed_once_when_it_stops_and_once_when_it_recovers(
    tick, frozen, emails, staff_users, django_capture_on_commit_callbacks
):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return watchdog.run()

    frozen.move_to(SLOT + timedelta(seconds=30))
    run()
    assert emails == []
    frozen.move_to(SLOT + timedelta(seconds=90))
    for _ in range(3):
        assert run() is True
    [stopped] = emails
    assert stopped.subject == "[eventsys] The trigger dispatcher has stopped"
    assert stopped.to == ["root@example.com"]
    assert "a slot has been due for 90 s" in stopped.body
    assert DispatcherWatch.objects.get().stopped is True

    dispatch_due(now=SLOT + timedelta(seconds=95))
    frozen.move_to(SLOT + timedelta(seconds=100))
    for _ in range(2):
        assert run() is False
    assert [message.subject for message in emails] == [
        "[eventsys] The trigger dispatcher has stopped",
        "[eventsys] The trigger dispatcher fires again",
    ]


def test_watchdog_emails_go_to_the_configured_addresses_first(settings, staff_users):
    assert watchdog_recipients() == ["root@example.com"]
    settings.WATCHDOG_EMAILS = ["oncall@example.com"]
    assert watchdog_recipients() == ["oncall@example.com"]


def test_the_watchdog_publishes_its_email_after_commit(tick, frozen, monkeypatch, django_capture_on_commit_callbacks):
    published = []
    monkeypatch.setattr("triggers.services.watchdog.publish_many", lambda messages, what: published.extend(messages))
    frozen.move_to(SLOT + timedelta(seconds=90))
    with django_capture_on_commit_callbacks(execute=True):
        watchdog.run()
    [(task, args)] = published
    assert task.name == "triggers.watchdog_email" and args[0] is True


def test_the_dashboard_shows_a_stopped_dispatcher_red(tick, frozen):
    frozen.move_to(SLOT + timedelta(seconds=90))
    verdict = next(
        v for v in service_health(service_figures(now=SLOT + timedelta(seconds=90))) if v.name == "dispatcher"
    )
    assert verdict.level == FAIL and verdict.reason.startswith("stopped")
    assert verdict.link.startswith("/admin/triggers/trigger/")


def test_the_watchdog_is_on_beats_schedule_on_the_default_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["triggers.watchdog"]
    assert entry["task"] == "triggers.watchdog" and entry["options"]["expire_seconds"] == 30
    assert "triggers.watchdog" not in settings.CELERY_TASK_ROUTES  # not the dispatcher's `system` worker


def test_checkready_names_the_dispatcher(tick, frozen, capsys):
    from django.core.management import CommandError, call_command

    frozen.move_to(SLOT + timedelta(seconds=90))
    _alive()
    call_command("checkready", "database", "beat", "worker")
    with pytest.raises(CommandError, match="not ready: dispatcher"):
        call_command("checkready", "dispatcher")
    assert "dispatcher: FAILING (stopped" in capsys.readouterr().out
