import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import PriceAlert, ProviderState
from alerts.services import polling
from alerts.services.price_alerts import price_alert_create

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
URL = "/api/v1/price-alerts/backtest/"
# Hourly prices, oldest first: above 100 with a 10 % band (re-arms strictly below 90) fires three times.
SERIES = ["95", "100", "105", "92", "90", "89.99", "101", "80", "99", "100.5", "98"]


def hours_ago(hours: int) -> int:
    return int((NOW - timedelta(hours=hours)).timestamp() * 1000) + 123  # CoinGecko's times are ms, not round


def chart(prices: list[str]) -> list[tuple[int, str]]:
    return [(hours_ago(len(prices) - index), price) for index, price in enumerate(prices)]


def backtest(client, **body):
    return client.post(URL, data=json.dumps({"coin": "bitcoin", **body}), content_type="application/json")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def charted(coingecko):
    coingecko.charts[("bitcoin", "usd")] = chart(SERIES)
    return coingecko


def test_fires_when_the_live_alert_would_and_again_after_its_band(client_alice, charted):
    response = backtest(
        client_alice, target_price="100", direction="above", repeat=True, rearm_band_percent="10", days=7
    )
    assert response.status_code == 200, response.data
    body = response.json()
    assert body["count"] == 3
    assert [f["price"] for f in body["firings"]] == ["100", "101", "100.5"]
    assert body["firings"][0]["time"] == "2026-03-03T02:00:00.123000Z"
    assert body["first_fired"] == body["firings"][0] and body["last_fired"] == body["firings"][-1]
    assert body["rearm_price"] == "90.00000000" and body["target_price"] == "100.00000000"
    assert body["points"] == len(SERIES) and body["status"] == "triggered"
    assert body["first"]["price"] == "95" and body["last"]["price"] == "98"
    assert body["lowest"]["price"] == "80" and body["highest"]["price"] == "105"
    assert body["window"] == {"from": "2026-02-24T12:00:00Z", "to": "2026-03-03T12:00:00Z"}
    [call] = charted.chart_calls()
    assert call["path"] == "/api/v3/coins/bitcoin/market_chart"
    assert call["query"] == {"vs_currency": "usd", "days": "7", "precision": "full"}
    once = backtest(client_alice, target_price="100", direction="above", days=7).json()
    assert once["count"] == 1 and once["rearm_price"] is None  # without repeat: once


def test_the_same_answer_as_the_live_polls_on_the_same_prices(client_alice, alice, charted):
    """Each price of the history, given to the live re-arm and trigger statements as a poll would, fires
    the same alert at the same prices as the backtest."""
    for direction, target, band in [("above", "100", "10"), ("below", "90", "5"), ("above", "100", "0")]:
        alert = price_alert_create(
            owner=alice,
            coin="bitcoin",
            target_price=Decimal(target),
            direction=direction,
            repeat=True,
            rearm_band_percent=Decimal(band),
        )
        live = []
        for ms, price in charted.charts[("bitcoin", "usd")]:
            when = datetime.fromtimestamp(ms / 1000, UTC)
            crossing = polling.Crossing("bitcoin", "usd", Decimal(price), when, None)
            polling.alerts_rearm_many([crossing], now=timezone.now())
            if alert.pk in polling.alerts_trigger_crossed_many([crossing], now=timezone.now()):
                live.append(price)
        body = backtest(
            client_alice, target_price=target, direction=direction, repeat=True, rearm_band_percent=band
        ).json()
        assert [f["price"] for f in body["firings"]] == live and live, (direction, target, band)
        alert.refresh_from_db()
        assert body["count"] == alert.trigger_count and body["status"] == alert.status
        PriceAlert.objects.filter(pk=alert.pk).update(status=PriceAlert.Status.DELETED)


def test_without_a_direction_it_is_inferred_from_the_first_price(client_alice, charted):
    assert backtest(client_alice, target_price="100").json()["direction"] == "above"  # first price 95
    below = backtest(client_alice, target_price="90").json()
    assert below["direction"] == "below" and below["count"] == 1  # 89.99 at or below 90


def test_the_history_is_cached_a_second_backtest_makes_no_call(client_alice, charted, settings):
    settings.PRICE_BACKTEST_CACHE_SECONDS = 300
    first = backtest(client_alice, target_price="100", direction="above").json()
    assert backtest(client_alice, target_price="100", direction="above").json() == first
    assert backtest(client_alice, target_price="95", direction="below").status_code == 200  # another target
    assert len(charted.chart_calls()) == 1
    assert backtest(client_alice, target_price="100", direction="above", days=8).status_code == 200
    assert len(charted.chart_calls()) == 2  # another history
    key = "alerts:market_chart:v1:bitcoin:usd:30"
    assert cache.get(key) is not None
    cache.delete(key)  # as when PRICE_BACKTEST_CACHE_SECONDS have passed
    assert backtest(client_alice, target_price="100", direction="above").status_code == 200
    assert len(charted.chart_calls()) == 3


