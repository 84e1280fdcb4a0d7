"""The lists' django-filter FilterSets: a form in the browsable API, parameters in the schema, a 400
naming an unknown parameter or a bad value, and no filtering of the object a detail route looks up."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from alerts.services.price_alerts import price_alert_create
from alerts.services.transactions import transaction_record
from events import ingestion
from events.services import event_create
from eventsys.api.bounds import INSTANT_RANGE_MESSAGE
from eventsys.api.filters import QUERY_ID_SCHEMA, TIME_MESSAGE
from eventsys.tests.owned_objects import owned_objects
from triggers.services import trigger_create, trigger_fire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# Each list and the filter parameters it documents and reads (besides pagination, search, ordering, tz).
LISTS = {
    "/api/v1/triggers/": {"status", "trigger_type"},
    "/api/v1/triggers/{id}/logs/": {"state", "source", "status", "since", "until"},
    "/api/v1/event-logs/": {"trigger", "state", "source", "status", "since", "until"},
    "/api/v1/events/": {"when"},
    "/api/v1/events/{event_pk}/attendees/": {"status"},
    "/api/v1/ingested-events/": {"event_type", "since", "until"},
    "/api/v1/price-alerts/": {"status", "coin"},
    "/api/v1/prices/": {"coin"},
    "/api/v1/transactions/": {"user_id", "type"},
    "/api/v1/transaction-alerts/": {"code", "user_id", "since", "until"},
}
TIME_RANGE_LISTS = [path for path, names in LISTS.items() if "since" in names]


@pytest.fixture
def owned(alice):
    """One object of each kind of alice's: {path template: the path with her ids}."""
    made = owned_objects(alice, now=NOW)
    trigger, event = made.trigger, made.event
    price_alert_create(owner=alice, coin="bitcoin", target_price=Decimal("70000"), direction="above")
    return {path: path.replace("{id}", str(trigger.pk)).replace("{event_pk}", str(event.pk)) for path in LISTS} | {
        "trigger": trigger,
        "event": event,
    }


def _schema(api_client) -> dict:
    return api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


