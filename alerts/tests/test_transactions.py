import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from accounts.services import api_token_create
from alerts.models import AlertRule, Customer, Transaction, TransactionAlert
from alerts.services.transactions import transaction_record

pytestmark = pytest.mark.django_db


def send(client, type, amount, time, user_id=1, **extra):
    body = json.dumps({"type": type, "amount": amount, "user_id": user_id, "time": time, **extra})
    return client.post("/api/v1/transactions/", data=body, content_type="application/json")


def codes(client, *transactions, user_id=1):
    """Send the transactions in order; the alert codes of the last one."""
    response = None
    for type, amount, time in transactions:
        response = send(client, type, amount, time, user_id=user_id)
        assert response.status_code == 200, response.data
    return response.data["alert_codes"]


@pytest.mark.parametrize(("amount", "expected"), [("100", []), ("100.00", []), ("100.01", [1100])])
def test_1100_a_withdrawal_over_100(client_alice, amount, expected):
    assert codes(client_alice, ("withdraw", amount, 1)) == expected


def test_1100_does_not_apply_to_deposits(client_alice):
    assert codes(client_alice, ("deposit", "500", 1)) == [123]  # only the deposit window rule


def test_30_three_withdrawals_in_a_row_and_again_on_the_fourth_and_fifth(client_alice):
    assert codes(client_alice, ("withdraw", "1", 1), ("withdraw", "1", 2)) == []
    assert codes(client_alice, ("withdraw", "1", 3)) == [30]
    assert codes(client_alice, ("withdraw", "1", 4)) == [30]
    assert codes(client_alice, ("withdraw", "1", 5)) == [30]


def test_30_a_deposit_breaks_the_streak(client_alice):
    assert codes(client_alice, ("withdraw", "1", 1), ("withdraw", "1", 2), ("deposit", "1", 3)) == []
    assert codes(client_alice, ("withdraw", "1", 4)) == []
    assert codes(client_alice, ("withdraw", "1", 5)) == []
    assert codes(client_alice, ("withdraw", "1", 6)) == [30]


@pytest.mark.parametrize(
    ("amounts", "expected"), [(("10", "20", "20"), []), (("30", "20", "10"), []), (("10", "20", "30"), [300])]
)
def test_300_three_strictly_increasing_deposits(client_alice, amounts, expected):
    assert codes(client_alice, *[("deposit", amount, time) for time, amount in enumerate(amounts)]) == expected


def test_300_ignores_withdrawals_in_between(client_alice):
    assert codes(
        client_alice, ("deposit", "10", 100), ("withdraw", "5", 150), ("deposit", "20", 200), ("withdraw", "5", 250),
        ("deposit", "30", 300),
    ) == [300]  # fmt: skip


@pytest.mark.parametrize(("second", "expected"), [("100", []), ("100.01", [123])])
def test_123_window_sum_over_200(client_alice, second, expected):
    assert codes(client_alice, ("deposit", "100", 10), ("deposit", second, 20)) == expected


def test_123_sums_exact_decimals(client_alice):
    # As floats these four sum to 200.00000000000003 and the original service fired 123.
    deposits = [("deposit", "76.54", 1), ("deposit", "83.62", 2), ("deposit", "7.44", 3), ("deposit", "32.40", 4)]
    assert 123 not in codes(client_alice, *deposits)


def test_123_a_json_number_is_read_exactly(client_alice):
    for time, amount in enumerate((76.54, 83.62, 7.44), start=1):
        send(client_alice, "deposit", amount, time)
    response = client_alice.post(
        "/api/v1/transactions/", data='{"type": "deposit", "amount": 32.40, "user_id": 1, "time": 4}',
        content_type="application/json",
    )  # fmt: skip
    assert 123 not in response.data["alert_codes"]
    assert Transaction.objects.order_by("-id").first().amount == Decimal("32.40")


@pytest.mark.parametrize(("earlier", "expected"), [(70, [123]), (69, [])])
def test_123_the_window_is_30_seconds_inclusive(client_alice, earlier, expected):
    assert codes(client_alice, ("deposit", "150", earlier), ("deposit", "60", 100)) == expected


def test_123_a_single_deposit_over_200(client_alice):
    assert codes(client_alice, ("deposit", "200.01", 5)) == [123]


def test_a_later_deposit_is_outside_an_earlier_transactions_window(client_alice):
    assert codes(client_alice, ("deposit", "150", 100)) == []
    # Arrives late with an earlier time: the 150 at t=100 is after it, so not in its window.
    assert codes(client_alice, ("deposit", "60", 80)) == []


