import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from alerts.models import AlertRule, Transaction, TransactionAlert
from alerts.services.backtest import rule_backtest
from alerts.services.transactions import transaction_evidence, transaction_record

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
CODES = (1100, 30, 300, 123)


def post(client, rule, body):
    return client.post(
        f"/api/v1/alert-rules/{rule.pk}/backtest/", data=json.dumps(body), content_type="application/json"
    )


@pytest.fixture
def staff(make_user):
    return make_user("operator", is_staff=True)


@pytest.fixture
def client_staff(api_client, staff):
    api_client.force_authenticate(staff)
    return api_client


def record_history(owners, *, seed: int, late: bool, customers: int = 6, per_customer: int = 45):
    """A random history through the live path, for several owners and customers: times mostly rising, with
    ties, and (with `late`) some transactions arriving after later ones. Half of it is stored 40 to 31 days
    ago (before a 30-day window), the rest in the last 30 days."""
    rng = random.Random(seed)
    clocks = {}
    plan = []
    for owner in owners:
        for user_id in range(1, customers + 1):
            clocks[owner.pk, user_id] = 1_000
            plan += [(owner, user_id)] * per_customer
    rng.shuffle(plan)
    for index, (owner, user_id) in enumerate(plan):
        clock = clocks[owner.pk, user_id] = clocks[owner.pk, user_id] + rng.choice([0, 0, 5, 10, 20, 40])
        time = clock - rng.randint(1, 60) if late and rng.random() < 0.15 else clock
        stored_at = NOW - timedelta(days=40) + timedelta(days=39) * index / len(plan)
        with time_machine.travel(stored_at, tick=False):
            transaction_record(
                owner=owner,
                user_id=user_id,
                type=rng.choice(["deposit", "withdraw"]),
                amount=Decimal(rng.randint(100, 16000)) / 100,
                time=max(time, 0),
            )


@pytest.mark.parametrize("late", [False, True], ids=["in-time-order", "with-late-arrivals"])
@time_machine.travel(NOW, tick=False)
def test_the_rule_as_it_is_fires_exactly_what_the_live_path_stored(alice, bob, late):
    record_history([alice, bob], seed=17 if late else 4, late=late)
    window_from = NOW - timedelta(days=30)
    window = Transaction.objects.filter(created_at__gte=window_from)
    assert 0 < window.count() < Transaction.objects.count()  # history before the window matters too
    if late:  # the late arrivals are really there
        assert any(
            Transaction.objects.filter(customer=tx.customer, pk__lt=tx.pk, time__gt=tx.time).exists()
            for tx in Transaction.objects.all()
        )
    for code in CODES:
        rule = AlertRule.objects.get(code=code)
        result = rule_backtest(rule=rule, changes={}, days=30)
        stored = TransactionAlert.objects.filter(rule=rule, transaction__created_at__gte=window_from)
        assert stored.count() > 0, code
        for side in (result.current, result.backtest):
            assert side.alerts == stored.count(), code
            assert side.customers == stored.values("customer").distinct().count(), code
            evidence = TransactionAlert.evidence.through.objects.filter(transactionalert__in=stored)
            assert side.transactions == evidence.values("transaction").distinct().count(), code
            # each example is a stored alert with the same evidence, oldest first
            assert len(side.examples) == min(20, stored.count())
            for example in side.examples:
                assert example["only_here"] is False
                live = transaction_evidence(transaction_id=example["transaction_id"])[str(code)]
                assert example["evidence"] == live, code
        assert result.recorded_alerts == stored.count()
        assert (result.added, result.removed, result.kept) == (0, 0, stored.count())
        assert result.replayed_transactions == window.count()
        assert result.replayed_customers == window.values("customer").distinct().count()
        # the latest alerts are the examples
        latest = list(stored.order_by("-transaction_id").values_list("transaction_id", flat=True)[:20])
        assert [example["transaction_id"] for example in result.backtest.examples] == latest


