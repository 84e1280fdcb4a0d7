"""`?dry_run=true` on every create (and trigger and price-alert updates): the answer a real request
would get, marked `"dry_run": true`, with nothing stored, no e-mail and no message left to send."""

import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core import mail
from django.test import TestCase
from rest_framework.test import APIClient

from accounts.services import api_token_create
from alerts.models import Coin, PriceTick, Transaction
from events.services import attendee_register, event_create
from triggers.services import trigger_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PROJECT_APPS = ("accounts", "alerts", "events", "triggers", "ops")


def every_row() -> dict[str, list]:
    """Every row of every model of the project's apps, as stored."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS
    }


@contextmanager
def nothing_stored_or_sent():
    """Asserts that, inside, no row changed, no e-mail went and no callback was left to send anything
    once the request's transaction commits (broker messages, webhooks and e-mails all are)."""
    before, outbox = every_row(), len(mail.outbox)
    with TestCase.captureOnCommitCallbacks() as callbacks:
        yield
    assert callbacks == []
    assert len(mail.outbox) == outbox
    assert every_row() == before


def post(client, path: str, body, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


def test_a_dry_run_ingest_answers_the_receipts_and_stores_nothing(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=alice, name='box')[1]}")
    stored = post(client, "/api/v1/ingest/", {"event_type": "door", "event_payload": {}, "idempotency_key": "k1"})
    assert stored.status_code == 201

    body = [
        {"event_type": "door", "event_payload": {}, "idempotency_key": "k1"},
        {"event_type": "window", "event_payload": {"open": True}},
    ]
    with nothing_stored_or_sent():
        response = post(client, "/api/v1/ingest/?dry_run=true", body)

    assert response.status_code == 200 and response.data["dry_run"] is True
    assert response.data["accepted"] == 1 and response.data["duplicates"] == 1
    duplicate, accepted = response.data["receipts"]
    assert duplicate["status"] == "duplicate" and duplicate["id"] == stored.data["receipts"][0]["id"]
    assert accepted["status"] == "accepted" and accepted["id"] is None


def test_a_dry_run_transaction_answers_the_codes_that_would_fire(client_alice):
    with nothing_stored_or_sent():
        response = post(
            client_alice,
            "/api/v1/transactions/?dry_run=true",
            {"type": "withdraw", "amount": "150.00", "user_id": 7, "time": 1},
        )

    assert response.status_code == 200
    assert response.data == {
        "alert": True,
        "alert_codes": [1100],
        "user_id": 7,
        "evidence": {"1100": [{"id": None, "type": "withdraw", "amount": "150.00", "time": 1}]},
        "dry_run": True,
    }


def test_a_dry_run_transactions_evidence_names_the_stored_history(client_alice):
    for time in (1, 2):  # two withdrawals: a third in a row fires 30
        body = {"type": "withdraw", "amount": "1.00", "user_id": 7, "time": time}
        assert post(client_alice, "/api/v1/transactions/", body).status_code == 200
    stored = list(Transaction.objects.order_by("time").values_list("id", flat=True))

    with nothing_stored_or_sent():
        response = post(
            client_alice,
            "/api/v1/transactions/?dry_run=true",
            {"type": "withdraw", "amount": "1.00", "user_id": 7, "time": 3},
        )

    assert response.data["alert_codes"] == [30]
    assert [tx["id"] for tx in response.data["evidence"]["30"]] == [*stored, None]


def test_a_dry_run_resend_of_a_stored_key_answers_the_first_answer(client_alice):
    body = {"type": "withdraw", "amount": "150.00", "user_id": 7, "time": 1, "idempotency_key": "k"}
    first = post(client_alice, "/api/v1/transactions/", body)

    with nothing_stored_or_sent():
        again = post(client_alice, "/api/v1/transactions/?dry_run=true", body)

    assert again.data == {**first.data, "dry_run": True}  # no evidence: nothing was evaluated again


