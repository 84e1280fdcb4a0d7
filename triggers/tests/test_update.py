"""Changing, pausing and resuming triggers: every write validated, no firing lost or repeated."""

from datetime import UTC, datetime, timedelta

import pytest

from triggers.models import Trigger
from triggers.services import dispatch_due, trigger_create, trigger_pause

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_trigger(owner, **fields):
    defaults = {
        "name": "hourly",
        "kind": "scheduled",
        "schedule_type": "interval",
        "schedule_time": NOW + timedelta(hours=1),
        "interval": 60,
    }
    return trigger_create(owner=owner, **{**defaults, **fields})


def patch(client, trigger, **body):
    return client.patch(f"/api/v1/triggers/{trigger.pk}/", body, format="json")


def test_a_paused_triggers_schedule_is_still_validated(client_alice, alice):
    trigger = trigger_pause(trigger=make_trigger(alice))
    assert patch(client_alice, trigger, cron="bogus bogus").status_code == 400
    assert patch(client_alice, trigger, is_recurring=True, interval=0).status_code == 400
    trigger.refresh_from_db()
    assert trigger.cron == "" and trigger.interval == 60


def test_a_forbidden_url_cannot_be_stored_in_two_steps(client_alice, alice):
    trigger = make_trigger(alice)
    assert patch(client_alice, trigger, api_endpoint="http://169.254.169.254/latest/").status_code == 200
    response = patch(client_alice, trigger, trigger_type="api")
    assert response.status_code == 400 and "api_endpoint" in response.data
    assert Trigger.objects.get().kind == "scheduled"


def test_lowering_max_runs_to_the_runs_made_completes_the_trigger(client_alice, alice, frozen):
    trigger = make_trigger(alice, interval=1, schedule_time=NOW + timedelta(minutes=1))
    for minute in (1, 2, 3):
        dispatch_due(now=NOW + timedelta(minutes=minute))
    frozen.move_to(NOW + timedelta(minutes=3, seconds=10))
    response = patch(client_alice, trigger, max_runs=2)
    assert response.status_code == 200
    assert response.data["status"] == "completed" and response.data["next_run_at"] is None
    assert dispatch_due(now=NOW + timedelta(minutes=10)).fired == 0


def test_editing_a_trigger_keeps_a_slot_that_is_overdue(client_alice, alice, frozen):
    trigger = make_trigger(alice, schedule_type="cron", cron="0 * * * *", schedule_time=None, interval=None)
    dispatch_due(now=NOW)  # fires 12:00
    frozen.move_to(NOW + timedelta(hours=1, minutes=30))  # 13:00 is due; the dispatcher is behind
    response = patch(client_alice, trigger, end_at="2026-12-31T00:00:00Z")
    assert response.data["next_run_at"] == "2026-11-23T13:00:00Z"
    assert dispatch_due(now=NOW + timedelta(hours=1, minutes=30)).fired == 1


def test_an_overdue_slot_the_new_schedule_does_not_have_is_dropped(client_alice, alice, frozen):
    trigger = make_trigger(alice, schedule_type="cron", cron="0 * * * *", schedule_time=None, interval=None)
    dispatch_due(now=NOW)
    frozen.move_to(NOW + timedelta(hours=1, minutes=30))
    response = patch(client_alice, trigger, cron="15 * * * *")
    assert response.data["next_run_at"] == "2026-11-23T14:15:00Z"


