"""Lateness on the wire and in the admin; the notice settings of a trigger through the API."""

from datetime import UTC, datetime, timedelta

import pytest

from triggers.models import ExecutionLog, Trigger
from triggers.services import dispatch_due, trigger_create, trigger_update

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SLOT = NOW + timedelta(minutes=1)


def make_trigger(owner, **fields):
    defaults = {
        "name": "tick",
        "kind": "scheduled",
        "schedule_type": "interval",
        "schedule_time": SLOT,
        "interval": 1,
    }
    return trigger_create(owner=owner, **{**defaults, **fields})


def post(client, **body):
    base = {"name": "n", "trigger_type": "scheduled", "schedule_time": "2026-11-24T09:00:00Z"}
    return client.post("/api/v1/triggers/", {**base, **body}, format="json")


def test_a_log_shows_its_three_instants_and_its_lateness(client_alice, alice):
    trigger = make_trigger(alice, kind="api", api_endpoint="https://93.184.216.34/hook")
    dispatch_due(now=SLOT + timedelta(seconds=2, milliseconds=500))
    log = trigger.logs.get()
    ExecutionLog.objects.filter(pk=log.pk).update(status="delivered", completed_at=SLOT + timedelta(seconds=4))
    item = client_alice.get("/api/v1/event-logs/").json()["results"][0]
    assert item["scheduled_for"] == "2026-11-23T12:01:00Z"
    assert item["created_at"] == "2026-11-23T12:01:02.500000Z"
    assert item["delivered_at"] == item["completed_at"] == "2026-11-23T12:01:04Z"
    assert item["lateness_seconds"] == 2.5 and item["delivery_lateness_seconds"] == 4.0


def test_a_log_not_delivered_has_no_delivery_instant(client_alice, alice):
    trigger = make_trigger(alice, kind="api", api_endpoint="https://93.184.216.34/hook")
    dispatch_due(now=SLOT)
    log = trigger.logs.get()
    ExecutionLog.objects.filter(pk=log.pk).update(status="failed", completed_at=SLOT + timedelta(seconds=9))
    item = client_alice.get(f"/api/v1/event-logs/{log.pk}/").json()
    assert item["completed_at"] == "2026-11-23T12:01:09Z"
    assert item["delivered_at"] is None and item["delivery_lateness_seconds"] is None
    assert item["lateness_seconds"] == 0.0


def test_the_log_lists_stay_at_two_queries_with_the_lateness(client_alice, alice, django_assert_max_num_queries):
    trigger = make_trigger(alice)
    for minute in range(12):
        dispatch_due(now=SLOT + timedelta(minutes=minute, seconds=3))
    with django_assert_max_num_queries(2):
        assert len(client_alice.get("/api/v1/event-logs/").json()["results"]) == 12
    with django_assert_max_num_queries(3):  # the trigger, the count, the page
        results = client_alice.get(f"/api/v1/triggers/{trigger.pk}/logs/").json()["results"]
    assert {item["lateness_seconds"] for item in results} == {3.0}


