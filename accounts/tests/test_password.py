"""Password change (authenticated) and reset (by e-mail), over HTTP: the API's and the admin's."""

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts import services
from accounts.models import LoginLockout

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PASSWORD = "a-Strong-passw0rd"
NEW_PASSWORD = "correct-Horse-battery-9"
RESET_ACCEPTED = {"detail": "If an account has this address, an e-mail with a reset token is on its way."}


def login(client, username, password):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def refresh(client, token):
    return client.post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def change(client, access, old, new):
    return client.post(
        "/api/v1/auth/password/",
        {"old_password": old, "new_password": new},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )


def request_reset(client, email):
    return client.post("/api/v1/auth/password-reset/", {"email": email}, format="json")


def confirm(client, uid, token, new_password=NEW_PASSWORD):
    return client.post(
        "/api/v1/auth/password-reset/confirm/",
        {"uid": uid, "token": token, "new_password": new_password},
        format="json",
    )


def uid_and_token(message) -> tuple[str, str]:
    uid = re.search(r"^uid: (\S+)$", message.body, re.MULTILINE).group(1)
    token = re.search(r"^token: (\S+)$", message.body, re.MULTILINE).group(1)
    return uid, token


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600


# --- Change ------------------------------------------------------------------------------------


def test_a_change_logs_every_other_device_out_and_answers_a_new_pair(api_client, alice, bob):
    laptop = login(api_client, "alice", PASSWORD).data
    phone = login(api_client, "alice", PASSWORD).data
    rotated = refresh(api_client, phone["refresh"]).data["refresh"]  # a rotated token is revoked too
    bobs = login(api_client, "bob", PASSWORD).data["refresh"]

    response = change(api_client, laptop["access"], PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200, response.data
    assert set(response.data) == {"access", "refresh"}

    assert refresh(api_client, laptop["refresh"]).status_code == 401
    assert refresh(api_client, rotated).status_code == 401
    assert refresh(api_client, response.data["refresh"]).status_code == 200
    assert refresh(api_client, bobs).status_code == 200  # another user's sessions are untouched
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.data['access']}")
    assert api_client.get("/api/v1/auth/me/").data["username"] == "alice"

    assert login(APIClient(), "alice", PASSWORD).status_code == 401
    assert login(APIClient(), "alice", NEW_PASSWORD).status_code == 200


def test_a_change_ends_every_access_token_issued_before_it(api_client, alice):
    other_device = login(APIClient(), "alice", PASSWORD).data["access"]
    laptop = login(api_client, "alice", PASSWORD).data["access"]

    fresh = change(api_client, laptop, PASSWORD, NEW_PASSWORD).data["access"]

    for stale in (other_device, laptop):
        response = APIClient().get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {stale}")
        assert response.status_code == 401
    assert APIClient().get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {fresh}").status_code == 200


def test_a_weak_new_password_is_400_on_new_password_and_changes_nothing(api_client, alice):
    tokens = login(api_client, "alice", PASSWORD).data
    response = change(api_client, tokens["access"], PASSWORD, "alice123")
    assert response.status_code == 400
    assert set(response.data) == {"new_password"}
    assert "too common" in " ".join(response.data["new_password"])
    assert BlacklistedToken.objects.count() == 0
    assert refresh(api_client, tokens["refresh"]).status_code == 200
    assert login(api_client, "alice", PASSWORD).status_code == 200