def test_put_does_not_reset_omitted_fields_to_their_defaults(client_alice, alice):
    trigger = make_trigger(
        alice, schedule_type="cron", cron="0 9 * * *", timezone="Europe/London", schedule_time=None, interval=None
    )
    response = client_alice.put(
        f"/api/v1/triggers/{trigger.pk}/", {"name": "renamed", "trigger_type": "scheduled"}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["timezone"] == "Europe/London" and response.data["schedule_type"] == "cron"
    interval = make_trigger(alice, name="interval")
    response = client_alice.put(
        f"/api/v1/triggers/{interval.pk}/", {"name": "x", "trigger_type": "scheduled", "interval": 10}, format="json"
    )
    assert response.data["schedule_type"] == "interval" and response.data["interval"] == 10


def test_patch_switches_a_cron_trigger_to_an_interval_or_a_one_off(client_alice, alice):
    trigger = make_trigger(alice, schedule_type="cron", cron="0 9 * * *", schedule_time=None, interval=None)
    response = patch(client_alice, trigger, is_recurring=True, interval=15, schedule_time="2026-11-23T13:00:00Z")
    assert response.status_code == 200, response.data
    assert response.data["schedule_type"] == "interval" and response.data["cron"] == ""
    response = patch(client_alice, trigger, is_recurring=False, schedule_time="2026-11-24T13:00:00Z")
    assert response.data["schedule_type"] == "one_off" and response.data["next_run_at"] == "2026-11-24T13:00:00Z"


def test_resuming_a_one_off_whose_time_passed_completes_it(client_alice, alice, frozen):
    trigger = trigger_pause(trigger=make_trigger(alice, schedule_type="one_off", interval=None))
    frozen.move_to(NOW + timedelta(days=1))
    response = client_alice.post(f"/api/v1/triggers/{trigger.pk}/resume/")
    assert response.status_code == 200 and response.data["status"] == "completed"


def test_admin_actions_report_refusals_instead_of_failing(client, alice, admin_user, frozen):
    completed = make_trigger(alice, schedule_type="one_off", interval=None)
    dispatch_due(now=NOW + timedelta(hours=2))  # fires and completes it
    client.force_login(admin_user)
    response = client.post(
        "/admin/triggers/trigger/", {"action": "pause", "_selected_action": [completed.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "has completed" in response.content.decode()


@pytest.mark.parametrize(
    "body",
    [
        {"schedule_time": "9999-12-31T23:00:00", "timezone": "America/New_York"},
        {"schedule_time": "2026-12-01T00:00:00Z", "is_recurring": True, "interval": 10**15, "interval_unit": "hours"},
        {"cron": "0 9 * * *", "timezone": "America"},
        {"schedule_time": "2026-12-01T00:00:00Z", "end_at": "0001-01-01T00:30:00", "timezone": "Asia/Tokyo"},
    ],
)
def test_odd_input_is_a_400_never_a_500(client_alice, body):
    response = client_alice.post(
        "/api/v1/triggers/", {"name": "odd", "trigger_type": "scheduled", **body}, format="json"
    )
    assert response.status_code == 400, response.data
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-13-01T00:00:00Z",
        "since=0001-01-01T00:00:00%2B01:00",
        "trigger=%C2%B2",
        "trigger=99999999999999999999",
    ],
)
def test_odd_log_filters_are_400s(client_alice, query):
    assert client_alice.get(f"/api/v1/event-logs/?{query}").status_code == 400


def test_deeply_nested_json_is_a_400(client_alice):
    body = '{"name": "deep", "api_payload": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client_alice.post("/api/v1/triggers/", data=body, content_type="application/json")
    assert response.status_code == 400


def test_a_webhook_host_that_does_not_resolve_yet_is_accepted_with_a_warning(client_alice, monkeypatch):
    import socket

    def no_dns(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    response = client_alice.post(
        "/api/v1/triggers/",
        {
            "name": "later",
            "trigger_type": "api",
            "cron": "0 9 * * *",
            "api_endpoint": "https://hooks.not-yet.example/in",
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    [warning] = response.data["warnings"]["api_endpoint"]
    assert warning.startswith("cannot resolve host hooks.not-yet.example")
    assert Trigger.objects.get().api_endpoint == "https://hooks.not-yet.example/in"
    listed = client_alice.get(f"/api/v1/triggers/{response.data['id']}/")
    assert listed.data["warnings"] == {}  # said once, when it was saved


def test_a_private_address_is_still_refused_at_creation_and_says_how_to_allow_it(client_alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = client_alice.post(
        "/api/v1/triggers/",
        {"name": "lan", "trigger_type": "api", "cron": "0 9 * * *", "api_endpoint": "http://192.168.1.10/hook"},
        format="json",
    )

    assert response.status_code == 400
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows them" in response.data["api_endpoint"][0]
    assert not Trigger.objects.exists()