def test_notice_settings_are_created_and_shown(client_alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = post(
        client_alice,
        notify_email="ops@example.com",
        notify_url="https://93.184.216.34/alerts",
        late_after_seconds=120,
        failing_after=3,
    )
    assert response.status_code == 201, response.json()
    body = client_alice.get(f"/api/v1/triggers/{response.json()['id']}/").json()
    assert body["notify_email"] == "ops@example.com" and body["notify_url"] == "https://93.184.216.34/alerts"
    assert body["late_after_seconds"] == 120 and body["failing_after"] == 3
    assert body["alert_state"] == "ok" and body["alert_changed_at"] is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/alerts", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/x"]
)
def test_a_notify_url_on_a_private_address_is_refused_at_write_time(client_alice, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = post(client_alice, notify_url=url, failing_after=2)
    assert response.status_code == 400
    assert set(response.json()) == {"notify_url"}
    assert not Trigger.objects.exists()


def test_a_notify_url_changed_to_a_private_address_is_refused(client_alice, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    trigger = make_trigger(alice, notify_email="ops@example.com", late_after_seconds=60)
    response = client_alice.patch(
        f"/api/v1/triggers/{trigger.pk}/", {"notify_url": "http://192.168.1.1/"}, format="json"
    )
    assert response.status_code == 400 and "notify_url" in response.json()
    trigger.refresh_from_db()
    assert trigger.notify_url == ""


def test_a_threshold_without_a_recipient_is_a_field_error(client_alice):
    response = post(client_alice, late_after_seconds=60, failing_after=2)
    assert response.status_code == 400
    assert response.json() == {
        "late_after_seconds": ["Set notify_email or notify_url to be told."],
        "failing_after": ["Set notify_email or notify_url to be told."],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("late_after_seconds", 0), ("late_after_seconds", 604_801), ("failing_after", 0), ("failing_after", 6)],
)
def test_thresholds_are_bounded(client_alice, field, value):
    response = post(client_alice, notify_email="ops@example.com", **{field: value})
    assert response.status_code == 400 and set(response.json()) == {field}


def test_a_bad_notify_email_is_a_field_error(client_alice):
    response = post(client_alice, notify_email="not an address", late_after_seconds=60)
    assert response.status_code == 400 and set(response.json()) == {"notify_email"}


def test_a_dry_run_with_notice_settings_stores_nothing(client_alice):
    response = client_alice.post(
        "/api/v1/triggers/?dry_run=true",
        {
            "name": "n",
            "trigger_type": "scheduled",
            "schedule_time": "2026-11-24T09:00:00Z",
            "notify_email": "ops@example.com",
            "late_after_seconds": 30,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["late_after_seconds"] == 30
    assert not Trigger.objects.exists()


def test_the_state_is_read_only_and_a_cleared_threshold_ends_its_state(client_alice, alice):
    trigger = make_trigger(alice, notify_email="ops@example.com", late_after_seconds=60)
    Trigger.objects.filter(pk=trigger.pk).update(alert_state="late")
    response = client_alice.patch(f"/api/v1/triggers/{trigger.pk}/", {"alert_state": "ok"}, format="json")
    assert response.status_code == 200 and response.json()["alert_state"] == "late"  # read-only: ignored
    response = client_alice.patch(f"/api/v1/triggers/{trigger.pk}/", {"late_after_seconds": None}, format="json")
    assert response.status_code == 200
    assert response.json()["alert_state"] == "ok" and response.json()["alert_changed_at"] == "2026-11-23T12:00:00Z"


def test_triggers_filter_by_alert_state(client_alice, alice):
    late = make_trigger(alice, name="late one", notify_email="ops@example.com", late_after_seconds=60)
    make_trigger(alice, name="fine one")
    Trigger.objects.filter(pk=late.pk).update(alert_state="late")
    results = client_alice.get("/api/v1/triggers/?alert_state=late").json()["results"]
    assert [item["name"] for item in results] == ["late one"]
    assert client_alice.get("/api/v1/triggers/?alert_state=sleepy").status_code == 400


def test_a_trigger_without_a_recipient_may_not_keep_a_threshold(alice):
    from django.core.exceptions import ValidationError

    trigger = make_trigger(alice, notify_email="ops@example.com", failing_after=2)
    with pytest.raises(ValidationError) as error:
        trigger_update(trigger=trigger, notify_email="")
    assert "failing_after" in error.value.message_dict


def test_the_schema_documents_the_notice_fields_and_the_lateness(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    trigger = components["Trigger"]["properties"]
    for name in ("notify_email", "notify_url", "late_after_seconds", "failing_after", "alert_state"):
        assert trigger[name].get("description"), name
    log = components["ExecutionLog"]["properties"]
    for name in ("delivered_at", "lateness_seconds", "delivery_lateness_seconds"):
        assert log[name].get("description") and log[name].get("readOnly"), name
    post_examples = schema["paths"]["/api/v1/triggers/"]["post"]["requestBody"]["content"]["application/json"]
    assert any("late_after_seconds" in example["value"] for example in post_examples["examples"].values())


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_log_list_and_page_show_the_logged_and_delivered_lateness(staff, alice):
    trigger = make_trigger(alice, kind="api", api_endpoint="https://93.184.216.34/hook")
    dispatch_due(now=SLOT + timedelta(seconds=2))
    log = trigger.logs.get()
    ExecutionLog.objects.filter(pk=log.pk).update(status="delivered", completed_at=SLOT + timedelta(seconds=5))
    page = staff.get("/admin/triggers/executionlog/").content.decode()
    assert "2.0 s" in page and "delivered 5.0 s" in page
    page = staff.get(f"/admin/triggers/executionlog/{log.pk}/change/").content.decode()
    assert "2.000 s after the slot was due" in page and "5.000 s after the slot was due" in page


def test_the_trigger_page_and_list_show_the_notice_settings_and_state(staff, alice):
    trigger = make_trigger(alice, notify_email="ops@example.com", late_after_seconds=90)
    Trigger.objects.filter(pk=trigger.pk).update(alert_state="late", alert_changed_at=NOW)
    page = staff.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()
    assert "ops@example.com" in page and "90" in page and "Late after seconds" in page
    listing = staff.get("/admin/triggers/trigger/?alert_state__exact=late").content.decode()
    assert "tick" in listing and "<small>late</small>" in listing
    assert "<small>late</small>" not in staff.get("/admin/triggers/trigger/?alert_state__exact=ok").content.decode()
