"""Price-alert backtests: when, over the last N days of CoinGecko's price history, an alert would have
fired, and how often with its re-arm band.

The history is /coins/{id}/market_chart (5-minutely for 1 day, hourly up to 90 days, daily beyond),
kept in the cache for PRICE_BACKTEST_CACHE_SECONDS per (coin, currency, days); the cache failing is a
miss, never an error. Each price is a poll of the live state machine (alerts.services.polling), in
the same order: a triggered repeating alert re-arms once the price is strictly past its re-arm price,
then a live alert triggers at or past its target, once, until it re-arms.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts.models import PriceAlert, ProviderState
from alerts.services import coingecko, polling, price_alerts
from eventsys.api.errors import DomainError

logger = logging.getLogger(__name__)
_CACHE_KEY = "alerts:market_chart:v1:{coin}:{currency}:{days}"


class PriceHistoryUnavailable(DomainError):
    status_code = 503
    code = "price_history_unavailable"
    default_detail = "CoinGecko's price history cannot be had now; try again shortly."


@dataclass(frozen=True)
class PricePoint:
    time: datetime
    price: Decimal

    @property
    def price_text(self) -> str:
        return f"{self.price:f}"


@dataclass(frozen=True)
class PriceBacktest:
    coin: str
    currency: str
    target_price: Decimal
    direction: str
    repeat: bool
    rearm_band_percent: Decimal
    rearm_price: Decimal | None
    days: int
    window_from: datetime
    window_to: datetime
    points: int
    first: PricePoint | None
    last: PricePoint | None
    lowest: PricePoint | None
    highest: PricePoint | None
    firings: list[PricePoint]
    status: str  # where the alert would be now: created (waiting) or triggered

    @property
    def count(self) -> int:
        return len(self.firings)

    @property
    def first_fired(self) -> PricePoint | None:
        return self.firings[0] if self.firings else None

    @property
    def last_fired(self) -> PricePoint | None:
        return self.firings[-1] if self.firings else None


def price_backtest(
    *,
    coin: str,
    target_price: Decimal,
    currency: str = "usd",
    direction: str = "",
    repeat: bool = False,
    rearm_band_percent: Decimal = Decimal(0),
    days: int = 30,
    now: datetime | None = None,
) -> PriceBacktest:
    """Replay the last `days` days of prices through an alert made at their start. Without a
    direction it is inferred from the first price, as creating an alert infers it from the current one.

    Raises ValidationError (coin unknown; no price to infer the direction from) or
    PriceHistoryUnavailable (CoinGecko backing off, unreachable, failing or answering nonsense)."""
    now = now or timezone.now()
    coin = price_alerts.coin_resolve(coin)
    currency = currency.lower()
    history = price_history(coin=coin, currency=currency, days=days, now=now)
    window_from = now - timedelta(days=days)
    points = [point for point in history if window_from <= point.time <= now]
    if not direction:
        if not points:
            raise ValidationError({"direction": ["Required: there is no price in this window to infer it from."]})
        above = target_price > points[0].price
        direction = PriceAlert.Direction.ABOVE if above else PriceAlert.Direction.BELOW
    alert = PriceAlert(
        coin=coin,
        currency=currency,
        target_price=target_price,
        direction=direction,
        repeat=repeat,
        rearm_band_percent=rearm_band_percent,
    )
    rearm_price = price_alerts._rearm_price(alert)  # the live alert's, to the digit
    firings, status = _replay(points, target_price=target_price, direction=direction, rearm_price=rearm_price)
    return PriceBacktest(
        coin=coin,
        currency=currency,
        target_price=target_price,
        direction=direction,
        repeat=repeat,
        rearm_band_percent=rearm_band_percent,
        rearm_price=rearm_price,
        days=days,
        window_from=window_from,
        window_to=now,
        points=len(points),
        first=points[0] if points else None,
        last=points[-1] if points else None,
        lowest=min(points, key=lambda point: point.price) if points else None,
        highest=max(points, key=lambda point: point.price) if points else None,
        firings=firings,
        status=status,
    )


def _replay(
    points: list[PricePoint], *, target_price: Decimal, direction: str, rearm_price: Decimal | None
) -> tuple[list[PricePoint], str]:
    """The live state machine over `points`: polling.alerts_rearm_many, then alerts_trigger_crossed_many,
    at each price. `rearm_price` None: the alert does not repeat."""
    above = direction == PriceAlert.Direction.ABOVE
    status, firings = PriceAlert.Status.CREATED, []
    for point in points:
        price = point.price
        if status == PriceAlert.Status.TRIGGERED and rearm_price is not None:
            past_band = rearm_price > price if above else rearm_price < price  # strictly past it
            status = PriceAlert.Status.CREATED if past_band else status
        crossed = target_price <= price if above else target_price >= price  # at or past the target
        if status == PriceAlert.Status.CREATED and crossed:
            status = PriceAlert.Status.TRIGGERED
            firings.append(point)
    return firings, str(status)


def price_history(*, coin: str, currency: str, days: int, now: datetime | None = None) -> list[PricePoint]:
    """CoinGecko's prices of `coin` in `currency` over the last `days` days, oldest first, from the
    cache when there. Raises ValidationError on `coin` when CoinGecko does not know it, and
    PriceHistoryUnavailable when the history cannot be had."""
    key = _CACHE_KEY.format(coin=coin, currency=currency, days=days)
    cached = _cache_get(key)
    if cached is not None:
        return [PricePoint(datetime.fromisoformat(when), Decimal(price)) for when, price in cached]
    now = now or timezone.now()
    state = ProviderState.objects.filter(name=polling.PROVIDER).first()
    if state is not None and state.backoff_until and state.backoff_until > now:
        # The price poll's back-off (after a 429) holds for backtests too: the quota is shared.
        wait = int((state.backoff_until - now).total_seconds()) + 1
        raise PriceHistoryUnavailable(
            f"CoinGecko asked us to slow down; try again after {state.backoff_until.isoformat()}.",
            headers={"Retry-After": str(wait)},
        )
    try:
        outcome, chart = coingecko.fetch_market_chart(coin, currency, days)
    except coingecko.BadPayload as exc:
        logger.warning("price history of %s in %s: bad payload: %s", coin, currency, exc)
        raise PriceHistoryUnavailable("CoinGecko answered the price history with something unexpected.") from exc
    if not outcome.delivered:
        if outcome.status_code in (400, 404):
            # CoinGecko's answer to a coin or currency it does not chart
            raise ValidationError({"coin": [f"CoinGecko has no price history of {coin!r} in {currency!r}."]})
        logger.warning("price history of %s in %s: %s", coin, currency, outcome.error or outcome.status_code)
        headers = {"Retry-After": str(int(outcome.retry_after))} if outcome.retry_after else None
        detail = f"CoinGecko could not give the price history ({outcome.error or f'HTTP {outcome.status_code}'})."
        raise PriceHistoryUnavailable(detail, headers=headers)
    points = [PricePoint(when, price) for when, price in chart]
    _cache_set(key, [(point.time.isoformat(), str(point.price)) for point in points])
    return points


def _cache_get(key: str):
    if settings.PRICE_BACKTEST_CACHE_SECONDS <= 0:
        return None
    try:
        return cache.get(key)
    except Exception:  # any backend's failure is a miss (the Redis one fails open already)
        logger.warning("price history cache unavailable for a read", exc_info=True)
        return None


def _cache_set(key: str, value) -> None:
    if settings.PRICE_BACKTEST_CACHE_SECONDS <= 0:
        return
    try:
        cache.set(key, value, timeout=settings.PRICE_BACKTEST_CACHE_SECONDS)
    except Exception:
        logger.warning("price history cache unavailable for a write", exc_info=True)
