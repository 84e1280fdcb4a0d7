"""The event-trigger service's documented `/trigger/…` endpoints (seed 000), over triggers.services."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from triggers.models import ExecutionLog, Trigger
from triggers.services import dispatch_due, trigger_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

# The documentation's own moment: its listed trigger was created at "2024-12-15 09:45:38".
NOW = datetime(2024, 12, 15, 9, 45, 38, tzinfo=UTC)

# The documented request bodies, verbatim.
CREATE_BODY = {
    "trigger_type": "scheduled",
    "schedule_time": "2024-12-15T11:10:00",
    "interval": 30,
    "is_recurring": True,
}
UPDATE_BODY = {"schedule_time": "2024-12-15T11:00:00", "interval": 15, "is_recurring": False}
PUBLIC_HOOK = "http://93.184.216.34/hook"  # a public address: accepted without a DNS look-up


def call(client, method, path, body=None, **headers):
    """A request as the original's clients sent it: a JSON body, the token in the headers given."""
    kwargs = {"headers": headers}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


@pytest.fixture
def token_of(access_token):
    """`Authorization` header of a user, bare as the original's clients sent it."""
    return lambda user: {"Authorization": access_token(user)}


def create(client, headers, **body):
    return call(client, "post", "/trigger/create-trigger", {**CREATE_BODY, **body}, **headers)


def listed(client, headers) -> list[dict]:
    response = call(client, "get", "/trigger/list-triggers", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def make_trigger(owner, **fields):
    defaults = {
        "name": "every 30",
        "kind": "scheduled",
        "schedule_type": "interval",
        "schedule_time": NOW + timedelta(minutes=10),
        "interval": 30,
    }
    return trigger_create(owner=owner, **{**defaults, **fields})


# --- The documented examples, replayed ---------------------------------------------------------


def test_documented_examples_replayed(api_client, settings):
    settings.AUTH_PASSWORD_VALIDATORS = []  # the example's password "sai" fails the default policy
    credentials = {"username": "dakshayani", "password": "sai"}
    assert call(api_client, "post", "/auth/register", credentials).status_code == 201
    login = call(api_client, "post", "/auth/login", credentials).json()
    token, user_id = login["token"], login["user_id"]

    created = call(api_client, "post", "/trigger/create-trigger", CREATE_BODY, Authorization=token)
    assert created.status_code == 201
    assert created.json() == {"message": "Trigger created successfully"}

    trigger_id = Trigger.objects.get().pk
    documented_item = {
        "api_endpoint": None,
        "api_payload": None,
        "created_at": "2024-12-15 09:45:38",
        "interval": 30,
        "is_recurring": 1,
        "schedule_time": "2024-12-15T11:10:00",
        "status": "active",
        "trigger_id": trigger_id,
        "trigger_type": "scheduled",
        "user_id": user_id,
    }
    for path in ("/trigger/list-tiggers", "/trigger/list-triggers"):
        response = call(api_client, "get", path, Authorization=token)
        assert response.status_code == 200
        assert response.json() == [documented_item]
        # 1, not true; 30, not 30.0: equal in Python, not to the original's clients.
        assert {type(response.json()[0][key]) for key in ("is_recurring", "interval")} == {int}

    fired = call(api_client, "post", f"/trigger/trigger_event/{trigger_id}", Authorization=token)
    assert fired.status_code == 200
    assert fired.json() == {"message": "Event triggered successfully!"}

    tested = call(api_client, "post", f"/trigger/test_trigger/{trigger_id}", Authorization=token)
    assert tested.status_code == 200
    assert tested.json() == {"message": "Test event triggered successfully!"}
    assert sorted(ExecutionLog.objects.values_list("source", flat=True)) == ["manual", "test"]

    updated = call(api_client, "put", f"/trigger/update-trigger/{trigger_id}", UPDATE_BODY, Authorization=token)
    assert updated.status_code == 200
    assert updated.json() == {"message": "Trigger updated successfully!"}
    after_update = {**documented_item, "interval": 15, "is_recurring": 0, "schedule_time": "2024-12-15T11:00:00"}
    assert call(api_client, "get", "/trigger/list-tiggers", Authorization=token).json() == [after_update]

    deleted = call(api_client, "delete", f"/trigger/delete-trigger/{trigger_id}", Authorization=token)
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Trigger deleted successfully!"}
    assert call(api_client, "get", "/trigger/list-tiggers", Authorization=token).json() == []


def test_underscore_spellings_of_update_and_delete(api_client, alice, token_of):
    trigger = make_trigger(alice)
    response = call(api_client, "put", f"/trigger/update_trigger/{trigger.pk}", UPDATE_BODY, **token_of(alice))
    assert response.status_code == 200 and response.json() == {"message": "Trigger updated successfully!"}
    trigger.refresh_from_db()
    assert trigger.schedule_type == "one_off" and trigger.schedule_time == datetime(2024, 12, 15, 11, 0, tzinfo=UTC)
    response = call(api_client, "delete", f"/trigger/delete_trigger/{trigger.pk}", **token_of(alice))
    assert response.status_code == 200 and response.json() == {"message": "Trigger deleted successfully!"}
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        lambda token: {"Authorization": token},
        lambda token: {"Authorization": f"Bearer {token}"},
        lambda token: {"x-access-token": token},
    ],
    ids=["bare", "bearer", "x-access-token"],
)
def test_the_token_is_accepted_the_ways_old_clients_send_it(api_client, alice, access_token, headers):
    response = create(api_client, headers(access_token(alice)))
    assert response.status_code == 201
    assert Trigger.objects.get().owner == alice


