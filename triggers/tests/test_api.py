from datetime import UTC, datetime, timedelta

import pytest

from triggers.models import ExecutionLog, Trigger
from triggers.services import trigger_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_trigger(owner, **fields):
    defaults = {
        "name": "every 5 minutes",
        "kind": "scheduled",
        "schedule_type": "interval",
        "schedule_time": NOW + timedelta(minutes=1),
        "interval": 5,
    }
    return trigger_create(owner=owner, **{**defaults, **fields})


def post(client, **body):
    return client.post("/api/v1/triggers/", body, format="json")


def test_create_one_off_with_the_original_field_names(client_alice):
    response = post(
        client_alice, name="once", trigger_type="scheduled", schedule_time="2026-11-24T09:00:00Z", is_recurring=False
    )
    assert response.status_code == 201, response.data
    assert response.data["schedule_type"] == "one_off" and response.data["is_recurring"] is False
    assert response.data["next_run_at"] == "2026-11-24T09:00:00Z"
    assert response.data["next_runs"] == ["2026-11-24T09:00:00Z"]
    assert response.data["status"] == "active"
    assert response.data["signing_secret"].startswith("whsec_")
    detail = client_alice.get(f"/api/v1/triggers/{response.data['id']}/")
    assert "signing_secret" not in detail.data


def test_create_interval_defaults_to_minutes_and_shows_five_next_runs(client_alice):
    response = post(
        client_alice,
        name="every 30",
        trigger_type="scheduled",
        schedule_time="2026-11-23T12:10:00Z",
        interval=30,
        is_recurring=True,
    )
    assert response.status_code == 201, response.data
    assert response.data["interval_unit"] == "minutes"
    assert response.data["next_runs"] == [
        "2026-11-23T12:10:00Z",
        "2026-11-23T12:40:00Z",
        "2026-11-23T13:10:00Z",
        "2026-11-23T13:40:00Z",
        "2026-11-23T14:10:00Z",
    ]


def test_interval_started_in_the_past_runs_at_its_next_slot(client_alice):
    response = post(
        client_alice,
        name="hourly",
        trigger_type="scheduled",
        schedule_time="2026-11-23T09:30:00Z",
        interval=1,
        interval_unit="hours",
        is_recurring=True,
    )
    assert response.status_code == 201
    assert response.data["next_run_at"] == "2026-11-23T12:30:00Z"


def test_create_cron_in_a_time_zone(client_alice):
    response = post(client_alice, name="daily", trigger_type="scheduled", cron="0 9 * * *", timezone="Europe/London")
    assert response.status_code == 201, response.data
    assert response.data["schedule_type"] == "cron" and response.data["is_recurring"] is True
    assert response.data["next_runs"][:2] == ["2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"]


def test_a_cron_trigger_fires_no_slot_before_its_schedule_time(client_alice):
    response = post(
        client_alice,
        name="from spring",
        trigger_type="scheduled",
        cron="0 9 * * *",
        timezone="Europe/London",
        schedule_time="2027-03-26T00:00:00Z",
    )
    assert response.status_code == 201, response.data
    assert response.data["next_run_at"] == "2027-03-26T09:00:00Z"
    # 28 March 2027: London goes to summer time, 9:00 local is 8:00 UTC.
    assert response.data["next_runs"][:3] == ["2027-03-26T09:00:00Z", "2027-03-27T09:00:00Z", "2027-03-28T08:00:00Z"]


def test_a_cron_slot_at_the_schedule_time_itself_fires(client_alice):
    response = post(
        client_alice, name="x", trigger_type="scheduled", cron="0 9 * * *", schedule_time="2026-12-01T09:00:00Z"
    )
    assert response.data["next_run_at"] == "2026-12-01T09:00:00Z"


def test_editing_a_cron_triggers_schedule_time_moves_its_next_run(client_alice):
    created = post(client_alice, name="x", trigger_type="scheduled", cron="0 9 * * *").data
    assert created["next_run_at"] == "2026-11-24T09:00:00Z"

    later = client_alice.patch(
        f"/api/v1/triggers/{created['id']}/", {"schedule_time": "2027-01-10T12:00:00Z"}, format="json"
    )
    assert later.data["next_run_at"] == "2027-01-11T09:00:00Z"
    cleared = client_alice.patch(f"/api/v1/triggers/{created['id']}/", {"schedule_time": None}, format="json")
    assert cleared.data["next_run_at"] == "2026-11-24T09:00:00Z"


