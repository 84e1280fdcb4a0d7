"""One Idempotency-Key contract on every create: a resend answers as the first did without doing it
again, another body under the key is a 409, concurrent duplicates create one object."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from alerts.models import Coin, PriceAlert, Transaction
from events.models import Attendee, Event, IngestedEvent
from events.services import event_create
from eventsys.api.idempotency import idempotency_keys_expire
from eventsys.ops.models import IdempotentRequest
from triggers.models import Trigger

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def post(client, path: str, body, key: str | None = "key-1", **extra):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers, **extra)


def an_event(owner) -> Event:
    start = timezone.now() + timedelta(days=3)
    return event_create(
        organiser=owner,
        name="Meetup",
        location="Pune",
        start_time=start,
        end_time=start + timedelta(hours=2),
        max_capacity=10,
    )


CREATES = {
    "trigger": ("/api/v1/triggers/", {"name": "nightly", "trigger_type": "scheduled", "cron": "0 2 * * *"}, Trigger),
    "event": (
        "/api/v1/events/",
        {
            "name": "Launch",
            "location": "Pune",
            "start_time": "2026-12-01T10:00:00Z",
            "end_time": "2026-12-01T12:00:00Z",
            "max_capacity": 5,
        },
        Event,
    ),
    "price alert": (
        "/api/v1/price-alerts/",
        {"coin": "bitcoin", "target_price": "90000", "direction": "above"},
        PriceAlert,
    ),
    "transaction": (
        "/api/v1/transactions/",
        {"type": "deposit", "amount": "5.00", "user_id": 1, "time": 1},
        Transaction,
    ),
    "API token": ("/api/v1/api-tokens/", {"name": "sensor box"}, ApiToken),
}


@pytest.fixture
def bitcoin():
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", market_cap_rank=1, refreshed_at=NOW)


@pytest.mark.parametrize("kind", CREATES)
@time_machine.travel(NOW, tick=False)
def test_a_resend_answers_as_the_first_did_and_creates_nothing_more(client_alice, bitcoin, kind):
    path, body, model = CREATES[kind]
    before = model.objects.count()

    first = post(client_alice, path, body)
    again = post(client_alice, path, body)

    assert first.status_code in (200, 201), first.data
    unkept = {"token": None} if kind == "API token" else {}  # kept only as a hash: a replay cannot show it
    assert (again.status_code, again.json()) == (first.status_code, {**first.json(), **unkept})
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert model.objects.count() == before + 1


@pytest.mark.parametrize("kind", CREATES)
@time_machine.travel(NOW, tick=False)
def test_another_body_under_the_same_key_is_a_409(client_alice, bitcoin, kind):
    path, body, model = CREATES[kind]
    post(client_alice, path, body)
    before = model.objects.count()

    changed = post(client_alice, path, {**body, "name": "other"} if "name" in body else {**body, "time": 99})

    assert changed.status_code == 409 and changed.data["code"] == "idempotency_key_reused"
    assert model.objects.count() == before


def test_ingest_and_registration_replay_too(alice):
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=alice, name='box')[1]}")
    body = {"event_type": "door", "event_payload": {"open": True}}
    assert post(machine, "/api/v1/ingest/", body).status_code == 201
    assert post(machine, "/api/v1/ingest/", body)["Idempotent-Replayed"] == "true"
    assert IngestedEvent.objects.count() == 1

    event = an_event(alice)
    visitor = APIClient()  # registration is public: the key belongs to "anonymous"
    registration = {"name": "Carol", "email": "carol@example.com"}
    first = post(visitor, f"/api/v1/events/{event.pk}/attendees/", registration, key="reg-1")
    again = post(visitor, f"/api/v1/events/{event.pk}/attendees/", registration, key="reg-1")
    assert first.status_code == 201 and again.json() == {**first.json(), "cancel_token": None}
    assert Attendee.objects.count() == 1

    # Another visitor who happens to use the same key is neither refused nor shown Carol's answer.
    dave = post(APIClient(), f"/api/v1/events/{event.pk}/attendees/", {"name": "Dave", "email": "d@example.com"},
                key="reg-1")  # fmt: skip
    assert dave.status_code == 201 and "Idempotent-Replayed" not in dave and dave.json()["name"] == "Dave"
    assert Attendee.objects.count() == 2


def test_keys_are_each_users_own(client_alice, bob):
    path, body, _ = CREATES["trigger"]
    client_bob = APIClient()
    client_bob.force_authenticate(bob)

    assert post(client_alice, path, body).status_code == 201
    assert post(client_bob, path, body).status_code == 201  # bob's key-1 is not alice's
    assert Trigger.objects.count() == 2


def test_a_refusal_is_not_kept_so_the_fixed_request_can_use_the_key(client_alice):
    path, body, _ = CREATES["trigger"]

    refused = post(client_alice, path, {**body, "cron": "not a cron"})
    fixed = post(client_alice, path, body)

    assert refused.status_code == 400 and fixed.status_code == 201
    assert IdempotentRequest.objects.get().state == "done"


def test_without_a_key_every_request_creates(client_alice):
    path, body, _ = CREATES["trigger"]
    for _ in range(2):
        assert post(client_alice, path, body, key=None).status_code == 201
    assert Trigger.objects.count() == 2 and not IdempotentRequest.objects.exists()


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
def test_a_malformed_key_is_a_400(client_alice, key):
    path, body, _ = CREATES["trigger"]

    response = post(client_alice, path, body, key=key)

    assert response.status_code == 400 and "Idempotency-Key" in response.data
    assert not Trigger.objects.exists()


def test_a_dry_run_keeps_no_key(client_alice):
    path, body, _ = CREATES["trigger"]

    assert post(client_alice, path + "?dry_run=true", body).status_code == 200
    assert post(client_alice, path, body).status_code == 201  # the key was free
    assert not IdempotentRequest.objects.filter(state="running").exists()


def test_keys_expire_after_the_retention(client_alice, settings):
    path, body, _ = CREATES["trigger"]
    with time_machine.travel(NOW, tick=False):
        post(client_alice, path, body)
    later = NOW + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS, seconds=1)

    with time_machine.travel(later, tick=False):
        assert post(client_alice, path, body).status_code == 201  # an expired key is a new request
    assert Trigger.objects.count() == 2
    assert idempotency_keys_expire(now=later + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS, seconds=1)) == 1


def test_a_request_that_died_running_is_taken_over(client_alice, alice):
    path, body, _ = CREATES["trigger"]
    with time_machine.travel(NOW, tick=False):
        post(client_alice, path, body)
    IdempotentRequest.objects.update(state="running", response_status=None, response_body=None)
    Trigger.objects.all().delete()  # its process died before committing what it created

    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        assert post(client_alice, path, body).data["code"] == "idempotency_key_in_progress"
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        assert post(client_alice, path, body).status_code == 201
    assert Trigger.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_object(alice):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every write: there is no race to lose")
    path, body, _ = CREATES["trigger"]
    start = threading.Barrier(4)

    def send(_):
        client = APIClient()
        client.force_authenticate(alice)
        start.wait()
        try:
            response = post(client, path, body, key="race")
            return response.status_code, response.data.get("code")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))

    assert Trigger.objects.count() == 1
    assert sorted(answers, key=str)[0][0] in (200, 201)
    assert {code for status, code in answers if status == 409} <= {"idempotency_key_in_progress"}
    assert sum(status == 201 for status, _ in answers) == 1


def test_beat_expires_the_keys_on_the_system_queue(client_alice, settings):
    from eventsys.ops.tasks import idempotency_expire

    entry = settings.CELERY_BEAT_SCHEDULE["eventsys.idempotency_expire"]
    assert entry["task"] == "eventsys.idempotency_expire" and entry["schedule"] <= timedelta(hours=1)
    assert settings.CELERY_TASK_ROUTES["eventsys.idempotency_expire"] == {"queue": "system"}
    path, body, _ = CREATES["trigger"]
    with time_machine.travel(NOW, tick=False):
        post(client_alice, path, body)
    with time_machine.travel(NOW + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS, minutes=1), tick=False):
        assert idempotency_expire.run() == 1
    assert not IdempotentRequest.objects.exists()


def test_no_credential_is_kept_in_the_clear_nor_shown_in_the_admin(client_alice, admin_client):
    token = post(client_alice, "/api/v1/api-tokens/", {"name": "box"}).json()["token"]
    secret = post(client_alice, *CREATES["trigger"][:2], key="key-2").json()["signing_secret"]

    assert token not in json.dumps(list(IdempotentRequest.objects.values_list("response_body", flat=True)))
    for record in IdempotentRequest.objects.all():
        page = admin_client.get(f"/admin/ops/idempotentrequest/{record.pk}/change/").content.decode()
        assert secret not in page and token not in page