# --- The trigger that never fired now fires ----------------------------------------------------


def test_the_documented_recurring_trigger_is_dispatched_every_interval(api_client, alice, token_of, frozen):
    assert create(api_client, token_of(alice)).status_code == 201
    trigger = Trigger.objects.get()
    assert trigger.status == "active" and trigger.schedule_type == "interval"
    assert trigger.interval_delta == timedelta(minutes=30)
    first = datetime(2024, 12, 15, 11, 10, tzinfo=UTC)
    assert trigger.next_run_at == first
    assert dispatch_due(now=first - timedelta(seconds=1)).fired == 0

    for slot in (first, first + timedelta(minutes=30)):
        frozen.move_to(slot)
        assert dispatch_due(now=slot).fired == 1
    trigger.refresh_from_db()
    assert trigger.run_count == 2 and trigger.next_run_at == first + timedelta(minutes=60)
    assert list(trigger.logs.order_by("scheduled_for").values_list("source", "scheduled_for")) == [
        ("schedule", first),
        ("schedule", first + timedelta(minutes=30)),
    ]


# --- Create -----------------------------------------------------------------------------------


def test_create_makes_an_untitled_interval_trigger_in_minutes(api_client, alice, token_of):
    assert create(api_client, token_of(alice)).status_code == 201
    trigger = Trigger.objects.get()
    assert trigger.name == "Untitled trigger"
    assert (trigger.kind, trigger.interval, trigger.interval_unit) == ("scheduled", 30, "minutes")
    assert trigger.timezone == "UTC"


def test_create_takes_an_optional_name(api_client, alice, token_of):
    assert create(api_client, token_of(alice), name="nightly export").status_code == 201
    assert Trigger.objects.get().name == "nightly export"


@pytest.mark.parametrize(
    ("schedule_time", "extra", "stored", "rendered"),
    [
        ("2024-12-15T11:10:00", {}, datetime(2024, 12, 15, 11, 10, tzinfo=UTC), "2024-12-15T11:10:00"),
        ("2024-12-15T12:10:00+01:00", {}, datetime(2024, 12, 15, 11, 10, tzinfo=UTC), "2024-12-15T11:10:00"),
        (
            "2024-12-15T11:10:00",
            {"timezone": "Asia/Kolkata"},
            datetime(2024, 12, 15, 5, 40, tzinfo=UTC),
            "2024-12-15T11:10:00",
        ),
    ],
    ids=["naive-is-utc", "offset-honoured", "naive-in-named-zone"],
)
def test_schedule_time_zone(api_client, alice, token_of, schedule_time, extra, stored, rendered):
    headers = token_of(alice)
    assert create(api_client, headers, schedule_time=schedule_time, **extra).status_code == 201
    assert Trigger.objects.get().schedule_time == stored
    assert listed(api_client, headers)[0]["schedule_time"] == rendered


