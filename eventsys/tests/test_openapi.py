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
