"""The original transaction-alert API's `POST /api/events` (seed 004), over the transaction rules."""

import json

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from alerts.models import Transaction, TransactionAlert

pytestmark = pytest.mark.django_db

README_EXAMPLE = '{"type": "deposit", "amount": "42.00", "user_id": 1, "time": 10}'


@pytest.fixture
def legacy(alice, access_token):
    """A legacy client with alice's token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(alice)}")
    return client


def post(client, body):
    """POST `body` (a dict, or JSON text sent as it is) to /api/events, as the original's clients did."""
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/events", data=data, content_type="application/json")


def send(client, type, amount, time, user_id=1):
    response = post(client, {"type": type, "amount": amount, "user_id": user_id, "time": time})
    assert response.status_code == 200, response.content
    return response.json()


def test_readme_example_verbatim_answers_our_correct_rules(legacy, alice):
    # The README answers {"alert": true, "alert_codes": [123]} to this first deposit; rule 123 needs
    # deposits over 200 within 30 seconds, so a lone 42.00 fires nothing (README: migration notes).
    response = post(legacy, README_EXAMPLE)
    assert response.status_code == 200
    assert response.json() == {"alert": False, "alert_codes": [], "user_id": 1}
    stored = Transaction.objects.get()
    assert (stored.owner, stored.customer.external_id, stored.type, str(stored.amount), stored.time) == (
        alice,
        1,
        "deposit",
        "42.00",
        10,
    )


def test_readme_example_verbatim_after_deposits_that_make_123_fire(legacy):
    send(legacy, "deposit", "100.00", 0)
    send(legacy, "deposit", "100.00", 5)
    response = post(legacy, README_EXAMPLE)
    assert response.status_code == 200
    assert response.json() == {"alert": True, "alert_codes": [123], "user_id": 1}  # the README's answer


def test_readme_example_with_no_token_under_the_default_owner(settings, alice, api_client):
    settings.LEGACY_DEFAULT_OWNER = "alice"
    response = api_client.post("/api/events", data=README_EXAMPLE, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"alert": False, "alert_codes": [], "user_id": 1}
    assert Transaction.objects.get().owner == alice