@pytest.mark.parametrize(
    "payload",
    ['{"order": 7, "items": ["a", "b"]}', {"order": 7, "items": ["a", "b"]}],
    ids=["json-text", "object"],
)
def test_api_trigger_payload_as_json_text_or_object(api_client, alice, token_of, payload):
    headers = token_of(alice)
    response = create(
        api_client, headers, trigger_type="api", api_endpoint=PUBLIC_HOOK, api_payload=payload, is_recurring=0
    )
    assert response.status_code == 201, response.json()
    trigger = Trigger.objects.get()
    assert trigger.api_payload == {"order": 7, "items": ["a", "b"]}
    assert trigger.schedule_type == "one_off"
    [item] = listed(api_client, headers)
    assert item["api_payload"] == {"order": 7, "items": ["a", "b"]}
    assert item["api_endpoint"] == PUBLIC_HOOK and item["trigger_type"] == "api" and item["is_recurring"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger_type": None}, "trigger_type"),
        ({"trigger_type": "webhook"}, "trigger_type"),
        ({"trigger_type": "api"}, "api_endpoint"),
        ({"trigger_type": "api", "api_endpoint": "http://169.254.169.254/latest/"}, "api_endpoint"),
        ({"trigger_type": "api", "api_endpoint": "ftp://example.com/"}, "api_endpoint"),
        ({"interval": None}, "interval"),
        ({"interval": 0}, "interval"),
        ({"interval": "often"}, "interval"),
        ({"schedule_time": None}, "schedule_time"),
        ({"schedule_time": "tomorrow"}, "schedule_time"),
        ({"is_recurring": False, "schedule_time": "2024-12-15T09:00:00"}, "schedule_time"),
        ({"is_recurring": "maybe"}, "is_recurring"),
        ({"api_payload": "{not json"}, "api_payload"),
        ({"api_payload": "NaN"}, "api_payload"),
        ({"api_payload": "[" * 100_000}, "api_payload"),
        ({"api_payload": {"blob": "x" * 70_000}}, "api_payload"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_create_is_a_400_naming_the_field_and_stores_nothing(api_client, alice, token_of, body, field):
    response = create(api_client, token_of(alice), **body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert set(answer) == {"error", "errors"} and field in answer["errors"], answer
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("{bad json", "application/json"), ('["a list"]', "application/json"), ("", "text/plain")],
)
def test_a_body_that_is_not_a_json_object_is_a_400(api_client, alice, token_of, data, content_type):
    response = api_client.post("/trigger/create-trigger", data, content_type=content_type, headers=token_of(alice))
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert not Trigger.objects.exists()


# --- List -------------------------------------------------------------------------------------


def test_list_shows_only_the_callers_triggers_oldest_first(api_client, alice, bob, token_of, frozen):
    first = make_trigger(alice)
    frozen.shift(timedelta(seconds=5))
    make_trigger(bob)
    second, third = make_trigger(alice), make_trigger(alice)  # created in the same instant: id decides
    assert [item["trigger_id"] for item in listed(api_client, token_of(alice))] == [first.pk, second.pk, third.pk]
    assert [item["created_at"] for item in listed(api_client, token_of(alice))] == [
        "2024-12-15 09:45:38",
        "2024-12-15 09:45:43",
        "2024-12-15 09:45:43",
    ]


def test_list_query_count_is_constant(api_client, alice, token_of, django_assert_max_num_queries):
    headers = token_of(alice)
    make_trigger(alice)
    with django_assert_max_num_queries(2):  # the token's user, the triggers
        assert len(listed(api_client, headers)) == 1
    for _ in range(30):
        make_trigger(alice)
    with django_assert_max_num_queries(2):
        assert len(listed(api_client, headers)) == 31


# --- Fire and test ----------------------------------------------------------------------------


def test_fire_goes_through_the_same_service_as_v1(api_client, alice, token_of, django_capture_on_commit_callbacks):
    trigger = make_trigger(alice, kind="api", api_endpoint=PUBLIC_HOOK, api_payload={"a": 1})
    with (
        mock.patch("triggers.services.enqueue.enqueue_deliveries") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = call(api_client, "post", f"/trigger/trigger_event/{trigger.pk}", **token_of(alice))
    assert response.status_code == 200 and response.json() == {"message": "Event triggered successfully!"}
    log = ExecutionLog.objects.get()
    assert (log.source, log.status, log.payload, log.owner) == ("manual", "pending", {"a": 1}, alice)
    assert enqueue.call_args.args[0] == [log.delivery_id]
    trigger.refresh_from_db()
    assert trigger.run_count == 0 and trigger.next_run_at == NOW + timedelta(minutes=10)  # schedule unchanged


def test_test_sends_the_payload_once_and_is_not_a_run(api_client, alice, token_of, receiver):
    headers = token_of(alice)
    response = create(api_client, headers, trigger_type="api", api_endpoint=receiver.url, api_payload='{"ping": true}')
    assert response.status_code == 201
    trigger = Trigger.objects.get()
    response = call(api_client, "post", f"/trigger/test_trigger/{trigger.pk}", **headers)
    assert response.status_code == 200 and response.json() == {"message": "Test event triggered successfully!"}
    [request] = receiver.requests
    assert json.loads(request["body"]) == {"ping": True}
    log = ExecutionLog.objects.get()
    assert (log.source, log.status) == ("test", "delivered")
    trigger.refresh_from_db()
    assert trigger.run_count == 0


@pytest.mark.parametrize(
    ("path", "source"), [("/trigger/trigger_event/{}", "manual"), ("/trigger/test_trigger/{}", "test")]
)
def test_fire_and_test_without_a_token_act_as_the_default_owner(api_client, alice, settings, path, source):
    trigger = make_trigger(alice)
    settings.LEGACY_DEFAULT_OWNER = "alice"
    response = call(api_client, "post", path.format(trigger.pk))  # verbatim: the original sent no token
    assert response.status_code == 200
    log = ExecutionLog.objects.get()
    assert (log.source, log.owner, log.trigger) == (source, alice, trigger)


@pytest.mark.parametrize("path", ["/trigger/trigger_event/{}", "/trigger/test_trigger/{}"])
def test_the_default_owner_cannot_reach_someone_elses_trigger(api_client, alice, bob, settings, path):
    make_user_trigger = make_trigger(bob)
    settings.LEGACY_DEFAULT_OWNER = "alice"
    response = call(api_client, "post", path.format(make_user_trigger.pk))
    assert response.status_code == 404 and response.json() == {"error": "Trigger not found!"}
    assert not ExecutionLog.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/trigger/create-trigger"),
        ("put", "/trigger/update-trigger/{}"),
        ("delete", "/trigger/delete-trigger/{}"),
        ("get", "/trigger/list-tiggers"),
    ],
)
def test_the_default_owner_applies_only_where_the_original_needed_no_token(api_client, alice, settings, method, path):
    trigger = make_trigger(alice)
    settings.LEGACY_DEFAULT_OWNER = "alice"
    response = call(api_client, method, path.format(trigger.pk), CREATE_BODY if method != "get" else None)
    assert response.status_code == 401
    assert Trigger.objects.get().schedule_type == "interval"


