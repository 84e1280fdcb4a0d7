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


def test_a_missing_object_answers_with_a_code(client_alice):
    response = client_alice.get("/api/v1/triggers/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Trigger matches the given query.", "code": "not_found"}


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
