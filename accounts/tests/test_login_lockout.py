"""Failed logins lock a (username, client address) pair; only a much higher count locks a username everywhere."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import LoginLockout
from accounts.services import login_lockouts_prune

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PASSWORD = "a-Strong-passw0rd"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


def from_address(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def login(client, username, password, **headers):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json", **headers)


def legacy_login(client, body):
    return client.post("/auth/login", json.dumps(body), content_type="application/json")


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 7
    settings.LOGIN_LOCKOUT_SECONDS = 600
    settings.TRUSTED_PROXIES = []


def test_an_attacker_failing_on_purpose_does_not_lock_the_owner_out_from_her_address(alice, limits, frozen):
    attacker = from_address(ATTACKER)
    assert [login(attacker, "alice", "guess").status_code for _ in range(3)] == [401] * 3
    locked = login(attacker, "alice", PASSWORD)
    assert locked.status_code == 429 and locked.data["code"] == "locked_out"
    assert int(locked["Retry-After"]) == 601

    assert login(from_address(OWNER), "alice", PASSWORD).status_code == 200
    # the owner's success clears her own pair, never the attacker's
    assert login(attacker, "alice", PASSWORD).status_code == 429


def test_forged_forwarded_headers_neither_escape_the_throttle_nor_a_lock(alice, limits, frozen):
    attacker = from_address(ATTACKER)
    # THROTTLE_AUTH (10/min) counts the one real address, whatever the header says
    statuses = [
        login(attacker, f"user{i}", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(15)
    ]
    assert statuses == [401] * 10 + [429] * 5

    other = from_address("203.0.113.67")
    statuses = [login(other, "alice", "guess", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    pairs = LoginLockout.objects.filter(username="alice").exclude(address=LoginLockout.ALL_ADDRESSES)
    assert list(pairs.values_list("address", flat=True)) == ["203.0.113.67"]


def test_behind_a_trusted_proxy_the_pair_is_the_forwarded_client(alice, limits, frozen, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    proxy = from_address("10.0.0.1")
    for _ in range(3):
        assert login(proxy, "alice", "guess", HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 401
    assert login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    assert login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR=OWNER).status_code == 200
    assert LoginLockout.objects.filter(username="alice", address=ATTACKER).exists()


def test_the_username_wide_ceiling_locks_every_address_against_spraying(alice, bob, limits, frozen):
    # 7 failures for alice from three addresses, none of which reaches its own limit of 3
    for address, failures in (("192.0.2.1", 2), ("192.0.2.2", 2), ("192.0.2.3", 2)):
        assert [login(from_address(address), "alice", "guess").status_code for _ in range(failures)] == [401] * failures
    assert login(from_address("192.0.2.4"), "alice", "guess").status_code == 401  # the 7th
    locked = login(from_address(OWNER), "alice", PASSWORD)
    assert locked.status_code == 429 and locked.data["code"] == "locked_out"
    assert login(from_address(OWNER), "bob", PASSWORD).status_code == 200  # another username is not locked

    frozen.shift(timedelta(seconds=601))
    assert login(from_address(OWNER), "alice", PASSWORD).status_code == 200


def test_a_success_clears_its_pair_but_not_the_username_wide_count(alice, limits, frozen):
    owner = from_address(OWNER)
    for _ in range(2):
        assert login(owner, "alice", "typo").status_code == 401
    assert login(owner, "alice", PASSWORD).status_code == 200
    for _ in range(2):
        assert login(owner, "alice", "typo").status_code == 401
    assert login(owner, "alice", PASSWORD).status_code == 200
    assert not LoginLockout.objects.filter(username="alice", address=OWNER).exists()
    assert LoginLockout.objects.get(username="alice", address=LoginLockout.ALL_ADDRESSES).failures == 4


def test_failures_older_than_the_cool_off_are_forgotten(alice, limits, frozen):
    attacker = from_address(ATTACKER)
    for _ in range(2):
        login(attacker, "alice", "guess")
    frozen.shift(timedelta(seconds=601))
    assert login(attacker, "alice", "guess").status_code == 401
    assert login(attacker, "alice", PASSWORD).status_code == 200  # 1 failure, not 3


def test_the_legacy_login_counts_by_pair_too(alice, limits, frozen):
    attacker = from_address(ATTACKER)
    for _ in range(3):
        assert legacy_login(attacker, {"email": "alice@example.com", "password": "guess"}).status_code == 401
    assert legacy_login(attacker, {"username": "alice", "password": PASSWORD}).status_code == 429
    assert legacy_login(from_address(OWNER), {"email": "alice@example.com", "password": PASSWORD}).status_code == 201
    assert legacy_login(from_address(OWNER), {"username": "alice", "password": PASSWORD}).status_code == 200


def test_the_admin_login_counts_and_locks_by_pair(make_user, limits, frozen):
    from django.test import Client

    make_user("root", is_staff=True, is_superuser=True)
    attacker, owner = Client(REMOTE_ADDR=ATTACKER), Client(REMOTE_ADDR=OWNER)
    form = {"username": "root", "password": "guess", "next": "/admin/"}
    for _ in range(3):
        assert "Please enter the correct username" in attacker.post("/admin/login/", form).content.decode()
    refused = attacker.post("/admin/login/", {**form, "password": PASSWORD})
    assert refused.status_code == 200
    assert refused.context["form"].errors.as_data()["__all__"][0].code == "locked_out"
    assert "Too many failed logins; try again in 10 minute(s)." in refused.content.decode()
    assert "_auth_user_id" not in attacker.session

    signed_in = owner.post("/admin/login/", {**form, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"


def test_prune_forgets_stale_pairs_and_username_wide_counts(alice, limits, frozen):
    login(from_address(ATTACKER), "nobody-at-all", "x")  # a username that does not exist still counts
    for _ in range(3):
        login(from_address(ATTACKER), "alice", "guess")  # (alice, attacker) locked until 12:10
    assert LoginLockout.objects.count() == 4  # two pairs, two username-wide rows
    frozen.shift(timedelta(minutes=5))
    assert login_lockouts_prune() == 0
    frozen.shift(timedelta(minutes=6))
    assert login_lockouts_prune() == 4
    assert not LoginLockout.objects.exists()


def test_the_browsable_api_login_counts_and_locks_by_pair(alice, limits, frozen):
    from django.test import Client

    attacker, owner = Client(REMOTE_ADDR=ATTACKER), Client(REMOTE_ADDR=OWNER)
    form = {"username": "alice", "password": "guess", "next": "/api/v1/auth/me/"}
    for _ in range(3):
        assert attacker.post("/api-auth/login/", form).status_code == 200
    refused = attacker.post("/api-auth/login/", {**form, "password": PASSWORD})
    assert refused.context["form"].errors.as_data()["__all__"][0].code == "locked_out"
    assert "_auth_user_id" not in attacker.session

    signed_in = owner.post("/api-auth/login/", {**form, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/api/v1/auth/me/"


def test_an_unknown_address_longer_than_any_username_is_counted_not_a_500(limits, frozen):
    attacker = from_address(ATTACKER)
    email = "a" * 200 + "@example.com"
    statuses = [legacy_login(attacker, {"email": email, "password": "guess"}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert LoginLockout.objects.filter(username=email[:150], address=ATTACKER).exists()