@time_machine.travel(NOW, tick=False)
def test_a_changed_threshold_fires_on_what_it_would_and_says_what_changes(alice, client_staff):
    rule = AlertRule.objects.get(code=1100)  # a withdrawal over 100
    for time, amount in enumerate(["90", "120", "150", "150.01", "300", "99"], start=1):
        transaction_record(owner=alice, user_id=7, type="withdraw", amount=Decimal(amount), time=time * 100)
    transaction_record(owner=alice, user_id=8, type="deposit", amount=Decimal("500"), time=1)  # not its type
    response = post(client_staff, rule, {"threshold": "150"})
    assert response.status_code == 200, response.data
    body = response.json()
    assert body["rule"]["threshold"] == "100.00" and body["changed"] == {"threshold": "150.00"}
    assert body["days"] == 30
    assert body["window"] == {"from": "2026-02-01T12:00:00Z", "to": "2026-03-03T12:00:00Z"}
    assert body["replayed"] == {"transactions": 7, "customers": 2}
    assert body["recorded"] == {"alerts": 4}
    assert {k: body["current"][k] for k in ("alerts", "transactions", "customers")} == {
        "alerts": 4,
        "transactions": 4,
        "customers": 1,
    }
    assert {k: body["backtest"][k] for k in ("alerts", "transactions", "customers")} == {
        "alerts": 2,
        "transactions": 2,
        "customers": 1,
    }
    assert body["difference"] == {"added": 0, "removed": 2, "kept": 2}
    # the current rule's examples: first those the change drops, then the latest
    amounts = [(e["amount"], e["only_here"]) for e in body["current"]["examples"]]
    assert amounts == [("150.00", True), ("120.00", True), ("300.00", False), ("150.01", False)]
    example = body["backtest"]["examples"][0]
    assert example["owner"] == "alice" and example["user_id"] == 7 and example["type"] == "withdraw"
    assert example["evidence"] == [
        {"id": example["transaction_id"], "type": "withdraw", "amount": "300.00", "time": 500}
    ]


@time_machine.travel(NOW, tick=False)
def test_a_changed_kind_and_window_are_evaluated_as_the_live_rule_would(alice, client_staff):
    rule = AlertRule.objects.get(code=123)  # deposits within 30 s summing to more than 200
    for time, amount in [(0, "150"), (40, "60"), (70, "60"), (100, "100")]:
        transaction_record(owner=alice, user_id=1, type="deposit", amount=Decimal(amount), time=time)
    assert TransactionAlert.objects.filter(rule=rule).count() == 0  # 150+60? 40 s apart: never within 30 s
    body = post(client_staff, rule, {"window_seconds": 60}).json()
    # [0, 40]: 210 fires; [10, 70]: 120; [40, 100]: 220 fires
    assert body["backtest"]["alerts"] == 2 and body["backtest"]["transactions"] == 4
    assert [len(e["evidence"]) for e in body["backtest"]["examples"]] == [3, 2]
    assert body["difference"] == {"added": 2, "removed": 0, "kept": 0}
    body = post(client_staff, rule, {"kind": "increasing_series", "count": 2}).json()
    assert body["backtest"]["alerts"] == 1  # 60 < 100 only (60 is not larger than 60)


@time_machine.travel(NOW, tick=False)
def test_only_the_window_is_replayed_but_the_history_before_it_counts(alice, client_staff):
    rule = AlertRule.objects.get(code=30)  # three withdrawals in a row
    with time_machine.travel(NOW - timedelta(days=10), tick=False):
        for time in (1, 2):
            transaction_record(owner=alice, user_id=1, type="withdraw", amount=Decimal("1"), time=time)
    transaction_record(owner=alice, user_id=1, type="withdraw", amount=Decimal("1"), time=3)
    week = post(client_staff, rule, {"days": 7}).json()
    assert week["replayed"]["transactions"] == 1
    assert week["current"]["alerts"] == 1 and week["current"]["transactions"] == 3  # evidence before the window
    assert post(client_staff, rule, {"days": 7, "count": 4}).json()["backtest"]["alerts"] == 0
    assert post(client_staff, rule, {"days": 11}).json()["replayed"]["transactions"] == 3