def test_several_codes_at_once_in_priority_order(client_alice):
    assert codes(client_alice, ("withdraw", "1", 1), ("withdraw", "1", 2), ("withdraw", "150", 3)) == [1100, 30]
    assert codes(client_alice, ("deposit", "50", 1), ("deposit", "70", 2), ("deposit", "90", 3), user_id=2) == [
        300,
        123,
    ]


def test_out_of_order_arrival_takes_its_place_in_time(client_alice):
    # The withdrawal at t=2 arrives last; its history as of t=2 is: withdraw(1), withdraw(2).
    assert codes(client_alice, ("withdraw", "1", 1), ("withdraw", "1", 3), ("withdraw", "1", 2)) == []
    assert codes(client_alice, ("withdraw", "1", 4)) == [30]


def test_the_evidence_is_the_transactions_that_made_a_rule_fire(client_alice):
    codes(client_alice, ("deposit", "10", 1), ("withdraw", "1", 2), ("deposit", "20", 3), ("deposit", "30", 4))
    alert = TransactionAlert.objects.get(code=300)
    assert sorted(t.time for t in alert.evidence.all()) == [1, 3, 4]
    listed = client_alice.get("/api/v1/transaction-alerts/?code=300&user_id=1")
    assert listed.status_code == 200 and listed.data["count"] == 1
    assert sorted(listed.data["results"][0]["evidence"]) == sorted(t.pk for t in alert.evidence.all())


def test_a_constant_number_of_queries_whatever_the_history(client_alice, alice, django_assert_max_num_queries):
    customer = Customer.objects.create(owner=alice, external_id=1)
    Transaction.objects.bulk_create(
        Transaction(owner=alice, customer=customer, type="deposit", amount=Decimal("1"), time=t, answer={})
        for t in range(500)
    )
    for type, time in (("deposit", 1000), ("withdraw", 1001)):
        with django_assert_max_num_queries(12):  # the same bound with 0 or 500 earlier transactions
            assert send(client_alice, type, "500", time).status_code == 200


def test_disabled_and_edited_rules_take_effect(client_alice, api_client, admin_user):
    AlertRule.objects.filter(code=1100).update(enabled=False)
    assert codes(client_alice, ("withdraw", "150", 1)) == []
    staff = APIClient()
    staff.force_authenticate(admin_user)
    rule = AlertRule.objects.get(code=123)
    response = staff.patch(f"/api/v1/alert-rules/{rule.pk}/", {"window_seconds": 5, "threshold": "50"}, format="json")
    assert response.status_code == 200
    assert codes(client_alice, ("deposit", "40", 10), ("deposit", "20", 20), user_id=2) == []  # 10 s apart
    assert codes(client_alice, ("deposit", "40", 30), ("deposit", "20", 33), user_id=3) == [123]
    created = staff.post(
        "/api/v1/alert-rules/",
        {"code": 5000, "kind": "amount_over", "transaction_type": "withdraw", "threshold": "5000", "priority": 5},
        format="json",
    )
    assert created.status_code == 201
    assert codes(client_alice, ("withdraw", "6000", 1), user_id=4) == [5000]
    incomplete = staff.post(
        "/api/v1/alert-rules/", {"code": 5001, "kind": "window_sum", "transaction_type": "deposit"}, format="json"
    )
    assert incomplete.status_code == 400 and "threshold" in incomplete.data and "window_seconds" in incomplete.data


def test_rules_are_readable_by_users_and_writable_by_staff_only(client_alice):
    assert client_alice.get("/api/v1/alert-rules/").data["count"] == 4
    rule = AlertRule.objects.get(code=1100)
    assert client_alice.patch(f"/api/v1/alert-rules/{rule.pk}/", {"enabled": False}, format="json").status_code == 403


