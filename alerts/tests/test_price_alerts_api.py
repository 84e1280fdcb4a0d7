from datetime import UTC, datetime
from decimal import Decimal

import pytest

from alerts.models import PriceAlert, PriceTick

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def client_alice(api_client, alice, coingecko):
    api_client.force_authenticate(alice)
    return api_client


def create(client, **body):
    return client.post(
        "/api/v1/price-alerts/",
        {"coin": "bitcoin", "target_price": "65000", "direction": "above", **body},
        format="json",
    )


def test_create_with_a_decimal_string_target(client_alice):
    response = create(client_alice, target_price="65000.12345678")
    assert response.status_code == 201, response.data
    assert response.data["target_price"] == "65000.12345678" and response.data["status"] == "created"
    assert response.data["currency"] == "usd"
    assert PriceAlert.objects.get().target_price == Decimal("65000.12345678")


def test_a_symbol_resolves_to_a_coin_id_or_lists_the_candidates(client_alice):
    assert create(client_alice, coin="BTC").data["coin"] == "bitcoin"
    ambiguous = create(client_alice, coin="sol")  # two coins, neither in CoinGecko's market-cap ranking
    assert ambiguous.status_code == 400
    assert "solana" in ambiguous.data["coin"][0] and "wrapped-solana" in ambiguous.data["coin"][0]


def test_a_symbol_several_coins_share_names_the_best_ranked(client_alice, coingecko):
    coingecko.catalogue += [{"id": "avalanche-bridged-btc", "symbol": "btc", "name": "Avalanche Bridged BTC"}]
    coingecko.ranking = [("bitcoin", 1), ("avalanche-bridged-btc", 640)]
    response = create(client_alice, coin="btc")
    assert response.status_code == 201 and response.data["coin"] == "bitcoin", response.data


def test_direction_is_inferred_from_the_latest_price(client_alice):
    PriceTick.objects.create(coin="bitcoin", currency="usd", price=Decimal("60000"), fetched_at=NOW)
    assert create(client_alice, target_price="65000", direction=None).status_code == 400  # null is not a direction
    body = {"coin": "bitcoin", "target_price": "65000"}
    assert client_alice.post("/api/v1/price-alerts/", body, format="json").data["direction"] == "above"
    body["target_price"] = "55000"
    assert client_alice.post("/api/v1/price-alerts/", body, format="json").data["direction"] == "below"
    unknown = client_alice.post("/api/v1/price-alerts/", {"coin": "ethereum", "target_price": "1"}, format="json")
    assert unknown.status_code == 400 and "direction" in unknown.data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_price": "-1"}, "target_price"),
        ({"target_price": "0"}, "target_price"),
        ({"target_price": "lots"}, "target_price"),
        ({"target_price": "1.123456789"}, "target_price"),
        ({"direction": "sideways"}, "direction"),
        ({"coin": "notacoin"}, "coin"),
        ({"currency": "US Dollars"}, "currency"),
        ({"repeat": True, "rearm_band_percent": "100"}, "rearm_band_percent"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_alice, body, field):
    response = create(client_alice, **body)
    assert response.status_code == 400 and field in response.data, response.data
    assert not PriceAlert.objects.exists()


def test_another_users_alert_is_a_404(api_client, alice, bob, coingecko):
    api_client.force_authenticate(bob)
    bobs = create(api_client).data
    api_client.force_authenticate(alice)
    assert api_client.get(f"/api/v1/price-alerts/{bobs['id']}/").status_code == 404
    assert (
        api_client.patch(f"/api/v1/price-alerts/{bobs['id']}/", {"target_price": "1"}, format="json").status_code == 404
    )
    assert api_client.delete(f"/api/v1/price-alerts/{bobs['id']}/").status_code == 404
    assert api_client.get("/api/v1/price-alerts/").data["count"] == 0
    assert PriceAlert.objects.get().status == "created"


def test_list_filters_by_status_case_insensitively_and_by_coin(client_alice, alice):
    create(client_alice)
    create(client_alice, coin="ethereum", target_price="4000")
    PriceAlert.objects.filter(coin="ethereum").update(status="triggered")
    assert client_alice.get("/api/v1/price-alerts/?status=TRIGGERED").data["count"] == 1
    assert client_alice.get("/api/v1/price-alerts/?coin=bitcoin").data["count"] == 1
    assert client_alice.get("/api/v1/price-alerts/?status=sleeping").status_code == 400
    assert [a["coin"] for a in client_alice.get("/api/v1/price-alerts/?ordering=target_price").data["results"]] == [
        "ethereum",
        "bitcoin",
    ]


def test_list_query_count_is_constant(client_alice, django_assert_max_num_queries):
    for i in range(30):
        create(client_alice, target_price=str(60000 + i))
    with django_assert_max_num_queries(2):
        assert len(client_alice.get("/api/v1/price-alerts/?page_size=30").data["results"]) == 30


def test_changing_the_target_makes_a_triggered_alert_live_again(client_alice):
    created = create(client_alice).data
    PriceAlert.objects.update(status="triggered")
    response = client_alice.patch(f"/api/v1/price-alerts/{created['id']}/", {"target_price": "70000"}, format="json")
    assert response.status_code == 200 and response.data["status"] == "created"


def test_prices_lists_the_latest_per_coin(client_alice):
    for price in ("1", "2", "3"):
        PriceTick.objects.create(coin="bitcoin", currency="usd", price=Decimal(price), fetched_at=NOW)
    PriceTick.objects.create(coin="ethereum", currency="usd", price=Decimal("9"), fetched_at=NOW)
    response = client_alice.get("/api/v1/prices/")
    assert [(p["coin"], p["price"]) for p in response.data["results"]] == [
        ("bitcoin", "3.000000000000"),
        ("ethereum", "9.000000000000"),
    ]