# --- Update -----------------------------------------------------------------------------------


def test_update_changes_only_the_fields_sent(api_client, alice, token_of):
    trigger = make_trigger(alice, name="keep me")
    response = call(api_client, "put", f"/trigger/update-trigger/{trigger.pk}", {"interval": 45}, **token_of(alice))
    assert response.status_code == 200
    trigger.refresh_from_db()
    assert (trigger.name, trigger.schedule_type, trigger.interval, trigger.interval_unit) == (
        "keep me",
        "interval",
        45,
        "minutes",
    )
    assert trigger.schedule_time == NOW + timedelta(minutes=10)


def test_update_reads_interval_in_minutes_whatever_unit_v1_stored(api_client, alice, token_of):
    trigger = make_trigger(alice, interval=2, interval_unit="hours")
    response = call(api_client, "put", f"/trigger/update-trigger/{trigger.pk}", {"interval": 15}, **token_of(alice))
    assert response.status_code == 200
    trigger.refresh_from_db()
    assert trigger.interval_delta == timedelta(minutes=15)
    assert trigger.next_run_at == NOW + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval": 0}, "interval"),
        ({"is_recurring": False, "schedule_time": "2024-12-14T09:00:00"}, "schedule_time"),
        ({"trigger_type": "api"}, "api_endpoint"),
        ({"api_payload": "{nope"}, "api_payload"),
    ],
)
def test_bad_update_is_a_400_and_changes_nothing(api_client, alice, token_of, body, field):
    trigger = make_trigger(alice)
    response = call(api_client, "put", f"/trigger/update-trigger/{trigger.pk}", body, **token_of(alice))
    assert response.status_code == 400
    assert field in response.json()["errors"]
    trigger.refresh_from_db()
    assert (trigger.kind, trigger.schedule_type, trigger.interval) == ("scheduled", "interval", 30)


