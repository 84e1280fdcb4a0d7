import json

import pytest

pytestmark = pytest.mark.django_db


def test_body_over_the_limit_is_413_before_it_is_read(api_client, settings):
    settings.REQUEST_MAX_BYTES = 2048
    body = json.dumps({"username": "x" * 4000, "password": "y"})
    response = api_client.post("/api/v1/auth/register/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_body_under_the_limit_passes(api_client, settings):
    settings.REQUEST_MAX_BYTES = 2048
    response = api_client.post("/api/v1/auth/register/", {"username": "ok"}, format="json")
    assert response.status_code == 400  # reached the view: the password is missing
    assert "password" in response.json()


def test_malformed_content_length_is_400(client):
    response = client.generic("POST", "/api/v1/auth/register/", b"{}", "application/json", CONTENT_LENGTH="abc")
    assert response.status_code == 400
