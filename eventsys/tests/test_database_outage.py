"""A database that drops the connection mid-request is a 503 with Retry-After, never a 500."""

import json

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.test import APIClient

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=alice, name='box')[1]}")
    return client


def _lose_the_database(monkeypatch, error):
    def ingest(**kwargs):
        raise error("terminating connection due to administrator command")

    monkeypatch.setattr("events.ingestion.ingest", ingest)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_lost_database_connection_is_a_503_to_retry(machine, monkeypatch, error):
    _lose_the_database(monkeypatch, error)
    body = json.dumps({"event_type": "t", "event_payload": 1})
    response = machine.post("/api/v1/ingest/", data=body, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"] == "1"


def test_legacy_routes_answer_it_in_their_originals_shape(machine, monkeypatch):
    _lose_the_database(monkeypatch, OperationalError)
    response = machine.post(
        "/api/event", data=json.dumps({"event_type": "t", "event_payload": 1}), content_type="application/json"
    )
    assert response.status_code == 503
    assert set(response.json()) == {"detail"}
