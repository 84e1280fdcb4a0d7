"""The site's root and front doors: `/` (a landing page, or Kryptolert's greeting to an API client),
`/api/v1/` (every endpoint by name), Kryptolert's `POST /tokentest`, and a JSON 404 for a URL no
route matches."""

import pytest
from django.urls import reverse

from eventsys.api.root import ENDPOINTS

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_at_the_root_gets_a_landing_page_that_leads_everywhere(client):
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for name in ("docs", "api-root", "admin:index", "health", "ready", "schema"):
        assert f'href="{reverse(name)}"' in page, name
    for job in ("Triggers", "Price alerts", "Event ingestion", "Events and attendees", "Transaction monitoring"):
        assert job in page


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_api_client_at_the_root_gets_kryptolerts_greeting(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/", headers=headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Adithya Narayan Krypto Task"}


def test_every_link_of_the_landing_page_answers(client, admin_user):
    page = client.get("/", headers={"Accept": BROWSER_ACCEPT}).content.decode()
    client.force_login(admin_user)
    for name in ("docs", "api-root", "admin:index", "health", "schema"):
        assert client.get(reverse(name), headers={"Accept": BROWSER_ACCEPT}).status_code == 200, name
    assert 'href="/api/ready/"' in page  # ready may be 503 here (no beat, no worker): it answers either way


def test_the_api_root_lists_every_collection_and_each_link_resolves(api_client):
    response = api_client.get("/api/v1/", format="json")

    assert response.status_code == 200
    assert list(response.json()) == list(ENDPOINTS)
    assert response.json()["triggers"] == "http://testserver/api/v1/triggers/"
    for name, url in response.json().items():
        path = url.removeprefix("http://testserver")
        assert api_client.get(path).status_code in (200, 401, 405, 503), name  # a real route (ready: 503 here)


def test_the_api_root_is_browsable(client):
    response = client.get("/api/v1/", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 200
    assert "Api Root" in response.content.decode()
    assert "/api/v1/price-alerts/" in response.content.decode()


def test_tokentest_names_the_tokens_owner_in_the_originals_words(api_client, make_user, access_token):
    kryptolert_user = make_user("ada@example.com", email="ada@example.com")

    for headers in (
        {"x-access-token": access_token(kryptolert_user)},
        {"Authorization": f"Bearer {access_token(kryptolert_user)}"},
    ):
        response = api_client.post("/tokentest", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"message": "Token Found, Successfull Login of ada@example.com"}


@pytest.mark.parametrize("headers", [{}, {"x-access-token": "not-a-token"}])
def test_tokentest_without_a_good_token_is_a_401_in_kryptolerts_shape(api_client, headers):
    response = api_client.post("/tokentest", headers=headers)

    assert response.status_code == 401
    assert set(response.json()) == {"message"}


@pytest.mark.parametrize("path", ["/api/v1/events/0.5/", "/api/v1/nothing-here/", "/no-such-page"])
def test_a_url_no_route_matches_is_a_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_browser_gets_an_html_404(client):
    response = client.get("/no-such-page", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_options_in_html_is_the_landing_page_not_a_500(client):
    response = client.options("/?format=html")

    assert response.status_code == 200
    assert "<h1>eventsys</h1>" in response.content.decode()