def test_the_cache_keeps_the_history_for_the_setting_or_not_at_all(client_alice, charted, settings, monkeypatch):
    kept = []
    monkeypatch.setattr(cache, "set", lambda key, value, timeout: kept.append(timeout))
    backtest(client_alice, target_price="100", direction="above")
    assert kept == [300]
    settings.PRICE_BACKTEST_CACHE_SECONDS = 0
    monkeypatch.undo()
    for _ in range(2):
        assert backtest(client_alice, target_price="100", direction="above").status_code == 200
    assert len(charted.chart_calls()) == 3


def test_a_cache_outage_is_no_cache_not_an_error(client_alice, charted, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    for _ in range(2):
        assert backtest(client_alice, target_price="100", direction="above").status_code == 200
    assert len(charted.chart_calls()) == 2


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        ((500, {}, b"{}"), None),
        ((503, {"Retry-After": "30"}, b"{}"), "30"),
        ((429, {"Retry-After": "60"}, b'{"status": {"error_code": 429}}'), "60"),
        ((200, {}, b'{"prices": "none"}'), None),  # nonsense
        ((200, {}, b"not json"), None),
    ],
)
def test_coingecko_failing_is_a_503_not_a_500(client_alice, coingecko, answer, retry_after):
    coingecko.answers["/coins/bitcoin/market_chart"] = answer
    response = backtest(client_alice, target_price="100", direction="above")
    assert response.status_code == 503, response.data
    assert response.json()["code"] == "price_history_unavailable"
    assert response.headers.get("Retry-After") == retry_after


def test_coingecko_unreachable_is_a_503(client_alice, coingecko, settings):
    backtest(client_alice, target_price="100", direction="above")  # the coin list, while it answers
    coingecko.close()
    response = backtest(client_alice, target_price="100", direction="above")
    assert response.status_code == 503 and response.json()["code"] == "price_history_unavailable"


def test_the_poll_s_back_off_holds_for_backtests(client_alice, charted):
    backtest(client_alice, target_price="100", direction="above", days=2)  # the coin list
    ProviderState.objects.update_or_create(name="coingecko", defaults={"backoff_until": NOW + timedelta(seconds=42)})
    response = backtest(client_alice, target_price="100", direction="above")
    assert response.status_code == 503 and response.headers["Retry-After"] == "43"
    assert len(charted.chart_calls()) == 1


def test_unknown_coins_are_a_400_on_coin(client_alice, charted):
    response = backtest(client_alice, coin="no-such-coin", target_price="100", direction="above")
    assert response.status_code == 400 and "coin" in response.json()
    # known to the coin list, but CoinGecko has no chart of it (404)
    response = backtest(client_alice, coin="ethereum", target_price="100", direction="above")
    assert response.status_code == 400 and "coin" in response.json()
    assert backtest(client_alice, coin="btc", target_price="100").json()["coin"] == "bitcoin"  # a symbol


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 366}, "days"),
        ({"target_price": "0"}, "target_price"),
        ({"target_price": "1.123456789"}, "target_price"),
        ({"currency": "US Dollar"}, "currency"),
        ({"direction": "sideways"}, "direction"),
        ({"rearm_band_percent": "100"}, "rearm_band_percent"),
        ({"repeat": "yes"}, "repeat"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_alice, charted, body, field):
    response = backtest(client_alice, **{"target_price": "100", **body})
    assert response.status_code == 400, response.data
    assert field in response.json()
    assert charted.chart_calls() == []


def test_people_only_with_the_api_key(client_alice, charted, settings):
    assert backtest(APIClient(), target_price="100").status_code == 401
    settings.COINGECKO_API_KEY = "demo-key"
    assert backtest(client_alice, target_price="100").status_code == 200
    assert charted.chart_calls()[-1]["headers"]["x-cg-demo-api-key"] == "demo-key"


def test_the_schema_documents_the_backtest_with_examples(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/price-alerts/backtest/"]["post"]
    assert {"200", "400", "401", "503"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["examples"]
    assert operation["responses"]["200"]["content"]["application/json"]["examples"]


def test_backtests_have_their_own_throttle(client_alice, charted, monkeypatch):
    """Each history not cached yet costs a CoinGecko call: a user gets THROTTLE_PRICE_BACKTEST of them."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "price_backtest": "2/min"}
    )
    statuses = [backtest(client_alice, target_price="100", direction="above", days=d).status_code for d in (1, 2, 3)]
    assert statuses == [200, 200, 429]
    assert client_alice.get("/api/v1/price-alerts/").status_code == 200  # the other routes keep their own rate