# --- The browsable API ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields", "not_fields"),
    [
        ("/api/v1/triggers/", ["status", "trigger_type"], ["state"]),
        ("/api/v1/triggers/{id}/logs/", ["state", "source", "status", "since", "until"], ["trigger_type", "trigger"]),
        ("/api/v1/event-logs/", ["trigger", "state", "since"], ["trigger_type"]),
        ("/api/v1/events/", ["when"], []),
        ("/api/v1/transaction-alerts/", ["code", "user_id", "since", "until"], []),
    ],
)
def test_the_browsable_api_renders_the_filterset_as_a_form(client_alice, owned, path, fields, not_fields):
    response = client_alice.get(owned[path], HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-target="#filtersModal"' in html  # the "Filters" button
    for name in fields:
        assert f'name="{name}"' in html, name
    for name in not_fields:
        assert f'name="{name}"' not in html, name


def test_the_filter_form_offers_the_choices_and_keeps_the_values_asked_for(client_alice, owned):
    html = client_alice.get("/api/v1/triggers/?status=paused", HTTP_ACCEPT="text/html").content.decode()
    for value in ("active", "paused", "completed", "disabled"):
        assert f'<option value="{value}"' in html, value
    assert '<option value="paused" selected>' in html


def test_a_list_without_a_filterset_has_no_filter_form(client_alice):
    html = client_alice.get("/api/v1/alert-rules/", HTTP_ACCEPT="text/html").content.decode()
    assert 'data-target="#filtersModal"' not in html


# --- The schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(LISTS))
def test_the_schema_documents_each_filterset_parameter(api_client, path):
    parameters = {p["name"]: p for p in _schema(api_client)["paths"][path]["get"]["parameters"] if p["in"] == "query"}
    assert LISTS[path] <= set(parameters), path
    for name in LISTS[path]:
        # An empty value (what a form sends for a field left blank) does not filter.
        assert parameters[name]["allowEmptyValue"] is True, name
    for name in {"since", "until"} & LISTS[path]:
        assert parameters[name]["schema"] == {"type": "string", "format": "date-time"}
    for name in {"trigger", "code", "user_id"} & LISTS[path]:
        assert parameters[name]["schema"] == QUERY_ID_SCHEMA
    assert parameters["page_size"]["schema"]["minimum"] == 1
    assert parameters.get("page", parameters.get("cursor")) is not None


def test_the_schema_gives_choices_as_enums(api_client):
    paths = _schema(api_client)["paths"]
    triggers = {p["name"]: p["schema"] for p in paths["/api/v1/triggers/"]["get"]["parameters"]}
    assert sorted(triggers["status"]["enum"]) == ["active", "completed", "disabled", "paused"]
    assert sorted(triggers["trigger_type"]["enum"]) == ["api", "scheduled"]
    events = {p["name"]: p for p in paths["/api/v1/events/"]["get"]["parameters"]}
    assert sorted(events["when"]["schema"]["enum"]) == ["all", "past", "upcoming"]
    assert "Default: upcoming" in events["when"]["description"]


def test_detail_routes_document_no_filter_parameters(api_client):
    paths = _schema(api_client)["paths"]
    for path in ("/api/v1/triggers/{id}/", "/api/v1/event-logs/{id}/", "/api/v1/price-alerts/{id}/"):
        assert [p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "query"] == [], path


# --- Unknown parameters and bad values ------------------------------------------------------------


@pytest.mark.parametrize("path", list(LISTS))
def test_an_unknown_parameter_is_a_400_naming_it(client_alice, owned, path):
    response = client_alice.get(f"{owned[path]}?stauts=active")
    assert response.status_code == 400
    assert response.json() == {"stauts": ["Unknown query parameter."]}


@pytest.mark.parametrize(
    ("path", "query", "errors"),
    [
        ("/api/v1/triggers/", "status=sleeping", {"status": ["Must be one of active, paused, completed, disabled."]}),
        ("/api/v1/triggers/", "trigger_type=webhook", {"trigger_type": ["Must be one of scheduled, api."]}),
        ("/api/v1/triggers/{id}/logs/", "source=cron", {"source": ["Must be one of schedule, manual, test."]}),
        ("/api/v1/event-logs/", "trigger=abc", {"trigger": ["Must be a trigger id."]}),
        ("/api/v1/event-logs/", "trigger=0", {"trigger": ["Must be a trigger id."]}),
        ("/api/v1/event-logs/", "trigger=5.0", {"trigger": ["Must be a trigger id."]}),
        ("/api/v1/event-logs/", "state=asleep&since=yesterday", {"state": ["Must be one of active, archived."]}),
        ("/api/v1/events/", "when=tomorrow", {"when": ["Must be one of upcoming, past, all."]}),
        (
            "/api/v1/events/{event_pk}/attendees/",
            "status=maybe",
            {"status": ["Must be one of registered, waitlisted, cancelled."]},
        ),
        ("/api/v1/price-alerts/", "status=sleeping", {"status": ["Must be one of created, triggered, deleted."]}),
        ("/api/v1/transactions/", "type=refund", {"type": ["Must be deposit or withdraw."]}),
        ("/api/v1/transactions/", "user_id=-1", {"user_id": ["Must be a customer id."]}),
        ("/api/v1/transaction-alerts/", "code=x&user_id=1", {"code": ["Must be a rule code."]}),
    ],
)
def test_a_bad_value_is_a_400_naming_the_parameter(client_alice, owned, path, query, errors):
    response = client_alice.get(f"{owned[path]}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert {name: body[name] for name in errors} == errors, body


@pytest.mark.parametrize("path", TIME_RANGE_LISTS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", TIME_MESSAGE),
        ("2026-11-23T10:00:00", TIME_MESSAGE),  # no offset
        ("2026-13-01T10:00:00Z", TIME_MESSAGE),  # no such month
        ("9999-12-31T23:59:59-14:00", INSTANT_RANGE_MESSAGE),  # past what Python holds in UTC
        ("0001-01-01T00:00:00Z", INSTANT_RANGE_MESSAGE),
        ("9999-01-01T00:00:00Z", INSTANT_RANGE_MESSAGE),
    ],
)
def test_a_time_outside_the_stored_bounds_or_malformed_is_a_400(client_alice, owned, path, value, message):
    for name in ("since", "until"):
        response = client_alice.get(owned[path], {name: value})
        assert response.status_code == 400, (name, value)
        assert response.json() == {name: [message]}


@pytest.mark.parametrize("path", TIME_RANGE_LISTS)
def test_times_at_the_bounds_are_read(client_alice, owned, path):
    response = client_alice.get(owned[path], {"since": "0002-01-01T00:00:00Z", "until": "9998-12-31T23:59:59Z"})
    assert response.status_code == 200


# --- What the filters do --------------------------------------------------------------------------


def test_an_empty_value_does_not_filter(client_alice, owned):
    # A form sends every field, the ones left blank empty: those do not filter.
    assert client_alice.get("/api/v1/triggers/?status=&trigger_type=").data["count"] == 1
    assert client_alice.get("/api/v1/event-logs/?trigger=&state=&since=&until=").data["count"] == 1
    assert client_alice.get("/api/v1/price-alerts/?status=&coin=").data["count"] == 1
    assert client_alice.get("/api/v1/events/?when=").data["count"] == 1  # the default, upcoming


def test_when_defaults_to_upcoming(client_alice, alice, owned):
    event_create(
        organiser=alice,
        name="Old Summit",
        location="Pune",
        start_time=NOW - timedelta(days=10),
        end_time=NOW - timedelta(days=9),
        timezone="UTC",
        max_capacity=5,
    )
    assert [e["name"] for e in client_alice.get("/api/v1/events/").data["results"]] == ["PyCon Pune"]
    assert [e["name"] for e in client_alice.get("/api/v1/events/?when=past").data["results"]] == ["Old Summit"]
    assert client_alice.get("/api/v1/events/?when=all").data["count"] == 2


def test_the_time_range_is_since_inclusive_until_exclusive(client_alice, alice):
    from triggers.models import ExecutionLog

    trigger = trigger_create(
        owner=alice,
        name="t",
        kind="scheduled",
        schedule_type="interval",
        interval=5,
        schedule_time=NOW + timedelta(minutes=1),
    )
    trigger_fire(trigger=trigger)
    assert ExecutionLog.objects.get().created_at == NOW
    at, after = "2026-11-23T12:00:00Z", "2026-11-23T13:00:00+01:00"  # the same instant, another zone
    assert client_alice.get("/api/v1/event-logs/", {"since": at}).data["count"] == 1
    assert client_alice.get("/api/v1/event-logs/", {"until": after}).data["count"] == 0
    assert client_alice.get("/api/v1/event-logs/", {"since": after, "until": "2026-11-23T12:00:01Z"}).data["count"] == 1


def test_coins_are_compared_trimmed_and_in_lower_case(client_alice, owned):
    assert client_alice.get("/api/v1/price-alerts/", {"coin": " BitCoin "}).data["count"] == 1
    assert client_alice.get("/api/v1/price-alerts/", {"coin": "ethereum"}).data["count"] == 0
    assert client_alice.get("/api/v1/price-alerts/?status=CREATED").data["count"] == 1


def test_ingested_events_filter_by_type_and_received_time(client_alice, alice):
    from accounts.services import api_token_create

    token, _ = api_token_create(user=alice, name="sensor")
    ingestion.ingest(
        token=token, body=[{"event_type": "door", "event_payload": 1}, {"event_type": "bell", "event_payload": 2}]
    )
    assert client_alice.get("/api/v1/ingested-events/?event_type=door").data["results"][0]["event_payload"] == 1
    assert client_alice.get("/api/v1/ingested-events/", {"until": "2026-11-23T12:00:00Z"}).data["results"] == []


def test_transactions_and_their_alerts_filter_by_customer(client_alice, alice):
    transaction_record(owner=alice, user_id=1, type="withdraw", amount=Decimal("200"), time=1)
    transaction_record(owner=alice, user_id=2, type="deposit", amount=Decimal("5"), time=1)
    assert client_alice.get("/api/v1/transactions/?user_id=1").data["count"] == 1
    assert client_alice.get("/api/v1/transactions/?type=deposit").data["results"][0]["user_id"] == 2
    assert client_alice.get("/api/v1/transactions/?user_id=3").data["count"] == 0
    alerts = client_alice.get("/api/v1/transaction-alerts/?user_id=1").data
    assert alerts["count"] >= 1
    code = alerts["results"][0]["code"]
    assert client_alice.get(f"/api/v1/transaction-alerts/?code={code}&user_id=2").data["count"] == 0


def test_a_list_parameter_never_hides_the_object_a_detail_route_looks_up(client_alice, alice, owned):
    log = owned["trigger"].logs.get()
    # Allowed (they are the list's parameters), and ignored: the log is active, the event upcoming.
    assert client_alice.get(f"/api/v1/event-logs/{log.pk}/?state=archived").status_code == 200
    assert client_alice.get(f"/api/v1/triggers/{owned['trigger'].pk}/?status=paused").status_code == 200
    past = event_create(
        organiser=alice,
        name="Old Summit",
        location="Pune",
        start_time=NOW - timedelta(days=10),
        end_time=NOW - timedelta(days=9),
        timezone="UTC",
        max_capacity=5,
    )
    assert client_alice.get(f"/api/v1/events/{past.pk}/").status_code == 200  # not "upcoming"
    # The trigger whose logs are listed is not filtered by the logs' parameters.
    logs = client_alice.get(f"/api/v1/triggers/{owned['trigger'].pk}/logs/?status=delivered&state=active")
    assert logs.status_code == 200 and logs.data["count"] == 0
    assert client_alice.get(f"/api/v1/triggers/{owned['trigger'].pk}/logs/?trigger_type=api").status_code == 400


def test_the_logs_of_another_users_trigger_are_a_404(api_client, bob, owned):
    api_client.force_authenticate(bob)
    assert api_client.get(owned["/api/v1/triggers/{id}/logs/"]).status_code == 404