# --- Someone else's, unknown, unauthenticated ---------------------------------------------------

ID_ROUTES = [
    ("post", "/trigger/trigger_event/{}"),
    ("post", "/trigger/test_trigger/{}"),
    ("put", "/trigger/update-trigger/{}"),
    ("put", "/trigger/update_trigger/{}"),
    ("delete", "/trigger/delete-trigger/{}"),
    ("delete", "/trigger/delete_trigger/{}"),
]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_someone_elses_trigger_is_404_and_untouched(api_client, alice, bob, token_of, method, path):
    trigger = make_trigger(bob)
    body = UPDATE_BODY if method == "put" else None
    response = call(api_client, method, path.format(trigger.pk), body, **token_of(alice))
    assert response.status_code == 404
    assert response.json() == {"error": "Trigger not found!"}
    trigger.refresh_from_db()
    assert trigger.schedule_type == "interval" and not ExecutionLog.objects.exists()


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
@pytest.mark.parametrize("trigger_id", [0, 424242, 10**30])
def test_unknown_trigger_is_404(api_client, alice, token_of, method, path, trigger_id):
    body = UPDATE_BODY if method == "put" else None
    response = call(api_client, method, path.format(trigger_id), body, **token_of(alice))
    assert response.status_code == 404
    assert response.json() == {"error": "Trigger not found!"}


ALL_ROUTES = [
    ("post", "/trigger/create-trigger"),
    ("get", "/trigger/list-tiggers"),
    ("get", "/trigger/list-triggers"),
    *ID_ROUTES,
]


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_no_token_is_401_in_the_originals_words(api_client, alice, method, path):
    trigger = make_trigger(alice)
    response = call(api_client, method, path.format(trigger.pk), CREATE_BODY if method in ("post", "put") else None)
    assert response.status_code == 401
    assert response.json() == {"message": "Token is missing"}
    assert Trigger.objects.get().schedule_type == "interval" and not ExecutionLog.objects.exists()


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_an_invalid_token_is_401_even_with_a_default_owner(api_client, alice, settings, method, path):
    settings.LEGACY_DEFAULT_OWNER = "alice"
    trigger = make_trigger(alice)
    response = call(api_client, method, path.format(trigger.pk), Authorization="not-a-token")
    assert response.status_code == 401
    assert set(response.json()) == {"message"}
    assert not ExecutionLog.objects.exists()


