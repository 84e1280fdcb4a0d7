"""The operators' trigger pages: list health (last delivery, consecutive failures, a failing filter)
in a constant number of queries, a read-only page without a Save button, and a log list that reads."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from triggers.models import ExecutionLog, Trigger
from triggers.services import dispatch_due, trigger_create, trigger_fire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(client, admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    client.force_login(admin_user)
    return client


def webhook(owner, name: str, *, failures: int = 0, last: str | None = None, url="http://127.0.0.1:9/hook") -> Trigger:
    trigger = trigger_create(
        owner=owner,
        name=name,
        kind="api",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=5,
        api_endpoint=url,
    )
    if last:
        log = trigger_fire(trigger=trigger)
        ExecutionLog.objects.filter(pk=log.pk).update(status=last)
    Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=failures)
    return trigger


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)


def test_the_trigger_list_shows_each_triggers_delivery_health(staff, alice):
    webhook(alice, "healthy hook", last="delivered")
    webhook(alice, "broken hook", failures=3, last="failed")
    webhook(alice, "new hook")

    page = staff.get("/admin/triggers/trigger/").content.decode()

    rows = {name: page.split(name, 1)[1].split("</tr>", 1)[0] for name in ("healthy hook", "broken hook", "new hook")}
    assert "delivered" in rows["healthy hook"] and ">0<" in rows["healthy hook"]
    assert "failed" in rows["broken hook"] and ">3<" in rows["broken hook"]
    assert "none yet" in rows["new hook"]


def test_the_failing_filter_lists_only_failing_triggers(staff, alice):
    webhook(alice, "healthy hook", last="delivered")
    webhook(alice, "broken hook", failures=2, last="failed")

    failing = staff.get("/admin/triggers/trigger/?deliveries=failing").content.decode()
    healthy = staff.get("/admin/triggers/trigger/?deliveries=healthy").content.decode()

    assert "broken hook" in failing and "healthy hook" not in failing
    assert "healthy hook" in healthy and "broken hook" not in healthy


def test_the_trigger_list_costs_the_same_queries_for_3_or_12_triggers(staff, alice):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get("/admin/triggers/trigger/").status_code == 200
        return len(captured)

    for index in range(3):
        webhook(alice, f"hook {index}", last="delivered")
    few = queries()
    for index in range(3, 12):
        webhook(alice, f"hook {index}", failures=1, last="failed")
    assert queries() == few


def test_a_triggers_page_is_read_only_and_offers_no_save(staff, alice):
    trigger = webhook(alice, "hook")

    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()

    assert "hook" in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page


def test_the_log_list_reads_as_an_operator_expects(staff, alice):
    scheduled = trigger_create(
        owner=alice,
        name="plain",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=5,
    )
    dispatch_due(now=NOW + timedelta(minutes=1, seconds=30))  # the slot at NOW + 1 min, logged 30 s late

    page = staff.get("/admin/triggers/executionlog/").content.decode()

    assert "no delivery" in page and ">None<" not in page
    assert f'href="/admin/triggers/trigger/{scheduled.pk}/change/"' in page
    assert '<span class="nowrap">2026-11-23</span> <span class="nowrap">12:01:00 UTC</span>' in page  # to the second
    assert "30.0 s" in page  # late by
    owner_filter = staff.get(f"/admin/triggers/executionlog/?owner__id__exact={alice.pk}")
    assert owner_filter.status_code == 200 and "plain" in owner_filter.content.decode()


def test_a_triggers_page_shows_its_next_runs_and_latest_executions(staff, alice):
    trigger = webhook(alice, "hook", last="delivered")

    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()

    assert "2026-11-23 12:01:00 UTC, 2026-11-23 12:06:00 UTC" in page  # the next five runs
    assert page.count("Next five runs") == page.count("Latest executions") == 1
    log = trigger.logs.get()
    assert f'href="/admin/triggers/executionlog/{log.pk}/change/"' in page
    assert f"/admin/triggers/executionlog/?trigger__id__exact={trigger.pk}" in page  # all of them


@pytest.mark.parametrize(
    ("button", "status", "message"), [("pause", "paused", "Paused 1"), ("fire_now", "active", "Fired 1")]
)
def test_the_buttons_on_a_triggers_page_act_and_say_so(staff, alice, button, status, message):
    trigger = webhook(alice, "hook")
    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()
    assert f'action="/admin/triggers/trigger/{trigger.pk}/button/{button}/"' in page

    response = staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/{button}/", follow=True)

    assert response.status_code == 200 and message in response.content.decode()
    trigger.refresh_from_db()
    assert trigger.status == status
    assert trigger.logs.count() == (1 if button == "fire_now" else 0)


def test_a_button_refusal_is_a_message_and_a_get_or_an_unknown_button_does_nothing(staff, alice):
    trigger = webhook(alice, "hook")
    assert staff.get(f"/admin/triggers/trigger/{trigger.pk}/button/pause/").status_code == 405
    assert staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/delete_selected/").status_code == 403
    Trigger.objects.filter(pk=trigger.pk).update(status="completed", next_run_at=None)

    response = staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/resume/", follow=True)

    assert "has completed" in response.content.decode()
    trigger.refresh_from_db()
    assert trigger.status == "completed"


def test_a_triggers_page_shows_its_times_in_its_own_zone(staff, alice):
    trigger = trigger_create(
        owner=alice, name="kolkata", kind="scheduled", schedule_type="cron", cron="30 18 * * *", timezone="Asia/Kolkata"
    )

    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()
    listed = staff.get("/admin/triggers/trigger/").content.decode()

    # 18:30 in Kolkata is 13:00 UTC; NOW is 12:00 UTC, so the next run is today's
    assert "2026-11-23 18:30:00 IST, 2026-11-24 18:30:00 IST" in page  # the next five runs
    assert "2026-11-23 18:30:00 IST" in page.split("Next run at")[1]  # the read-only field, in the same zone
    assert '<span class="nowrap">18:30:00 IST</span>' in listed


def test_the_test_button_sends_once_and_shows_the_answer(staff, alice, receiver):
    receiver.responses.append((202, {}, b'{"queued": true}'))
    trigger = webhook(alice, "hook", url=receiver.url)

    response = staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/test_run/", follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith("hook: test delivered: HTTP 202 in ")
    assert shown[0].endswith('the body began: {"queued": true}')
    assert len(receiver.requests) == 1 and trigger.logs.get().source == "test"


def test_a_failed_test_is_a_warning_with_the_error(staff, alice, receiver):
    receiver.responses.append((500, {}, b"boom"))
    trigger = webhook(alice, "hook", url=receiver.url)

    response = staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/test_run/", follow=True)

    (message,) = response.context["messages"]
    assert message.level_tag == "warning" and "test failed: HTTP 500" in str(message) and "boom" in str(message)
    trigger.refresh_from_db()
    assert trigger.consecutive_failures == 0 and trigger.status == "active"  # a test never counts


def test_rotate_secret_shows_the_new_secret_once_and_stores_it(staff, alice):
    trigger = webhook(alice, "hook")
    old = trigger.signing_secret

    response = staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/rotate_secret/", follow=True)

    trigger.refresh_from_db()
    (message,) = response.context["messages"]
    assert trigger.signing_secret != old and trigger.signing_secret in str(message)
    assert trigger.signing_secret not in staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()


def test_a_trigger_without_a_webhook_has_no_secret_to_rotate(staff, alice):
    trigger = trigger_create(owner=alice, name="nightly", kind="scheduled", schedule_type="cron", cron="0 2 * * *")
    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()
    assert "Fire now" in page and "Rotate secret" not in page
    assert staff.post(f"/admin/triggers/trigger/{trigger.pk}/button/rotate_secret/").status_code == 403
    assert "Rotate secret" in staff.get(f"/admin/triggers/trigger/{webhook(alice, 'hook').pk}/change/").content.decode()


def test_testing_many_triggers_at_once_is_refused(staff, alice, monkeypatch):
    monkeypatch.setattr("triggers.admin.TriggerAdmin.test_run_limit", 1)
    for name in ("a", "b"):
        webhook(alice, name)
    sent = []
    monkeypatch.setattr("triggers.services.trigger_test", lambda **kwargs: sent.append(kwargs))

    response = staff.post(
        "/admin/triggers/trigger/",
        {"action": "test_run", "_selected_action": list(Trigger.objects.values_list("pk", flat=True))},
        follow=True,
    )

    (message,) = response.context["messages"]
    assert "Test at most 1 triggers at a time" in str(message) and not sent


def test_the_trigger_list_shows_the_success_rate_of_the_last_20_deliveries_and_the_lateness(staff, alice):
    trigger = webhook(alice, "hook")
    outcomes = ["failed"] * 5 + ["delivered"] * 17 + ["failed"] * 3  # oldest first: the first 5 are too old
    for minute, status in enumerate(outcomes):
        log = trigger_fire(trigger=trigger)
        ExecutionLog.objects.filter(pk=log.pk).update(status=status, created_at=NOW + timedelta(minutes=minute))
    pending = trigger_fire(trigger=trigger)  # newest, but not finished: not counted
    ExecutionLog.objects.filter(pk=pending.pk).update(created_at=NOW + timedelta(hours=1))
    dispatch_due(now=NOW + timedelta(minutes=1, seconds=30))  # the slot at NOW + 1 min, logged 30 s late
    Trigger.objects.filter(pk=trigger.pk).update(last_run_at=NOW + timedelta(minutes=1, seconds=30))

    row = staff.get("/admin/triggers/trigger/").content.decode().split(">hook<", 1)[1].split("</tr>", 1)[0]

    assert "17 of the last 20 ok" in row
    assert "30.0 s late" in row
