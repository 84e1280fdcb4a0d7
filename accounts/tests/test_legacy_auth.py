"""/auth/register and /auth/login of the two original services that shared those paths (seeds 000, 001)."""

import json

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

STRONG = "a-Strong-passw0rd"


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


class TestTriggerServiceStyle:
    """Seed 000: {username, password}."""

    def test_documented_examples_replayed(self, api_client, settings):
        # The seed's example password "sai" only passes with the password policy switched off.
        settings.AUTH_PASSWORD_VALIDATORS = []
        body = {"username": "dakshayani", "password": "sai"}

        registered = post(api_client, "/auth/register", body)
        assert registered.status_code == 201
        assert registered.json() == {"message": "User registered successfully"}

        logged_in = post(api_client, "/auth/login", body)
        assert logged_in.status_code == 200
        answer = logged_in.json()
        assert set(answer) == {"message", "token", "user_id"}
        assert answer["message"] == "Login successful"
        assert answer["user_id"] == User.objects.get(username="dakshayani").pk
        me = api_client.get("/api/v1/auth/me/", headers={"Authorization": f"Bearer {answer['token']}"})
        assert me.status_code == 200 and me.json()["username"] == "dakshayani"

    def test_weak_password_is_refused_by_the_default_policy(self, api_client):
        response = post(api_client, "/auth/register", {"username": "dakshayani", "password": "sai"})
        assert response.status_code == 400
        assert response.json()["message"] == "Invalid input."
        assert response.json()["errors"]["password"]
        assert not User.objects.filter(username="dakshayani").exists()

    def test_taken_username_is_409(self, api_client, make_user):
        make_user("dakshayani")
        response = post(api_client, "/auth/register", {"username": "dakshayani", "password": STRONG})
        assert response.status_code == 409
        assert response.json() == {"message": "Username already exists"}

    def test_missing_fields_are_a_400_with_field_errors(self, api_client):
        response = post(api_client, "/auth/register", {"username": "x"})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"password"}

    @pytest.mark.parametrize("password", ["wrong-password", STRONG])
    def test_bad_login_is_401(self, api_client, make_user, password):
        make_user("dakshayani", password="another-Strong-passw0rd")
        response = post(api_client, "/auth/login", {"username": "dakshayani", "password": password})
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid username or password"}

    def test_not_json_is_a_400_in_the_same_style(self, api_client):
        response = api_client.post("/auth/login", "{not json", content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["message"]


class TestKryptolertStyle:
    """Seed 001: {email, password}; the username is the address."""

    def test_register_then_sign_in(self, api_client):
        body = {"email": "Trader@Example.com", "password": STRONG}
        registered = post(api_client, "/auth/register", body)
        assert registered.status_code == 201
        assert registered.json() == {"message": "Successfully Registered"}
        user = User.objects.get()
        assert user.email == "Trader@example.com"

        signed_in = post(api_client, "/auth/login", {"email": "trader@example.com", "password": STRONG})
        assert signed_in.status_code == 201
        assert set(signed_in.json()) == {"message", "token"}
        assert signed_in.json()["message"] == "Successful Sign-In"
        token = signed_in.json()["token"]
        me = api_client.get("/api/v1/auth/me/", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["id"] == user.pk

    def test_an_api_v1_account_signs_in_with_its_email(self, api_client, alice):
        response = post(api_client, "/auth/login", {"email": "ALICE@example.com", "password": STRONG})
        assert response.status_code == 201
        assert response.json()["message"] == "Successful Sign-In"

    def test_taken_address_is_409_ignoring_case(self, api_client, alice):
        response = post(api_client, "/auth/register", {"email": "Alice@Example.com", "password": STRONG})
        assert response.status_code == 409
        assert response.json() == {"message": "User Already Exists"}
        assert User.objects.count() == 1

    def test_invalid_address_is_a_field_error(self, api_client):
        response = post(api_client, "/auth/register", {"email": "not-an-address", "password": STRONG})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"email"}

    @pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
    def test_bad_sign_in_is_401(self, api_client, alice, email):
        response = post(api_client, "/auth/login", {"email": email, "password": "wrong-password"})
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid Credentials"}

    def test_repeated_failures_lock_the_account_out(self, api_client, alice, settings):
        settings.LOGIN_FAILURE_LIMIT = 2
        for _ in range(2):
            post(api_client, "/auth/login", {"email": "alice@example.com", "password": "wrong-password"})
        response = post(api_client, "/auth/login", {"email": "alice@example.com", "password": STRONG})
        assert response.status_code == 429
        assert "Retry-After" in response.headers
        assert set(response.json()) == {"message"}
