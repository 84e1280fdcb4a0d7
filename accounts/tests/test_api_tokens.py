import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create

pytestmark = pytest.mark.django_db


def create_token(client, name="ingest box"):
    return client.post("/api/v1/api-tokens/", {"name": name}, format="json")


def test_token_plaintext_is_returned_once_and_only_its_hash_is_stored(api_client, alice):
    api_client.force_authenticate(alice)
    created = create_token(api_client)
    assert created.status_code == 201
    plaintext = created.data["token"]
    assert plaintext.startswith("evs_") and len(plaintext) > 40

    row = ApiToken.objects.get(pk=created.data["id"])
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {row.name, row.prefix, row.token_hash}
    assert row.prefix == created.data["prefix"] and plaintext.split("_")[1] == row.prefix

    listed = api_client.get("/api/v1/api-tokens/")
    assert listed.status_code == 200
    assert listed.data["count"] == 1
    assert "token" not in listed.data["results"][0] and "token_hash" not in listed.data["results"][0]
    assert set(listed.data["results"][0]) == {"id", "name", "prefix", "created_at", "last_used_at"}


def test_token_works_as_bearer_and_records_last_use(alice):
    _, plaintext = api_token_create(user=alice, name="machine")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    response = client.get("/api/v1/auth/me/")
    assert response.status_code == 200
    assert response.data["username"] == "alice"
    assert ApiToken.objects.get().last_used_at is not None


def test_last_used_is_written_at_most_once_a_minute(alice, django_assert_num_queries):
    token, plaintext = api_token_create(user=alice, name="machine")
    with time_machine.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        with django_assert_num_queries(2):  # lookup + last_used update
            assert api_token_authenticate(plaintext) is not None
        with django_assert_num_queries(1):  # lookup only
            assert api_token_authenticate(plaintext) is not None
        traveller.shift(timedelta(seconds=61))
        with django_assert_num_queries(2):
            assert api_token_authenticate(plaintext) is not None
    token.refresh_from_db()
    assert token.last_used_at == datetime(2026, 11, 1, 12, 1, 1, tzinfo=UTC)


def test_revoked_token_is_refused(api_client, alice):
    api_client.force_authenticate(alice)
    created = create_token(api_client).data
    assert api_client.delete(f"/api/v1/api-tokens/{created['id']}/").status_code == 204
    assert ApiToken.objects.get().revoked_at is not None

    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    response = machine.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.data["code"] == "invalid_api_token"
    assert api_client.get("/api/v1/api-tokens/").data["count"] == 0


def test_tampered_secret_with_a_valid_prefix_is_refused(alice):
    _, plaintext = api_token_create(user=alice, name="machine")
    tampered = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert client.get("/api/v1/auth/me/").status_code == 401


def test_token_of_a_deactivated_user_is_refused(alice):
    _, plaintext = api_token_create(user=alice, name="machine")
    alice.is_active = False
    alice.save()
    assert api_token_authenticate(plaintext) is None


def test_someone_elses_token_is_404_and_invisible(api_client, alice, bob):
    token, _ = api_token_create(user=bob, name="bob's")
    api_client.force_authenticate(alice)
    assert api_client.delete(f"/api/v1/api-tokens/{token.pk}/").status_code == 404
    assert api_client.get("/api/v1/api-tokens/").data["count"] == 0
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_name_is_required(api_client, alice):
    api_client.force_authenticate(alice)
    response = api_client.post("/api/v1/api-tokens/", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.data
    assert ApiToken.objects.count() == 0


def test_token_list_query_count_is_constant(api_client, alice, django_assert_max_num_queries):
    for i in range(30):
        api_token_create(user=alice, name=f"t{i}")
    api_client.force_authenticate(alice)
    with django_assert_max_num_queries(2):  # count + page
        response = api_client.get("/api/v1/api-tokens/?page_size=25")
    assert len(response.data["results"]) == 25


def test_unknown_query_parameter_is_400(api_client, alice):
    api_client.force_authenticate(alice)
    response = api_client.get("/api/v1/api-tokens/?stauts=active")
    assert response.status_code == 400
    assert "stauts" in response.data


def test_page_size_is_capped_at_the_maximum(api_client, alice, settings):
    ApiToken.objects.bulk_create(
        ApiToken(user=alice, name=f"t{i}", prefix=f"p{i:04d}", token_hash="0" * 64)
        for i in range(settings.API_MAX_PAGE_SIZE + 5)
    )
    api_client.force_authenticate(alice)
    response = api_client.get("/api/v1/api-tokens/?page_size=100000")
    assert response.status_code == 200
    assert response.data["count"] == settings.API_MAX_PAGE_SIZE + 5
    assert len(response.data["results"]) == settings.API_MAX_PAGE_SIZE


def test_an_authenticated_token_carries_its_user_and_reads_its_other_columns_on_demand(alice):
    token, plaintext = api_token_create(user=alice, name="machine")
    found = api_token_authenticate(plaintext)
    assert (found.pk, found.name, found.prefix) == (token.pk, "machine", token.prefix)
    assert found.user == alice and found.user.username == "alice" and found.user.email == alice.email
    assert not any(name.startswith("api_token_") for name in vars(found.user))
    assert found.created_at == token.created_at and found.revoked_at is None


@pytest.mark.skipif(
    connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("prepare_threshold"),
    reason="prepared statements are PostgreSQL's, on by default",
)
def test_the_token_look_up_is_planned_once_per_connection(alice):
    _, plaintext = api_token_create(user=alice, name="machine")
    for _ in range(6):
        assert api_token_authenticate(plaintext) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("api_token_stale" in statement for statement in prepared), prepared
