"""The shared plumbing of the legacy adapters: token transports, the default owner, errors, the schema tag."""

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from eventsys.api.legacy import LegacyView, field_messages


class WhoAmI(LegacyView):
    def get(self, request):
        return Response({"user": request.user.username})

    def post(self, request):
        return Response({"received": request.data})


class WhoAmIDefaultOwner(WhoAmI):
    acts_as_default_owner = True


class WhoAmIDefaultOwnerOnPost(WhoAmI):
    acts_as_default_owner = {"POST"}


class Missing(LegacyView):
    acts_as_default_owner = True
    invalid_status = 422

    def get(self, request):
        raise NotFound("Thing not found!")

    def legacy_error(self, *, status, message, fields):
        return {"error": message, "status": status}


urlpatterns = [
    path("whoami", WhoAmI.as_view()),
    path("whoami-default", WhoAmIDefaultOwner.as_view()),
    path("whoami-default-post", WhoAmIDefaultOwnerOnPost.as_view()),
    path("missing", Missing.as_view()),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.mark.parametrize(
    "header",
    [
        lambda token: {"Authorization": f"Bearer {token}"},
        lambda token: {"Authorization": token},
        lambda token: {"x-access-token": token},
    ],
    ids=["bearer", "bare", "x-access-token"],
)
def test_a_token_is_accepted_the_ways_the_originals_sent_it(api_client, alice, access_token, header):
    response = api_client.get("/whoami", headers=header(access_token(alice)))
    assert response.status_code == 200
    assert response.json() == {"user": "alice"}


def test_an_api_token_works_too(api_client, alice):
    from accounts.services import api_token_create

    _, plaintext = api_token_create(user=alice, name="machine")
    response = api_client.get("/whoami", headers={"x-access-token": plaintext})
    assert response.json() == {"user": "alice"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"x-access-token": "evs_abc_def"}, {"Authorization": "a b c"}],
    ids=["none", "bad-jwt", "bad-api-token", "malformed"],
)
def test_no_or_bad_token_is_401_in_the_views_style(api_client, headers):
    response = api_client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"message"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="legacy"'


def test_default_owner_is_off_by_default(api_client, alice):
    assert api_client.get("/whoami-default").status_code == 401


@override_settings(LEGACY_DEFAULT_OWNER="alice")
def test_default_owner_acts_for_anonymous_requests_on_marked_views_only(api_client, alice, bob, access_token):
    assert api_client.get("/whoami-default").json() == {"user": "alice"}
    # A token still wins, and a bad token is still refused rather than falling back.
    assert api_client.get("/whoami-default", headers={"x-access-token": access_token(bob)}).json() == {"user": "bob"}
    assert api_client.get("/whoami-default", headers={"x-access-token": "nope"}).status_code == 401
    assert api_client.get("/whoami").status_code == 401


@override_settings(LEGACY_DEFAULT_OWNER="alice")
def test_default_owner_can_be_limited_to_some_methods(api_client, alice):
    assert api_client.post("/whoami-default-post", {}, format="json").json() == {"received": {}}
    assert api_client.get("/whoami-default-post").status_code == 401


@override_settings(LEGACY_DEFAULT_OWNER="ghost")
def test_default_owner_naming_no_active_user_is_401(api_client):
    assert api_client.get("/whoami-default").status_code == 401


def test_body_is_read_as_json_whatever_the_content_type(api_client, alice, access_token):
    response = api_client.post(
        "/whoami",
        '{"coin": "btc"}',
        content_type="application/x-www-form-urlencoded",
        headers={"x-access-token": access_token(alice)},
    )
    assert response.json() == {"received": {"coin": "btc"}}


@override_settings(LEGACY_DEFAULT_OWNER="alice")
def test_errors_are_reshaped_by_the_views_hook(api_client, alice):
    response = api_client.get("/missing")
    assert response.status_code == 404
    assert response.json() == {"error": "Thing not found!", "status": 404}


def test_field_messages_flattens_nested_detail():
    detail = {"a": ["bad"], "b": {"c": ["worse"]}, "items": [{"x": ["no"]}, {}]}
    assert field_messages(detail) == {"a": ["bad"], "b.c": ["worse"], "items.0.x": ["no"]}
    assert field_messages(["top-level"]) == {"non_field_errors": ["top-level"]}
