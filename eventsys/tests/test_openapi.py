import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings():
    # --fail-on-warn turns any drf-spectacular warning (an untyped field, a view it cannot read) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_documents_the_api(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path in ("/api/v1/auth/register/", "/api/v1/auth/token/", "/api/v1/api-tokens/", "/api/ready/"):
        assert path in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_are_served_without_any_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(not source.startswith(("http://", "https://", "//")) for source in sources), sources
    for asset in sources:
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset


def test_admin_login_page_renders(client):
    assert client.get("/admin/login/").status_code == 200


def _schema(api_client) -> dict:
    return api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_every_operation_documents_the_errors_it_answers(api_client):
    paths = _schema(api_client)["paths"]
    detail = paths["/api/v1/triggers/{id}/"]["get"]["responses"]
    assert {"200", "400", "401", "404", "429"} <= set(detail)
    assert detail["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "Retry-After" in detail["429"]["headers"]
    create = paths["/api/v1/triggers/"]["post"]["responses"]
    assert {"201", "400", "401", "413", "415", "429"} <= set(create)
    # a view's own answers are kept: pausing a completed trigger is a conflict
    assert "409" in paths["/api/v1/triggers/{id}/pause/"]["post"]["responses"]
    assert "401" in paths["/api/v1/auth/token/"]["post"]["responses"]


def test_legacy_errors_are_documented_in_the_originals_shapes(api_client):
    paths = _schema(api_client)["paths"]
    trigger = paths["/trigger/delete-trigger/{trigger_id}"]["delete"]["responses"]
    assert trigger["429"]["content"]["application/json"]["schema"]["required"] == ["error"]
    attendees = paths["/events/{event_id}/attendee"]["get"]["responses"]
    assert attendees["429"]["content"]["application/json"]["schema"]["required"] == ["message", "status"]
    # the middleware answers a control character in the API's shape, whatever the route
    shapes = paths["/api/events"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/FieldErrors"} in shapes
    assert {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]} in shapes


def test_page_parameters_say_what_the_paginator_enforces(client_alice, api_client):
    parameters = {p["name"]: p for p in _schema(api_client)["paths"]["/api/v1/triggers/"]["get"]["parameters"]}
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"]["minimum"] == 1
    for query in ("page_size=0", "page_size=-1", "page_size=ten", "page=ten", "page=%D9%A1"):
        response = client_alice.get(f"/api/v1/triggers/?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.json()
    assert client_alice.get("/api/v1/triggers/?page=2").status_code == 404
    assert client_alice.get("/api/v1/triggers/?page=1&page_size=1000").status_code == 200
    assert client_alice.get("/api/v1/ingested-events/?page_size=0").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/triggers/999999/"),
        ("delete", "/api/v1/api-tokens/999999/"),
        ("get", "/api/v1/events/999999/"),
        ("get", "/api/v1/price-alerts/999999/"),
    ],
)
def test_a_missing_object_answers_with_a_code_and_names_no_model(client_alice, method, path):
    response = getattr(client_alice, method)(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_times_before_standard_time_render_as_rfc_3339(client_alice):
    # Asia/Kolkata kept local mean time, +05:53:28, before 1854: RFC 3339 offsets have no seconds.
    body = {
        "name": "Durbar",
        "location": "Delhi",
        "start_time": "1850-06-23T18:04:07Z",
        "end_time": "1850-06-24T18:04:07Z",
        "timezone": "Asia/Kolkata",
        "max_capacity": 5,
    }
    created = client_alice.post("/api/v1/events/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["start_time"] == "1850-06-23T23:57:07+05:53"
    listed = client_alice.get("/api/v1/events/?when=all&tz=Europe/Amsterdam").json()["results"][0]
    assert listed["start_time"] == "1850-06-23T18:24:07+00:20"  # Amsterdam mean time, +00:19:32


def test_every_operation_has_one_job_tag_and_a_summary_of_its_own(api_client):
    from eventsys.api.schema_tags import SCHEMA_TAGS

    schema = _schema(api_client)
    assert [tag["name"] for tag in schema["tags"]] == [name for name, _ in SCHEMA_TAGS]
    assert schema["tags"][-1]["name"] == "legacy"
    used = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            assert len(operation["tags"]) == 1 and operation["tags"][0] in dict(SCHEMA_TAGS), label
            used.add(operation["tags"][0])
            summary = operation.get("summary", "")
            assert summary and summary != label and len(summary) <= 120, (label, summary)
            assert not re.search(r"\ba [aeiou]", summary), (label, summary)
    assert used == set(dict(SCHEMA_TAGS))


@pytest.mark.parametrize(
    ("method", "path", "tag", "summary"),
    [
        ("post", "/api/v1/triggers/", "triggers", "Create a trigger"),
        ("get", "/api/v1/ingested-events/", "ingestion", "List ingested events"),
        ("post", "/api/v1/alert-rules/", "transactions", "Create an alert rule"),
        ("get", "/api/v1/prices/", "price alerts", "List price ticks"),
        ("get", "/api/ready/", "operations", "Readiness"),
        ("post", "/trigger/create-trigger", "legacy", None),
    ],
)
def test_operations_are_tagged_by_their_job(api_client, method, path, tag, summary):
    operation = _schema(api_client)["paths"][path][method]
    assert operation["tags"] == [tag]
    if summary:
        assert operation["summary"] == summary


def test_the_main_request_bodies_have_examples_the_service_accepts(client_alice, settings):
    """Each documented example, sent as it is, does what it says (a create answers 2xx)."""
    from django.utils import timezone

    from alerts.models import Coin

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", market_cap_rank=1, refreshed_at=timezone.now())
    schema = _schema(client_alice)
    documented = {}
    for path, method in [
        ("/api/v1/triggers/", "post"),
        ("/api/v1/events/", "post"),
        ("/api/v1/price-alerts/", "post"),
        ("/api/v1/transactions/", "post"),
    ]:
        examples = schema["paths"][path][method]["requestBody"]["content"]["application/json"].get("examples", {})
        assert examples, f"{method.upper()} {path} has no example"
        documented[path] = [example["value"] for example in examples.values()]
    event = client_alice.post("/api/v1/events/", documented["/api/v1/events/"][0], format="json")
    attendee_examples = schema["paths"]["/api/v1/events/{event_pk}/attendees/"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    documented[f"/api/v1/events/{event.json()['id']}/attendees/"] = [e["value"] for e in attendee_examples.values()]
    for path, bodies in documented.items():
        for body in bodies:
            response = client_alice.post(path, body, format="json")
            assert response.status_code in (200, 201), (path, body, response.content)