def test_a_cron_trigger_waits_for_its_schedule_time_at_dispatch(alice, frozen):
    from triggers.services import dispatch_due

    trigger = make_trigger(
        alice, schedule_type="cron", cron="*/5 * * * *", interval=None, schedule_time=NOW + timedelta(hours=1)
    )
    frozen.move_to(NOW + timedelta(minutes=30))
    dispatch_due()
    assert not ExecutionLog.objects.exists()
    frozen.move_to(NOW + timedelta(hours=1, seconds=1))
    dispatch_due()
    assert [log.scheduled_for for log in ExecutionLog.objects.filter(trigger=trigger)] == [NOW + timedelta(hours=1)]


def test_time_without_offset_is_read_in_the_triggers_zone(client_alice):
    response = post(
        client_alice,
        name="ny",
        trigger_type="scheduled",
        schedule_time="2026-11-24T09:00:00",
        timezone="America/New_York",
    )
    assert response.status_code == 201, response.data
    assert response.data["next_run_at"] == "2026-11-24T14:00:00Z"


def test_max_runs_limits_next_runs(client_alice):
    response = post(
        client_alice,
        name="thrice",
        trigger_type="scheduled",
        schedule_time="2026-11-23T12:10:00Z",
        interval=10,
        is_recurring=True,
        max_runs=3,
    )
    assert len(response.data["next_runs"]) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger_type": "webhook", "schedule_time": "2026-11-24T09:00:00Z"}, "trigger_type"),
        ({"trigger_type": "api", "schedule_time": "2026-11-24T09:00:00Z"}, "api_endpoint"),
        ({"trigger_type": "scheduled", "cron": "61 * * * *"}, "cron"),
        ({"trigger_type": "scheduled", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        (
            {"trigger_type": "scheduled", "schedule_time": "2026-11-24T09:00:00Z", "is_recurring": True, "interval": 0},
            "interval",
        ),
        ({"trigger_type": "scheduled", "schedule_time": "2026-11-24T09:00:00Z", "is_recurring": True}, "interval"),
        ({"trigger_type": "scheduled", "schedule_time": "2026-11-22T09:00:00Z"}, "schedule_time"),
        ({"trigger_type": "scheduled"}, "schedule_time"),
        ({"trigger_type": "scheduled", "schedule_time": "yesterday"}, "schedule_time"),
        (
            {
                "trigger_type": "api",
                "schedule_time": "2026-11-24T09:00:00Z",
                "api_endpoint": "http://93.184.216.34/",
                "api_payload": {"blob": "x" * 70_000},
            },
            "api_payload",
        ),
        (
            {"trigger_type": "api", "schedule_time": "2026-11-24T09:00:00Z", "api_endpoint": "http://localhost:8000/x"},
            "api_endpoint",
        ),
        (
            {"trigger_type": "api", "schedule_time": "2026-11-24T09:00:00Z", "api_endpoint": "ftp://example.com/"},
            "api_endpoint",
        ),
        (
            {
                "trigger_type": "scheduled",
                "schedule_time": "2026-11-24T09:00:00Z",
                "is_recurring": True,
                "interval": 5,
                "end_at": "2026-11-24T08:00:00Z",
            },
            "end_at",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(client_alice, body, field):
    response = post(client_alice, name="bad", **body)
    assert response.status_code == 400, response.data
    assert field in response.data, response.data
    assert Trigger.objects.count() == 0


def test_payload_that_is_not_json_is_400(client_alice):
    response = client_alice.post(
        "/api/v1/triggers/", data='{"name": "x", "api_payload": {bad}}', content_type="application/json"
    )
    assert response.status_code == 400
    assert Trigger.objects.count() == 0


def test_other_users_trigger_is_404_on_every_route(client_alice, bob):
    trigger = make_trigger(bob)
    base = f"/api/v1/triggers/{trigger.pk}/"
    assert client_alice.get(base).status_code == 404
    assert client_alice.patch(base, {"name": "mine"}, format="json").status_code == 404
    assert client_alice.put(base, {"name": "mine"}, format="json").status_code == 404
    for action in ("fire", "test", "pause", "resume", "rotate-secret"):
        assert client_alice.post(f"{base}{action}/").status_code == 404, action
    assert client_alice.get(f"{base}logs/").status_code == 404
    assert client_alice.delete(base).status_code == 404
    assert client_alice.get("/api/v1/triggers/").data["count"] == 0
    trigger.refresh_from_db()
    assert trigger.name == "every 5 minutes" and trigger.status == "active"
    assert ExecutionLog.objects.count() == 0


def test_other_users_logs_are_invisible(client_alice, bob):
    from triggers.services import trigger_fire

    log = trigger_fire(trigger=make_trigger(bob))
    assert client_alice.get("/api/v1/event-logs/").data["count"] == 0
    assert client_alice.get(f"/api/v1/event-logs/{log.pk}/").status_code == 404


def test_patch_schedule_recomputes_next_run(client_alice, alice):
    trigger = make_trigger(alice)
    response = client_alice.patch(
        f"/api/v1/triggers/{trigger.pk}/", {"cron": "30 8 * * *", "timezone": "UTC"}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["schedule_type"] == "cron"
    assert response.data["next_run_at"] == "2026-11-24T08:30:00Z"


def test_patch_name_keeps_the_next_run(client_alice, alice, frozen):
    trigger = make_trigger(alice)
    frozen.shift(timedelta(seconds=30))
    response = client_alice.patch(f"/api/v1/triggers/{trigger.pk}/", {"name": "renamed"}, format="json")
    assert response.status_code == 200
    assert response.data["next_run_at"] == "2026-11-23T12:01:00Z"


def test_pause_and_resume(client_alice, alice, frozen):
    trigger = make_trigger(alice)
    paused = client_alice.post(f"/api/v1/triggers/{trigger.pk}/pause/")
    assert paused.data["status"] == "paused" and paused.data["next_run_at"] is None
    assert paused.data["next_runs"] == []
    frozen.shift(timedelta(minutes=20))
    resumed = client_alice.post(f"/api/v1/triggers/{trigger.pk}/resume/")
    assert resumed.data["status"] == "active"
    # Slots that passed while paused are not fired: the next one after now.
    assert resumed.data["next_run_at"] == "2026-11-23T12:21:00Z"


def test_fire_logs_a_manual_firing_without_touching_the_schedule(
    client_alice, alice, django_capture_on_commit_callbacks
):
    trigger = make_trigger(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_alice.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 202
    assert response.data["source"] == "manual" and response.data["status"] == "none"
    assert callbacks == []  # a scheduled trigger has nothing to deliver
    trigger.refresh_from_db()
    assert trigger.next_run_at == NOW + timedelta(minutes=1) and trigger.run_count == 0


def test_delete_removes_the_trigger(client_alice, alice):
    trigger = make_trigger(alice)
    assert client_alice.delete(f"/api/v1/triggers/{trigger.pk}/").status_code == 204
    assert not Trigger.objects.exists()


def test_list_filters_and_rejects_unknown_values(client_alice, alice):
    make_trigger(alice, name="a")
    make_trigger(alice, name="b", kind="api", api_endpoint="http://93.184.216.34/hook")
    assert client_alice.get("/api/v1/triggers/?trigger_type=api").data["count"] == 1
    assert client_alice.get("/api/v1/triggers/?status=active").data["count"] == 2
    assert client_alice.get("/api/v1/triggers/?status=sleeping").status_code == 400
    assert client_alice.get("/api/v1/triggers/?colour=red").status_code == 400


def test_list_query_count_is_constant(client_alice, alice, django_assert_max_num_queries):
    for i in range(25):
        make_trigger(alice, name=f"t{i}", schedule_type="cron", cron="*/5 * * * *", schedule_time=None, interval=None)
    with django_assert_max_num_queries(2):
        response = client_alice.get("/api/v1/triggers/?page_size=25")
    assert len(response.data["results"]) == 25
    assert all(len(item["next_runs"]) == 5 for item in response.data["results"])


def test_logs_endpoints_filter_by_source_and_time(client_alice, alice, frozen, django_assert_max_num_queries):
    from triggers.services import trigger_fire

    trigger = make_trigger(alice)
    trigger_fire(trigger=trigger)
    frozen.shift(timedelta(hours=1))
    trigger_fire(trigger=trigger)
    response = client_alice.get(f"/api/v1/triggers/{trigger.pk}/logs/?source=manual&since=2026-11-23T12:30:00Z")
    assert response.status_code == 200 and response.data["count"] == 1
    with django_assert_max_num_queries(2):
        listed = client_alice.get(f"/api/v1/event-logs/?trigger={trigger.pk}&state=active")
    assert listed.data["count"] == 2
    assert client_alice.get("/api/v1/event-logs/?since=yesterday").status_code == 400
    assert client_alice.get("/api/v1/event-logs/?source=cron").status_code == 400
    assert client_alice.get(f"/api/v1/triggers/{trigger.pk}/logs/?bogus=1").status_code == 400