def test_a_wrong_old_password_is_400_and_counts_toward_the_login_lockout(api_client, alice, limits, frozen):
    access = login(api_client, "alice", PASSWORD).data["access"]
    login(api_client, "alice", "typo")  # a failed login and failed changes count together
    for _ in range(2):
        response = change(api_client, access, "guess", NEW_PASSWORD)
        assert response.status_code == 400
        assert set(response.data) == {"old_password"}
        assert response.data["old_password"] == ["Your old password was entered incorrectly."]
    assert LoginLockout.objects.get(username="alice", address="127.0.0.1").locked_until is not None

    locked = change(api_client, access, PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 429 and locked.data["code"] == "locked_out"
    assert int(locked["Retry-After"]) == 601
    assert login(api_client, "alice", PASSWORD).data["code"] == "locked_out"
    assert login(APIClient(REMOTE_ADDR="198.51.100.7"), "alice", PASSWORD).status_code == 200  # the pair only

    frozen.shift(timedelta(seconds=601))
    assert change(api_client, access, PASSWORD, NEW_PASSWORD).status_code == 200


def test_changing_needs_credentials(api_client):
    response = api_client.post(
        "/api/v1/auth/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_a_change_through_the_browsable_api_keeps_that_session(alice):
    browser = Client()
    browser.force_login(alice)
    other_browser = Client()
    other_browser.force_login(alice)
    response = browser.post(
        "/api/v1/auth/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert browser.get("/api/v1/auth/me/").status_code == 200
    assert other_browser.get("/api/v1/auth/me/").status_code in (401, 403)


# --- Reset over the API ------------------------------------------------------------------------


def test_a_reset_mails_a_token_that_sets_the_password_once_and_logs_every_device_out(api_client, alice, settings):
    old_refresh = login(api_client, "alice", PASSWORD).data["refresh"]

    response = request_reset(api_client, "ALICE@example.com")
    assert response.status_code == 202 and response.data == RESET_ACCEPTED
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    uid, token = uid_and_token(message)

    done = confirm(api_client, uid, token)
    assert done.status_code == 200 and set(done.data) == {"detail"}
    assert refresh(api_client, old_refresh).status_code == 401
    assert login(api_client, "alice", PASSWORD).status_code == 401
    assert login(api_client, "alice", NEW_PASSWORD).status_code == 200

    again = confirm(api_client, uid, token, "another-Strong-passw0rd")
    assert again.status_code == 400
    assert set(again.data) == {"token"}
    assert login(APIClient(), "alice", NEW_PASSWORD).status_code == 200


def test_an_unknown_address_gets_the_same_answer_and_no_mail(api_client, alice, make_user):
    make_user("ghost", email="ghost@example.com", is_active=False)
    known = request_reset(api_client, "alice@example.com")
    mail.outbox.clear()
    for address in ("nobody@example.com", "ghost@example.com"):
        unknown = request_reset(api_client, address)
        assert (unknown.status_code, unknown.data) == (known.status_code, known.data)
    assert mail.outbox == []


def test_a_request_does_the_same_work_whether_the_address_is_known_or_not(
    alice, monkeypatch, django_assert_num_queries
):
    """No timing oracle: the request publishes one message and reads nothing; the worker looks up."""
    published = []
    monkeypatch.setattr("accounts.services.publish_many", lambda messages, what: published.extend(messages) or True)
    for address in ("alice@example.com", "nobody@example.com"):
        with django_assert_num_queries(0):
            services.user_password_reset_request(email=address)
    assert [(task.name, args) for task, args in published] == [
        ("accounts.send_password_reset_emails", ("alice@example.com", "")),
        ("accounts.send_password_reset_emails", ("nobody@example.com", "")),
    ]
    assert [task.run(*args) for task, args in published] == [1, 0]  # what the worker then sends
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]


def test_a_broker_outage_still_answers_202(api_client, alice, monkeypatch):
    monkeypatch.setattr("accounts.services.publish_many", lambda messages, what: False)  # could not publish
    response = request_reset(api_client, "alice@example.com")
    assert response.status_code == 202 and response.data == RESET_ACCEPTED and mail.outbox == []


def test_a_malformed_address_is_400(api_client):
    response = request_reset(api_client, "not-an-address")
    assert response.status_code == 400 and set(response.data) == {"email"}


def test_every_user_with_the_address_gets_their_own_mail(api_client, alice, make_user):
    # Addresses are unique per user (ignoring case) today; rows from before that rule still each get a mail.
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX accounts_user_email_unique_ci")  # rolled back with the test
    make_user("alice2", email="alice@example.com")
    assert request_reset(api_client, "alice@example.com").status_code == 202
    assert sorted(message.to[0] for message in mail.outbox) == ["alice@example.com", "alice@example.com"]
    users = {uid_and_token(message)[0] for message in mail.outbox}
    assert len(users) == 2
    uid, token = uid_and_token(mail.outbox[1])
    assert confirm(api_client, uid, token).status_code == 200


def test_requests_are_throttled_per_client(api_client, alice, settings, frozen):
    statuses = [request_reset(api_client, "alice@example.com").status_code for _ in range(6)]
    assert statuses == [202] * 5 + [429]
    assert len(mail.outbox) == 5
    limited = request_reset(api_client, "nobody@example.com")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert request_reset(APIClient(REMOTE_ADDR="198.51.100.7"), "alice@example.com").status_code == 202
    frozen.shift(timedelta(hours=1))
    assert request_reset(api_client, "alice@example.com").status_code == 202


def test_a_token_expires_after_password_reset_timeout(api_client, alice, settings, frozen):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    request_reset(api_client, "alice@example.com")
    assert "until 2026-11-01 13:00 UTC" in mail.outbox[0].body
    uid, token = uid_and_token(mail.outbox[0])
    frozen.shift(timedelta(seconds=3601))
    expired = confirm(api_client, uid, token)
    assert expired.status_code == 400 and set(expired.data) == {"token"}
    assert login(api_client, "alice", PASSWORD).status_code == 200

    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[1])
    frozen.shift(timedelta(seconds=3599))
    assert confirm(api_client, uid, token).status_code == 200


def test_a_token_dies_when_the_password_changes_another_way(api_client, alice):
    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[0])
    access = login(api_client, "alice", PASSWORD).data["access"]
    assert change(api_client, access, PASSWORD, "another-Strong-passw0rd").status_code == 200
    response = confirm(api_client, uid, token)
    assert response.status_code == 400 and set(response.data) == {"token"}