def test_no_token_is_401_in_the_originals_style(api_client):
    response = api_client.post("/api/events", data=README_EXAMPLE, content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided."}
    assert not Transaction.objects.exists()


def test_a_default_owner_naming_no_user_is_still_401(settings, api_client):
    settings.LEGACY_DEFAULT_OWNER = "nobody"
    response = api_client.post("/api/events", data=README_EXAMPLE, content_type="application/json")
    assert response.status_code == 401 and set(response.json()) == {"message"}
    assert not Transaction.objects.exists()


def test_a_bad_token_is_401_and_an_api_token_works(api_client, alice):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    bad = post(api_client, README_EXAMPLE)
    assert bad.status_code == 401 and isinstance(bad.json()["message"], str)
    _, plaintext = api_token_create(user=alice, name="bank")
    machine = APIClient()
    machine.credentials(HTTP_X_ACCESS_TOKEN=plaintext)
    assert post(machine, README_EXAMPLE).status_code == 200
    assert Transaction.objects.get().owner == alice


# --- the four rules, through the legacy route --------------------------------------------------


@pytest.mark.parametrize(("amount", "expected"), [("100.00", []), ("100.01", [1100]), ("250", [1100])])
def test_1100_a_withdrawal_over_100(legacy, amount, expected):
    assert send(legacy, "withdraw", amount, 1)["alert_codes"] == expected


def test_30_three_withdrawals_in_a_row(legacy):
    assert send(legacy, "withdraw", "1.00", 1)["alert_codes"] == []
    assert send(legacy, "withdraw", "1.00", 2)["alert_codes"] == []
    assert send(legacy, "withdraw", "1.00", 3) == {"alert": True, "alert_codes": [30], "user_id": 1}
    assert send(legacy, "deposit", "1.00", 4)["alert_codes"] == []
    assert send(legacy, "withdraw", "1.00", 5)["alert_codes"] == []


def test_300_three_increasing_deposits(legacy):
    assert send(legacy, "deposit", "10.00", 100)["alert_codes"] == []
    assert send(legacy, "deposit", "20.00", 200)["alert_codes"] == []
    assert send(legacy, "deposit", "30.00", 300) == {"alert": True, "alert_codes": [300], "user_id": 1}


@pytest.mark.parametrize(("second_time", "expected"), [(30, [123]), (31, [])])
def test_123_the_window_is_30_of_the_originals_seconds(legacy, second_time, expected):
    assert send(legacy, "deposit", "150.00", 0)["alert_codes"] == []
    assert send(legacy, "deposit", "60.00", second_time)["alert_codes"] == expected


def test_the_codes_come_together_when_several_rules_fire(legacy):
    send(legacy, "withdraw", "1.00", 1)
    send(legacy, "withdraw", "1.00", 2)
    assert send(legacy, "withdraw", "500.00", 3) == {"alert": True, "alert_codes": [1100, 30], "user_id": 1}


def test_a_json_number_amount_is_read_exactly(legacy):
    # As floats these sum to 200.00000000000003 and would fire 123; as decimals they are exactly 200.
    for time, amount in enumerate(("76.54", "83.62", "7.44", "32.40"), start=1):
        body = f'{{"type": "deposit", "amount": {amount}, "user_id": 1, "time": {time}}}'
        response = post(legacy, body)
        assert response.status_code == 200 and 123 not in response.json()["alert_codes"]
    assert [str(t.amount) for t in Transaction.objects.order_by("time")] == ["76.54", "83.62", "7.44", "32.40"]


def test_user_id_is_echoed_and_names_separate_customers(legacy):
    send(legacy, "deposit", "150.00", 1, user_id=7)
    assert send(legacy, "deposit", "60.00", 2, user_id=8) == {"alert": False, "alert_codes": [], "user_id": 8}
    assert send(legacy, "deposit", "60.00", 3, user_id=7) == {"alert": True, "alert_codes": [123], "user_id": 7}


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"type", "amount", "user_id", "time"}),
        ({"type": "transfer", "amount": "1.00", "user_id": 1, "time": 1}, {"type"}),
        ({"type": "deposit", "amount": "abc", "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": "-1.00", "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": "0", "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": "1.001", "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": "1e400", "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": True, "user_id": 1, "time": 1}, {"amount"}),
        ({"type": "deposit", "amount": "1.00", "user_id": "x", "time": 1}, {"user_id"}),
        ({"type": "deposit", "amount": "1.00", "user_id": 0, "time": 1}, {"user_id"}),
        ({"type": "deposit", "amount": "1.00", "user_id": 1, "time": 1.5}, {"time"}),
        ({"type": "deposit", "amount": "1.00", "user_id": 1, "time": -1}, {"time"}),
        ({"type": "deposit", "amount": "1.00", "user_id": 1, "time": "soon"}, {"time"}),
        ({"type": None, "amount": None, "user_id": None, "time": None}, {"type", "amount", "user_id", "time"}),
    ],
)
def test_invalid_fields_are_400_with_one_message_per_field_and_nothing_is_stored(legacy, body, fields):
    response = post(legacy, body)
    assert response.status_code == 400
    message = response.json()["message"]
    assert set(message) == fields and all(isinstance(text, str) and text for text in message.values())
    assert set(response.json()) == {"message"}
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", '"deposit"', "{not json", ""])
def test_a_body_that_is_not_an_object_is_400_never_500(legacy, body):
    response = post(legacy, body)
    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert not Transaction.objects.exists()


def test_missing_fields_read_like_the_originals(legacy):
    response = post(legacy, {"type": "deposit", "amount": "1.00", "user_id": 1})
    assert response.status_code == 400
    assert response.json() == {"message": {"time": "This field is required."}}


# --- the same objects as /api/v1/ --------------------------------------------------------------


def test_legacy_and_v1_clients_see_the_same_transactions(legacy, client_alice, bob):
    send(legacy, "deposit", "100.00", 0)
    send(legacy, "deposit", "100.00", 5)
    send(legacy, "deposit", "42.00", 10)
    listed = client_alice.get("/api/v1/transactions/").json()["results"]
    assert [(t["user_id"], t["type"], t["amount"], t["time"]) for t in listed] == [
        (1, "deposit", "42.00", 10),
        (1, "deposit", "100.00", 5),
        (1, "deposit", "100.00", 0),
    ]
    assert listed[0]["answer"] == {"alert": True, "alert_codes": [123], "user_id": 1}
    [alert] = client_alice.get("/api/v1/transaction-alerts/").json()["results"]
    assert (alert["code"], alert["transaction_id"]) == (123, listed[0]["id"])

    # Someone else's: bob's customer 1 is not alice's, and alice's transactions are a 404 to him.
    bobs = APIClient()
    bobs.force_authenticate(bob)
    assert bobs.get(f"/api/v1/transactions/{listed[0]['id']}/").status_code == 404
    assert bobs.post("/api/events", data=README_EXAMPLE, content_type="application/json").json()["alert"] is False


def test_v1_history_counts_for_a_legacy_transaction(client_alice, legacy):
    for time in (0, 1):
        body = {"type": "withdraw", "amount": "5.00", "user_id": 3, "time": time}
        assert client_alice.post("/api/v1/transactions/", body, format="json").status_code == 200
    assert send(legacy, "withdraw", "5.00", 2, user_id=3)["alert_codes"] == [30]
    assert TransactionAlert.objects.get().code == 30


def test_the_cost_of_a_transaction_does_not_grow_with_history(legacy, django_assert_max_num_queries):
    send(legacy, "deposit", "1.00", 0)
    with django_assert_max_num_queries(12) as short:
        send(legacy, "deposit", "1.00", 1)
    queries = len(short.captured_queries)
    for time in range(2, 40):
        send(legacy, "withdraw", "1.00", time)
    with django_assert_max_num_queries(queries):
        send(legacy, "deposit", "1.00", 40)


def test_the_route_is_in_the_schema_under_the_legacy_tag(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/events"]["post"]
    assert operation["tags"] == ["legacy"] and operation["operationId"] == "legacy_transaction_create"
    assert {"200", "400", "401"} <= set(operation["responses"])