def test_a_method_the_route_lacks_is_405_in_the_error_style(api_client, alice, token_of):
    response = call(api_client, "get", "/trigger/create-trigger", **token_of(alice))
    assert response.status_code == 405 and set(response.json()) == {"error"}


# --- One set of triggers, two APIs ----------------------------------------------------------------


def test_a_legacy_trigger_is_the_same_trigger_in_v1(api_client, alice, token_of, client_alice):
    headers = token_of(alice)
    assert create(api_client, headers).status_code == 201
    [item] = listed(api_client, headers)
    v1 = client_alice.get(f"/api/v1/triggers/{item['trigger_id']}/").json()
    assert v1["trigger_type"] == "scheduled" and v1["schedule_type"] == "interval" and v1["is_recurring"] is True
    assert (v1["interval"], v1["interval_unit"]) == (30, "minutes")
    assert v1["schedule_time"] == "2024-12-15T11:10:00Z" and v1["next_run_at"] == "2024-12-15T11:10:00Z"
    assert v1["name"] == "Untitled trigger"

    call(api_client, "put", f"/trigger/update-trigger/{item['trigger_id']}", UPDATE_BODY, **headers)
    v1 = client_alice.get(f"/api/v1/triggers/{item['trigger_id']}/").json()
    assert v1["schedule_type"] == "one_off" and v1["next_run_at"] == "2024-12-15T11:00:00Z"

    call(api_client, "post", f"/trigger/trigger_event/{item['trigger_id']}", **headers)
    [log] = client_alice.get(f"/api/v1/triggers/{item['trigger_id']}/logs/").json()["results"]
    assert log["source"] == "manual"

    call(api_client, "delete", f"/trigger/delete-trigger/{item['trigger_id']}", **headers)
    assert client_alice.get(f"/api/v1/triggers/{item['trigger_id']}/").status_code == 404


def test_a_v1_trigger_is_listed_by_the_legacy_route(api_client, alice, token_of, client_alice):
    created = client_alice.post(
        "/api/v1/triggers/",
        {
            "name": "morning",
            "trigger_type": "api",
            "api_endpoint": PUBLIC_HOOK,
            "api_payload": {"k": "v"},
            "schedule_time": "2024-12-16T09:00:00",
            "timezone": "America/New_York",
            "is_recurring": True,
            "interval": 90,
            "interval_unit": "seconds",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert listed(api_client, token_of(alice)) == [
        {
            "api_endpoint": PUBLIC_HOOK,
            "api_payload": {"k": "v"},
            "created_at": "2024-12-15 09:45:38",
            "interval": 1.5,
            "is_recurring": 1,
            "schedule_time": "2024-12-16T09:00:00",
            "status": "active",
            "trigger_id": created.json()["id"],
            "trigger_type": "api",
            "user_id": alice.pk,
        }
    ]
    response = call(
        api_client, "put", f"/trigger/update-trigger/{created.json()['id']}", {"interval": 2}, **token_of(alice)
    )
    assert response.status_code == 200
    v1 = client_alice.get(f"/api/v1/triggers/{created.json()['id']}/").json()
    assert (v1["interval"], v1["interval_unit"], v1["timezone"]) == (2, "minutes", "America/New_York")


# --- Schema -----------------------------------------------------------------------------------


def test_the_routes_are_in_the_schema_under_the_legacy_tag():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    ours = {path: operations for path, operations in paths.items() if path.startswith("/trigger/")}
    assert set(ours) == {
        "/trigger/create-trigger",
        "/trigger/list-tiggers",
        "/trigger/list-triggers",
        "/trigger/trigger_event/{trigger_id}",
        "/trigger/test_trigger/{trigger_id}",
        "/trigger/update-trigger/{trigger_id}",
        "/trigger/update_trigger/{trigger_id}",
        "/trigger/delete-trigger/{trigger_id}",
        "/trigger/delete_trigger/{trigger_id}",
    }
    for operations in ours.values():
        for operation in operations.values():
            assert operation["tags"] == ["legacy"] and operation["operationId"].startswith("legacy_trigger_")
