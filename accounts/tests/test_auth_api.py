from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import User

pytestmark = pytest.mark.django_db

STRONG = "correct-Horse-battery-9"


def register(client, **body):
    return client.post("/api/v1/auth/register/", body, format="json")


def login(client, username, password):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def test_register_login_me_refresh_logout_then_refresh_refused(api_client):
    response = register(api_client, username="carol", password=STRONG, email="Carol@Example.com")
    assert response.status_code == 201, response.data
    assert response.data["username"] == "carol"
    assert "password" not in response.data

    tokens = login(api_client, "carol", STRONG)
    assert tokens.status_code == 200
    access, refresh = tokens.data["access"], tokens.data["refresh"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    me = api_client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.data["username"] == "carol" and me.data["email"] == "Carol@example.com"

    rotated = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert rotated.status_code == 200
    new_refresh = rotated.data["refresh"]
    assert new_refresh != refresh
    # Rotation blacklists the refresh token that was just used.
    reused = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert reused.status_code == 401

    logout = api_client.post("/api/v1/auth/logout/", {"refresh": new_refresh}, format="json")
    assert logout.status_code == 204
    refused = api_client.post("/api/v1/auth/token/refresh/", {"refresh": new_refresh}, format="json")
    assert refused.status_code == 401
    assert BlacklistedToken.objects.count() == 2


def test_access_token_expires_after_minutes(api_client, alice):
    with time_machine.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        access = login(api_client, "alice", "a-Strong-passw0rd").data["access"]
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get("/api/v1/auth/me/").status_code == 200
        traveller.shift(timedelta(minutes=16))
        assert api_client.get("/api/v1/auth/me/").status_code == 401


def test_weak_password_is_400_with_reasons(api_client):
    response = register(api_client, username="dave", password="123456")
    assert response.status_code == 400
    reasons = " ".join(response.data["password"])
    assert "too short" in reasons and "too common" in reasons and "entirely numeric" in reasons
    assert not User.objects.filter(username="dave").exists()


def test_password_like_username_is_refused(api_client):
    response = register(api_client, username="margaretha", password="margaretha1")
    assert response.status_code == 400
    assert "too similar" in " ".join(response.data["password"])


def test_duplicate_username_is_400(api_client, alice):
    response = register(api_client, username="alice", password=STRONG)
    assert response.status_code == 400
    assert "already exists" in response.data["username"][0]


def test_duplicate_email_ignoring_case_is_400(api_client, alice):
    response = register(api_client, username="alice2", password=STRONG, email="ALICE@example.com")
    assert response.status_code == 400
    assert "e-mail address already exists" in str(response.data)
    assert User.objects.count() == 1


def test_missing_fields_are_400_per_field(api_client):
    response = register(api_client)
    assert response.status_code == 400
    assert set(response.data) == {"username", "password"}
    assert response.data["username"][0].code == "required"


def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/v1/auth/register/", data='{"username": "x",', content_type="application/json")
    assert response.status_code == 400
    assert response.data["code"] == "parse_error"


def test_invalid_email_is_400(api_client):
    response = register(api_client, username="erin", password=STRONG, email="not-an-email")
    assert response.status_code == 400
    assert "email" in response.data


def test_wrong_password_is_401(api_client, alice):
    response = login(api_client, "alice", "wrong-password")
    assert response.status_code == 401
    assert response.data["code"] == "invalid_credentials"
    assert login(api_client, "nobody", "wrong-password").status_code == 401


def test_login_is_throttled_with_retry_after(api_client, alice):
    statuses = [login(api_client, f"user{i}", "x").status_code for i in range(10)]
    assert statuses == [401] * 10
    response = login(api_client, "alice", "a-Strong-passw0rd")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_register_is_throttled(api_client):
    for i in range(10):
        register(api_client, username=f"user{i}", password=STRONG)
    response = register(api_client, username="one-too-many", password=STRONG)
    assert response.status_code == 429
    assert "Retry-After" in response


def test_repeated_failures_lock_the_username_out_then_cool_off(api_client, alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    with time_machine.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        for _ in range(3):
            assert login(api_client, "alice", "wrong").status_code == 401
        locked = login(api_client, "alice", "a-Strong-passw0rd")
        assert locked.status_code == 429
        assert locked.data["code"] == "locked_out"
        assert int(locked["Retry-After"]) == 601
        # Another username from the same client is not locked.
        assert login(api_client, "bob", "wrong").status_code == 401

        traveller.shift(timedelta(seconds=601))
        api_client_after = type(api_client)()
        assert login(api_client_after, "alice", "a-Strong-passw0rd").status_code == 200


def test_successful_login_resets_the_failure_count(api_client, alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        login(api_client, "alice", "wrong")
    assert login(api_client, "alice", "a-Strong-passw0rd").status_code == 200
    for _ in range(2):
        login(api_client, "alice", "wrong")
    assert login(api_client, "alice", "a-Strong-passw0rd").status_code == 200


def test_me_requires_authentication(api_client):
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_patch_changes_email_but_not_username(api_client, alice, bob):
    api_client.force_authenticate(alice)
    response = api_client.patch("/api/v1/auth/me/", {"email": "new@example.com", "username": "mallory"}, format="json")
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.email == "new@example.com" and alice.username == "alice"
    taken = api_client.patch("/api/v1/auth/me/", {"email": "BOB@example.com"}, format="json")
    assert taken.status_code == 400


def test_logout_refuses_someone_elses_refresh_token(api_client, alice, bob):
    bobs_refresh = login(api_client, "bob", "a-Strong-passw0rd").data["refresh"]
    api_client.force_authenticate(alice)
    response = api_client.post("/api/v1/auth/logout/", {"refresh": bobs_refresh}, format="json")
    assert response.status_code == 400
    assert BlacklistedToken.objects.count() == 0


def test_logout_with_garbage_token_is_400(api_client, alice):
    api_client.force_authenticate(alice)
    response = api_client.post("/api/v1/auth/logout/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 400
    assert response.data["code"] == "invalid_refresh_token"


def test_garbage_bearer_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert api_client.get("/api/v1/auth/me/").status_code == 401


def test_stale_failure_counts_and_expired_locks_are_pruned(api_client, alice, settings):
    from accounts.models import LoginLockout
    from accounts.services import login_lockouts_prune

    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 600
    with time_machine.travel(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), tick=False) as traveller:
        login(api_client, "nobody-at-all", "x")  # a username that does not exist still counts
        login(api_client, "alice", "wrong")
        login(api_client, "alice", "wrong")  # locked until 12:10 from this address
        traveller.shift(timedelta(minutes=5))
        assert login_lockouts_prune() == 0  # nothing is older than the cool-off yet
        traveller.shift(timedelta(minutes=6))
        assert login_lockouts_prune() == 4  # per username: its pair and its username-wide row
    assert not LoginLockout.objects.exists()