@time_machine.travel(NOW, tick=False)
def test_a_disabled_rule_is_backtested_as_if_switched_on(alice, client_staff):
    AlertRule.objects.filter(code=1100).update(enabled=False)
    transaction_record(owner=alice, user_id=1, type="withdraw", amount=Decimal("500"), time=1)
    body = post(client_staff, AlertRule.objects.get(code=1100), {}).json()
    assert body["rule"]["enabled"] is False
    assert body["recorded"]["alerts"] == 0 and body["current"]["alerts"] == body["backtest"]["alerts"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 91}, "days"),
        ({"days": "7"}, "days"),
        ({"count": 0}, "count"),
        ({"count": 101}, "count"),
        ({"threshold": "1.234"}, "threshold"),
        ({"threshold": None}, "threshold"),  # amount_over needs one
        ({"kind": "window_sum"}, "window_seconds"),  # the kind's parameters, as the admin checks them
        ({"kind": "nope"}, "kind"),
        ({"transaction_type": "refund"}, "transaction_type"),
        ({"window_seconds": -1}, "window_seconds"),
    ],
)
def test_bad_changes_are_a_400_naming_the_field(client_staff, body, field):
    response = post(client_staff, AlertRule.objects.get(code=1100), body)
    assert response.status_code == 400, response.data
    assert field in response.json()


def test_staff_only_and_unknown_rules_are_404(client_alice, api_client, staff):
    rule = AlertRule.objects.get(code=1100)
    assert post(client_alice, rule, {}).status_code == 403
    assert post(APIClient(), rule, {}).status_code == 401
    api_client.force_authenticate(staff)
    missing = AlertRule(pk=AlertRule.objects.order_by("-pk").first().pk + 1)
    assert post(api_client, missing, {}).status_code == 404


@time_machine.travel(NOW, tick=False)
def test_a_constant_number_of_queries_whatever_the_history(alice, bob):
    rule = AlertRule.objects.get(code=1100)
    counts = []
    for size in (5, 60):
        for n in range(size):
            owner = alice if n % 2 else bob
            transaction_record(owner=owner, user_id=n % 7 + 1, type="withdraw", amount=Decimal("150"), time=n)
        with CaptureQueriesContext(connection) as queries:
            result = rule_backtest(rule=rule, changes={"threshold": Decimal("120")}, days=30)
        assert result.backtest.alerts > 0
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 6, counts


@time_machine.travel(NOW, tick=False)
def test_the_schema_documents_the_backtest_with_examples(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/alert-rules/{id}/backtest/"]["post"]
    assert {"200", "400", "401", "403", "404"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["examples"]
    assert operation["responses"]["200"]["content"]["application/json"]["examples"]


@time_machine.travel(NOW, tick=False)
def test_the_admin_rule_page_links_to_a_backtest_page(alice, client, admin_user):
    rule = AlertRule.objects.get(code=1100)
    for amount in ("120", "300"):
        transaction_record(owner=alice, user_id=3, type="withdraw", amount=Decimal(amount), time=1)
    client.force_login(admin_user)
    page = f"/admin/alerts/alertrule/{rule.pk}/backtest/"
    assert page in client.get(f"/admin/alerts/alertrule/{rule.pk}/change/").content.decode()
    form = client.get(page)
    assert form.status_code == 200 and "Run the backtest" in form.content.decode()
    html = client.get(page, {"threshold": "150", "count": "", "days": "7", "run": "1"}).content.decode()
    assert "<td>as it is</td><td>2</td><td>2</td><td>1</td>" in html
    assert "<td>changed</td><td>1</td><td>1</td><td>1</td>" in html
    assert "removes 1 and keeps 1" in html and "120.00" in html
    bad = client.get(page, {"kind": "window_sum", "run": "1"}).content.decode()
    assert "window_seconds: Required for this kind of rule." in bad
    client.force_login(alice)
    assert client.get(page).status_code == 302  # to the admin's login