def test_a_bad_token_says_nothing_about_the_user(api_client, alice):
    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[0])
    # A password like the username would draw "too similar to the username" if validated: it is not.
    wrong_token = confirm(api_client, uid, token[:-1] + ("x" if token[-1] != "x" else "y"), "alice")
    answers = [
        wrong_token,
        confirm(api_client, "OTk5OTk", token),  # uid of user 99999, who does not exist
        confirm(api_client, "bm90LWEtbnVtYmVy", token),  # "not-a-number"
        confirm(api_client, "!!!", token),
        confirm(api_client, "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", token),  # out of the id column's range
    ]
    assert [answer.status_code for answer in answers] == [400] * 5
    assert all(answer.data == wrong_token.data for answer in answers)
    assert set(wrong_token.data) == {"token"}
    assert confirm(api_client, uid, token).status_code == 200  # none of these spent the real token


def test_a_user_deactivated_since_the_mail_cannot_reset(api_client, alice):
    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[0])
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = confirm(api_client, uid, token)
    assert response.status_code == 400 and set(response.data) == {"token"}


def test_a_refused_new_password_does_not_spend_the_token(api_client, alice):
    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[0])
    weak = confirm(api_client, uid, token, "12345678")
    assert weak.status_code == 400 and set(weak.data) == {"new_password"}
    assert confirm(api_client, uid, token).status_code == 200


def test_a_mail_server_that_is_down_still_answers_202(api_client, alice, monkeypatch, caplog):
    def smtp_down(self, messages):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", smtp_down)
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        response = request_reset(api_client, "alice@example.com")
    assert response.status_code == 202 and response.data == RESET_ACCEPTED
    assert mail.outbox == []
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert f"user {alice.pk} was not sent" in caplog.records[0].getMessage()


# --- The admin's pages -------------------------------------------------------------------------


def test_the_admin_reset_end_to_end(make_user):
    root = make_user("root", email="root@example.com", is_staff=True, is_superuser=True)
    old_refresh = login(APIClient(), "root", PASSWORD).data["refresh"]
    browser = Client()
    # Django's login page links to the reset page once a URL is named admin_password_reset.
    assert '<a href="/admin/password_reset/">Forgotten' in browser.get("/admin/login/").content.decode()
    assert browser.get("/admin/password_reset/").status_code == 200

    sent = browser.post("/admin/password_reset/", {"email": "root@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/admin/password_reset/done/"
    [message] = mail.outbox
    assert message.to == ["root@example.com"]
    link = re.search(r"^http://testserver(/reset/\S+/)$", message.body, re.MULTILINE).group(1)

    form_page = browser.get(link)  # Django moves the token into the session, out of the URL
    assert form_page.status_code == 302
    set_password_url = form_page["Location"]
    assert browser.get(set_password_url).status_code == 200
    done = browser.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/reset/done/"
    assert browser.get("/reset/done/").status_code == 200

    root.refresh_from_db()
    assert root.check_password(NEW_PASSWORD)
    assert refresh(APIClient(), old_refresh).status_code == 401
    signed_in = browser.post("/admin/login/", {"username": "root", "password": NEW_PASSWORD, "next": "/admin/"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    # The link worked once.
    assert browser.get(link).context["validlink"] is False


def test_the_api_mail_links_the_reset_page_and_the_admin_shares_the_throttle(api_client, alice):
    request_reset(api_client, "alice@example.com")
    uid, token = uid_and_token(mail.outbox[0])
    assert f"http://testserver/reset/{uid}/{token}/" in mail.outbox[0].body
    for _ in range(4):
        request_reset(api_client, "alice@example.com")
    refused = Client().post("/admin/password_reset/", {"email": "alice@example.com"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 5
