"""CoinGecko: the catalogue of coins, their market-cap ranking and batched prices, through eventsys.http.

Prices are parsed as Decimal straight from the JSON text, never through a float.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from django.conf import settings

from eventsys.api.bounds import instant_error
from eventsys.http import Outcome, get_json

logger = logging.getLogger(__name__)
_CATALOGUE_MAX_BYTES = 16 * 1024 * 1024  # /coins/list is a few MB
RANKING_PAGE_SIZE = 250  # the most /coins/markets answers in one page
_RANKING_MAX_BYTES = 4 * 1024 * 1024  # a page is 250 coins of ~1 KB of market data each
_CHART_MAX_BYTES = 4 * 1024 * 1024  # 2,160 hourly points (90 days) of price, market cap and volume


@dataclass(frozen=True)
class Quote:
    coin: str
    currency: str
    price: Decimal
    source_updated_at: datetime | None


class BadPayload(ValueError):
    """CoinGecko answered, but not with what we asked for."""


def _headers() -> dict[str, str]:
    if not settings.COINGECKO_API_KEY:
        return {}
    # Paid plans use the pro host and header; the free (demo) plan its own.
    header = "x-cg-pro-api-key" if "pro-api." in settings.COINGECKO_API_URL else "x-cg-demo-api-key"
    return {header: settings.COINGECKO_API_KEY}


def fetch_prices(coins: list[str], currencies: list[str]) -> tuple[Outcome, list[Quote]]:
    """One /simple/price call for these coins in these currencies. Raises BadPayload on a malformed answer."""
    outcome, data = get_json(
        f"{settings.COINGECKO_API_URL}/simple/price",
        headers=_headers(),
        params={
            "ids": ",".join(coins),
            "vs_currencies": ",".join(currencies),
            "include_last_updated_at": "true",
            "precision": "full",
        },
        parse_float=Decimal,
    )
    if not outcome.delivered:
        return outcome, []
    if not isinstance(data, dict):
        raise BadPayload("the answer is not a JSON object")
    quotes = []
    for coin in coins:
        entry = data.get(coin)
        if entry is None:
            continue  # unknown to CoinGecko (or delisted): no quote
        if not isinstance(entry, dict):
            raise BadPayload(f"the entry for {coin} is not an object")
        source_time = _source_time(entry.get("last_updated_at"))
        for currency in currencies:
            value = entry.get(currency)
            if value is None:
                continue
            try:
                price = Decimal(value) if not isinstance(value, bool) else None
            except (InvalidOperation, TypeError, ValueError):
                price = None
            if price is None or not price.is_finite() or price <= 0:
                raise BadPayload(f"the price of {coin} in {currency} is not a positive number: {value!r}")
            quotes.append(Quote(coin, currency, price, source_time))
    return outcome, quotes


def fetch_catalogue() -> tuple[Outcome, list[dict]]:
    """/coins/list: every coin's id, symbol and name. Raises BadPayload on a malformed answer."""
    outcome, data = get_json(
        f"{settings.COINGECKO_API_URL}/coins/list", headers=_headers(), max_bytes=_CATALOGUE_MAX_BYTES
    )
    if not outcome.delivered:
        return outcome, []
    if not isinstance(data, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in data):
        raise BadPayload("the catalogue is not a list of coins")
    return outcome, data


def fetch_market_cap_ranks(page: int) -> tuple[Outcome, list[tuple[str, int | None]]]:
    """One page of /coins/markets by market cap in USD, largest first: (coin id, market_cap_rank) in
    CoinGecko's order, the rank None where CoinGecko gives none. A page shorter than RANKING_PAGE_SIZE
    is the last. Raises BadPayload on a malformed answer."""
    outcome, data = get_json(
        f"{settings.COINGECKO_API_URL}/coins/markets",
        headers=_headers(),
        params={
            "vs_currency": "usd",
            "order": "market_cap_desc",
            "per_page": str(RANKING_PAGE_SIZE),
            "page": str(page),
        },
        max_bytes=_RANKING_MAX_BYTES,
    )
    if not outcome.delivered:
        return outcome, []
    if not isinstance(data, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in data):
        raise BadPayload("the market ranking is not a list of coins")
    ranks = []
    for coin in data:
        rank = coin.get("market_cap_rank")
        valid = isinstance(rank, int) and not isinstance(rank, bool) and 0 < rank < 2**31  # fits the column
        ranks.append((coin["id"], rank if valid else None))
    return outcome, ranks


def fetch_market_chart(coin: str, currency: str, days: int) -> tuple[Outcome, list[tuple[datetime, Decimal]]]:
    """/coins/{id}/market_chart: the coin's prices in `currency` over the last `days` days, oldest first,
    as (UTC time, price). CoinGecko picks the spacing: 5-minutely for 1 day, hourly up to 90 days, daily
    beyond. An unknown coin is a delivered=False outcome with status 404. Raises BadPayload on a
    malformed answer."""
    outcome, data = get_json(
        f"{settings.COINGECKO_API_URL}/coins/{quote(coin, safe='')}/market_chart",
        headers=_headers(),
        params={"vs_currency": currency, "days": str(days), "precision": "full"},
        parse_float=Decimal,
        max_bytes=_CHART_MAX_BYTES,
    )
    if not outcome.delivered:
        return outcome, []
    prices = data.get("prices") if isinstance(data, dict) else None
    if not isinstance(prices, list):
        raise BadPayload("the market chart has no list of prices")
    points = []
    for entry in prices:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise BadPayload(f"a market chart point is not [time, price]: {entry!r}")
        milliseconds, value = entry
        valid = isinstance(milliseconds, int | Decimal) and not isinstance(milliseconds, bool)
        when = _source_time(int(milliseconds) // 1000) if valid and Decimal(milliseconds).is_finite() else None
        if when is None:
            raise BadPayload(f"a market chart point has no valid time: {entry!r}")
        if value is None:
            continue  # CoinGecko leaves a gap as null
        price = Decimal(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else None
        if price is None or not price.is_finite() or price <= 0:
            raise BadPayload(f"a market chart price is not a positive number: {value!r}")
        points.append((when + timedelta(milliseconds=int(milliseconds) % 1000), price))
    points.sort(key=lambda point: point[0])
    return outcome, points


def _source_time(updated: object) -> datetime | None:
    """`last_updated_at` (Unix seconds) as a UTC time; unknown (None) when absent or not a time we can
    store and render (eventsys.api.bounds), as a misbehaving upstream might send."""
    if isinstance(updated, bool) or not isinstance(updated, int | Decimal):
        return None
    try:
        when = datetime.fromtimestamp(int(updated), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return None if instant_error(when) else when