def test_an_idempotent_resend_answers_the_same_and_stores_nothing(client_alice):
    first = send(client_alice, "withdraw", "150", 1, idempotency_key="tx-1")
    again = send(client_alice, "withdraw", "150", 1, idempotency_key="tx-1")
    assert first.data == again.data == {"alert": True, "alert_codes": [1100], "user_id": 1}
    assert Transaction.objects.count() == 1 and TransactionAlert.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "transfer"}, "type"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"user_id": None}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"time": 10.5}, "time"),
        ({"time": "soon"}, "time"),
        ({"time": -1}, "time"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_alice, body, field):
    payload = {"type": "deposit", "amount": "10", "user_id": 1, "time": 1, **body}
    response = client_alice.post("/api/v1/transactions/", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 400 and field in response.data, response.data
    assert not Transaction.objects.exists()


def test_missing_user_id_is_a_400(client_alice):
    response = client_alice.post(
        "/api/v1/transactions/", data='{"type": "deposit", "amount": "1", "time": 1}', content_type="application/json"
    )
    assert response.status_code == 400 and "user_id" in response.data


def test_api_tokens_work_and_customers_are_per_caller(client_alice, bob):
    _, token = api_token_create(user=bob, name="bank")
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    codes(machine, ("withdraw", "1", 1), ("withdraw", "1", 2))
    # Alice's customer 1 is not Bob's customer 1.
    assert codes(client_alice, ("withdraw", "1", 3)) == []
    assert client_alice.get("/api/v1/transactions/?user_id=1").data["count"] == 1
    assert machine.get("/api/v1/transactions/").data["count"] == 2
    bobs_tx = Transaction.objects.filter(owner=bob).first()
    assert client_alice.get(f"/api/v1/transactions/{bobs_tx.pk}/").status_code == 404
    assert client_alice.get("/api/v1/transaction-alerts/").data["count"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock races need PostgreSQL (CI runs this)")
def test_concurrent_transactions_of_one_customer_neither_miss_nor_double_count(alice):
    # Transactional tests run last and empty the tables between them, migration data included.
    AlertRule.objects.get_or_create(
        code=30, defaults={"kind": "consecutive_type", "transaction_type": "withdraw", "count": 3, "priority": 20}
    )
    transaction_record(owner=alice, user_id=7, type="withdraw", amount=Decimal("1"), time=1)
    barrier = threading.Barrier(2)

    def withdraw(time):
        try:
            barrier.wait(timeout=10)
            return transaction_record(
                owner=alice, user_id=7, type="withdraw", amount=Decimal("1"), time=time
            ).alert_codes
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(withdraw, (2, 2)))
    # Serialised: the first to commit saw two withdrawals, the second saw three.
    assert sorted(results) == [[], [30]]


def test_all_rules_are_evaluated_in_one_look_back_query(client_alice, alice, django_assert_num_queries):
    from django.test.utils import CaptureQueriesContext

    send(client_alice, "deposit", "10", 1)  # the customer exists and the rules are loaded
    send(client_alice, "withdraw", "10", 2)
    # the same for a customer seen before and for a new one: no look-up, savepoint and insert on first sight
    for type, time, user_id in (("deposit", 3, 1), ("withdraw", 4, 1), ("deposit", 5, 2), ("withdraw", 6, 3)):
        with CaptureQueriesContext(connection) as queries:
            assert send(client_alice, type, "50", time, user_id=user_id).status_code == 200
        statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's atomic
        # lock (or create) the customer, read every rule's look-back at once, store the transaction
        assert len(statements) == 3, statements
        assert "ON CONFLICT" in statements[0] and "RETURNING" in statements[0]
        assert not any("alerts_alertrule" in sql for sql in statements)
    assert Customer.objects.filter(owner=alice).count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement stores alerts on PostgreSQL only")
def test_a_transaction_that_fires_rules_is_stored_with_its_alerts_and_evidence_in_one_statement(client_alice, alice):
    from django.test.utils import CaptureQueriesContext

    codes(client_alice, ("withdraw", "10", 1), ("withdraw", "20", 2))
    with CaptureQueriesContext(connection) as queries:
        assert codes(client_alice, ("withdraw", "150", 3)) == [1100, 30]
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 3, statements  # lock, look-back, store
    fired = Transaction.objects.get(owner=alice, time=3)
    alerts = {alert.code: alert for alert in TransactionAlert.objects.filter(transaction=fired)}
    assert sorted(alerts) == [30, 1100]
    assert [t.pk for t in alerts[1100].evidence.all()] == [fired.pk]
    assert sorted(t.time for t in alerts[30].evidence.all()) == [1, 2, 3]
    assert all(alert.customer_id == fired.customer_id and alert.owner_id == alice.pk for alert in alerts.values())
    assert alerts[30].rule.code == 30 and alerts[1100].created_at == fired.created_at


def test_a_rule_edited_in_this_process_applies_at_once_and_elsewhere_within_seconds(
    client_alice, admin_user, monkeypatch
):
    from alerts.services import transactions

    clock = [1000.0]
    monkeypatch.setattr(transactions.time_module, "monotonic", lambda: clock[0])
    assert codes(client_alice, ("withdraw", "150", 1)) == [1100]
    staff = APIClient()
    staff.force_authenticate(admin_user)
    rule = AlertRule.objects.get(code=1100)
    assert staff.patch(f"/api/v1/alert-rules/{rule.pk}/", {"threshold": "500"}, format="json").status_code == 200
    assert codes(client_alice, ("withdraw", "150", 1), user_id=2) == []  # this process: at once

    AlertRule.objects.filter(code=1100).update(threshold=Decimal("100"))  # another process's edit: no signal here
    assert codes(client_alice, ("withdraw", "150", 1), user_id=3) == []
    clock[0] += transactions.RULES_CACHE_SECONDS
    assert codes(client_alice, ("withdraw", "150", 1), user_id=4) == [1100]