def test_a_dry_run_trigger_answers_its_next_runs_without_an_id_or_a_secret(client_alice):
    body = {"name": "nightly", "trigger_type": "scheduled", "cron": "0 2 * * *"}

    with nothing_stored_or_sent():
        response = post(client_alice, "/api/v1/triggers/?dry_run=true", body)

    assert response.status_code == 200 and response.data["dry_run"] is True
    assert response.data["id"] is None and response.data["signing_secret"] is None
    assert response.data["next_runs"][:2] == ["2026-11-24T02:00:00Z", "2026-11-25T02:00:00Z"]


def test_a_dry_run_trigger_update_answers_the_change_and_keeps_the_trigger(client_alice, alice):
    trigger = trigger_create(owner=alice, name="nightly", kind="scheduled", schedule_type="cron", cron="0 2 * * *")

    with nothing_stored_or_sent():
        response = client_alice.patch(
            f"/api/v1/triggers/{trigger.pk}/?dry_run=true", data={"cron": "30 6 * * *"}, format="json"
        )

    assert response.status_code == 200 and response.data["dry_run"] is True
    assert response.data["id"] == trigger.pk and response.data["next_run_at"] == "2026-11-24T06:30:00Z"


@pytest.mark.parametrize(("target", "would_fire"), [("90000", True), ("100000", False)])
def test_a_dry_run_price_alert_says_whether_it_would_fire_now(client_alice, target, would_fire):
    PriceTick.objects.create(coin="bitcoin", currency="usd", price=Decimal(95000), fetched_at=NOW)
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", market_cap_rank=1, refreshed_at=NOW)

    with nothing_stored_or_sent():
        response = post(
            client_alice,
            "/api/v1/price-alerts/?dry_run=true",
            {"coin": "bitcoin", "target_price": target, "direction": "above"},
        )

    assert response.status_code == 200 and response.data["dry_run"] is True
    assert response.data["id"] is None and response.data["would_fire_now"] is would_fire  # the price is 95,000


def test_a_dry_run_registration_answers_the_waiting_list_position(alice):
    event = event_create(
        organiser=alice,
        name="Full",
        location="Pune",
        start_time=NOW + timedelta(days=3),
        end_time=NOW + timedelta(days=3, hours=2),
        max_capacity=1,
    )
    attendee_register(event=event, name="Bob", email="bob@example.com")

    with nothing_stored_or_sent():
        response = post(
            APIClient(),
            f"/api/v1/events/{event.pk}/attendees/?dry_run=true",
            {"name": "Carol", "email": "carol@example.com", "waitlist": True},
        )

    assert response.status_code == 200 and response.data["dry_run"] is True
    assert response.data["status"] == "waitlisted" and response.data["position"] == 1
    assert response.data["id"] is None and response.data["cancel_token"] is None


def test_a_dry_run_answers_the_errors_a_real_request_would(client_alice):
    response = post(client_alice, "/api/v1/triggers/?dry_run=true", {"name": "", "trigger_type": "scheduled"})

    assert response.status_code == 400 and "name" in response.data and "dry_run" not in response.data


@pytest.mark.parametrize("value", ["yes", "1", "", "TRUE"])
def test_dry_run_is_true_or_false(client_alice, value):
    body = {"type": "withdraw", "amount": "150.00", "user_id": 7, "time": 1}

    with nothing_stored_or_sent():
        response = post(client_alice, f"/api/v1/transactions/?dry_run={value}", body)

    assert response.status_code == 400 and response.data["dry_run"] == ["Must be true or false."]


def test_dry_run_false_is_a_real_request(client_alice):
    body = {"name": "nightly", "trigger_type": "scheduled", "cron": "0 2 * * *"}

    response = post(client_alice, "/api/v1/triggers/?dry_run=false", body)

    assert response.status_code == 201 and response.data["id"] and "dry_run" not in response.data
