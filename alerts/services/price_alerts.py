"""Price alerts: creating, changing and deleting them, resolving coins, and telling owners."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from alerts.models import Coin, PriceAlert, PriceTick
from alerts.services import coingecko, polling
from eventsys.api.errors import Conflict
from eventsys.service_arguments import reject_unknown_fields

logger = logging.getLogger(__name__)
EDITABLE_FIELDS = {"coin", "currency", "target_price", "direction", "repeat", "rearm_band_percent", "expires_at"}


class PriceAlertExists(Conflict):
    code = "price_alert_exists"
    default_detail = "You already have this alert, waiting to trigger."


def price_alerts_visible_to(user) -> QuerySet[PriceAlert]:
    return PriceAlert.objects.filter(owner=user)


def latest_prices() -> QuerySet[PriceTick]:
    """The latest tick of every (coin, currency) ever polled, in one query."""
    latest_ids = PriceTick.objects.values("coin", "currency").annotate(latest=Max("id")).values("latest")
    return PriceTick.objects.filter(id__in=latest_ids)


def latest_price(*, coin: str, currency: str, since: datetime | None = None) -> Decimal | None:
    """The latest price recorded for (coin, currency), only if recorded at or after `since` when given."""
    ticks = PriceTick.objects.filter(coin=coin, currency=currency)
    if since is not None:
        ticks = ticks.filter(fetched_at__gte=since)
    return ticks.order_by("-id").values_list("price", flat=True).first()


def coins_refresh() -> int:
    """Replace the coin catalogue with CoinGecko's /coins/list and the coins' market-cap ranks with its
    ranking (market_cap_ranks_fetch); returns how many coins the catalogue holds. Without a ranking
    (a failure, a back-off) the catalogue is still replaced and the ranks already stored stay."""
    try:
        outcome, catalogue = coingecko.fetch_catalogue()
    except coingecko.BadPayload as exc:
        logger.warning("could not refresh the coin catalogue: %s", exc)
        return Coin.objects.count()
    if not outcome.delivered:
        logger.warning("could not refresh the coin catalogue: %s", outcome.error)
        return Coin.objects.count()
    ranks = polling.market_cap_ranks_fetch()
    now = timezone.now()
    coins = {c["id"]: c for c in catalogue}
    update_fields = ["symbol", "name", "refreshed_at"]
    if ranks is not None:
        update_fields.append("market_cap_rank")  # a coin outside the ranking fetched becomes unranked
    with transaction.atomic():
        Coin.objects.exclude(id__in=list(coins)).delete()
        # One upsert for the whole catalogue (in the backend's batches), ranks included: no query per coin.
        Coin.objects.bulk_create(
            [
                Coin(
                    id=c["id"],
                    symbol=str(c.get("symbol", "")).lower()[:50],
                    name=str(c.get("name", ""))[:200],
                    market_cap_rank=(ranks or {}).get(c["id"]),
                    refreshed_at=now,
                )
                for c in coins.values()
            ],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=update_fields,
        )
    return len(coins)


def coin_resolve(value: str) -> str:
    """A CoinGecko coin id for `value`: an id as it is, or a symbol (BTC). A symbol several coins share
    names the one with the best market-cap rank, if exactly one of them has it.

    Raises ValidationError on `coin`: unknown, or ambiguous (no candidate ranked, or a tie for the best
    rank) with the candidate ids listed.
    """
    value = value.strip().lower()
    if not Coin.objects.exists():
        coins_refresh()  # first use on a fresh install
    if not Coin.objects.exists():
        raise ValidationError({"coin": ["The coin list could not be loaded from CoinGecko; try again shortly."]})
    if Coin.objects.filter(id=value).exists():
        return value
    candidates = list(
        Coin.objects.filter(symbol=value)
        .order_by(F("market_cap_rank").asc(nulls_last=True), "id")
        .values_list("id", "market_cap_rank")[:10]
    )
    if len(candidates) == 1:
        return candidates[0][0]
    if candidates:
        (best, best_rank), (_, runner_up_rank) = candidates[:2]
        if best_rank is not None and best_rank != runner_up_rank:
            return best
        ids = ", ".join(coin for coin, _ in candidates)
        raise ValidationError({"coin": [f"{value!r} is the symbol of several coins; use an id: {ids}."]})
    raise ValidationError({"coin": [f"Unknown coin {value!r}: use a CoinGecko id such as bitcoin, or a symbol."]})


def _direction_for(*, coin: str, currency: str, target_price: Decimal) -> str:
    """A target above the current price waits for a rise, otherwise for a fall.

    The current price is the latest tick if at most PRICE_MAX_AGE_SECONDS old (a coin nobody waits on
    is not polled, so its last tick may be days old); otherwise CoinGecko is asked now.
    """
    fresh_since = timezone.now() - timedelta(seconds=settings.PRICE_MAX_AGE_SECONDS)
    current = latest_price(coin=coin, currency=currency, since=fresh_since)
    if current is None:
        current = polling.price_fetch(coin=coin, currency=currency)
    if current is None:
        raise ValidationError(
            {"direction": ["Required: no recent price of this coin is known to infer it from; try again shortly."]}
        )
    return PriceAlert.Direction.ABOVE if target_price > current else PriceAlert.Direction.BELOW


def price_alert_would_fire(*, alert: PriceAlert) -> bool | None:
    """Whether the latest recent price (PRICE_MAX_AGE_SECONDS) already crosses the alert's target;
    None when no recent price is known."""
    fresh_since = timezone.now() - timedelta(seconds=settings.PRICE_MAX_AGE_SECONDS)
    current = latest_price(coin=alert.coin, currency=alert.currency, since=fresh_since)
    if current is None:
        return None
    if alert.direction == PriceAlert.Direction.ABOVE:
        return current >= alert.target_price
    return current <= alert.target_price


def price_alert_create(
    *,
    owner,
    coin: str,
    target_price: Decimal,
    currency: str = "usd",
    direction: str = "",
    refuse_duplicate: bool = False,
    **fields,
) -> PriceAlert:
    """Create a live alert. Without a direction, it is inferred from the current price
    (a target above it waits for a rise, otherwise for a fall).

    With `refuse_duplicate`, an identical alert of the owner still waiting (same coin, currency,
    target and direction) raises PriceAlertExists instead.
    """
    reject_unknown_fields(fields, EDITABLE_FIELDS, "price_alert_create")
    coin = coin_resolve(coin)
    currency = currency.lower()
    direction = direction or _direction_for(coin=coin, currency=currency, target_price=target_price)
    alert = PriceAlert(
        owner=owner, coin=coin, currency=currency, target_price=target_price, direction=direction, **fields
    )
    alert.rearm_price = _rearm_price(alert)
    alert.full_clean(exclude=["owner"])
    with transaction.atomic():
        if refuse_duplicate:
            # Two racing requests for the same alert: the owner's row lock makes the second one see the first.
            get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk").get()
            live = PriceAlert.objects.filter(
                owner=owner,
                coin=coin,
                currency=currency,
                direction=direction,
                target_price=target_price,
                status=PriceAlert.Status.CREATED,
            )
            if live.exists():
                raise PriceAlertExists()
        alert.save()
    return alert


@transaction.atomic
def price_alert_update(*, alert: PriceAlert, **changes) -> PriceAlert:
    """Change an alert; a changed target, coin or direction makes a triggered alert live again."""
    reject_unknown_fields(changes, EDITABLE_FIELDS, "price_alert_update")
    alert = PriceAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == PriceAlert.Status.DELETED:
        raise ValidationError({"status": ["A deleted alert cannot be changed."]})
    if "coin" in changes:
        changes["coin"] = coin_resolve(changes["coin"])
    for name, value in changes.items():
        setattr(alert, name, value)
    if {"coin", "currency", "target_price", "direction"} & set(changes):
        alert.status = PriceAlert.Status.CREATED
    alert.rearm_price = _rearm_price(alert)
    alert.full_clean(exclude=["owner"])
    alert.save()
    return alert


def _rearm_price(alert: PriceAlert) -> Decimal | None:
    """Where a repeating alert re-arms: the target moved back by the band (exact decimals)."""
    if not alert.repeat:
        return None
    band = alert.target_price * alert.rearm_band_percent / 100
    price = alert.target_price - band if alert.direction == PriceAlert.Direction.ABOVE else alert.target_price + band
    return price.quantize(Decimal("0.00000001"))


def price_alert_delete(*, alert: PriceAlert) -> None:
    """Mark deleted: kept for history, never polled again."""
    PriceAlert.objects.filter(pk=alert.pk).update(status=PriceAlert.Status.DELETED, updated_at=timezone.now())


def price_alert_rearm(*, alert: PriceAlert) -> None:
    """Make a triggered alert live again now (an operator's action)."""
    PriceAlert.objects.filter(pk=alert.pk, status=PriceAlert.Status.TRIGGERED).update(
        status=PriceAlert.Status.CREATED, updated_at=timezone.now()
    )


def price_alert_email_send(*, alert_id: int, trigger_count: int) -> bool:
    """E-mail the owner about one triggering, once.

    The sent stamp is claimed before sending, so two copies of the task cannot both send; a failed
    send releases it again for the retry.
    """
    claimed = PriceAlert.objects.filter(pk=alert_id, trigger_count=trigger_count, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return False
    alert = PriceAlert.objects.select_related("owner").get(pk=alert_id)
    if not alert.owner.email:
        return False
    moved = "risen to" if alert.direction == PriceAlert.Direction.ABOVE else "fallen to"
    currency = alert.currency.upper()
    observed_at: datetime = alert.price_time or alert.triggered_at
    try:
        send_mail(
            subject=f"{alert.coin} has {moved} {alert.triggered_price.normalize():f} {currency}",
            message=(
                f"Your alert: {alert.coin} {alert.direction} {alert.target_price.normalize():f} {currency}.\n"
                f"Observed price: {alert.triggered_price.normalize():f} {currency} at "
                f"{observed_at:%Y-%m-%d %H:%M:%S} UTC (CoinGecko).\n"
            ),
            from_email=None,
            recipient_list=[alert.owner.email],
        )
    except Exception:
        PriceAlert.objects.filter(pk=alert_id, trigger_count=trigger_count).update(notified_at=None)
        raise
    return True
