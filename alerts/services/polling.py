"""One poll for every live alert: batched prices, crossing detection, re-arming, e-mail once; and the
market-cap ranking of coins, under the same back-off."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from alerts.models import PriceAlert, PriceTick, ProviderState
from alerts.services import coingecko
from eventsys.publish import publish_many

logger = logging.getLogger(__name__)
PROVIDER = "coingecko"


@dataclass
class PollResult:
    pairs: int = 0
    calls: int = 0
    quotes: int = 0
    triggered: list[int] = field(default_factory=list)
    rearmed: int = 0
    stale: int = 0
    skipped: str = ""  # why nothing was asked, if nothing was


@dataclass(frozen=True)
class Crossing:
    """A fresh price of one (coin, currency): what the matching statements take."""

    coin: str
    currency: str
    price: Decimal
    price_time: datetime
    price_before: Decimal | None


# A skip scan of each partial index: from one (coin, currency) to the next greater one, one index
# probe per pair, then one probe per pair for an alert not expired. A DISTINCT over the alerts reads
# every row (150 ms a poll at a million alerts, against 10 ms for 500 pairs).
_LIVE_PAIRS_SQL = """
WITH RECURSIVE live AS (
    (SELECT coin, currency FROM alerts_pricealert WHERE {waiting} ORDER BY coin, currency LIMIT 1)
    UNION ALL
    SELECT next.coin, next.currency FROM live CROSS JOIN LATERAL (
        SELECT coin, currency FROM alerts_pricealert
        WHERE {waiting} AND (coin, currency) > (live.coin, live.currency)
        ORDER BY coin, currency LIMIT 1
    ) AS next
)
SELECT live.coin, live.currency FROM live CROSS JOIN LATERAL (
    SELECT 1 FROM alerts_pricealert
    WHERE {waiting} AND coin = live.coin AND currency = live.currency
      AND (expires_at IS NULL OR expires_at > %s)
    LIMIT 1
) AS unexpired
"""
_WAITING_CONDITIONS = ("status = 'created'", "status = 'triggered' AND repeat")  # the two partial indexes


def live_pairs(*, now: datetime) -> list[tuple[str, str]]:
    """The distinct (coin, currency) pairs some alert is waiting on: live ones and re-armable ones."""
    if connection.vendor == "postgresql":
        pairs = set()
        with connection.cursor() as cursor:
            for waiting in _WAITING_CONDITIONS:
                cursor.execute(_LIVE_PAIRS_SQL.format(waiting=waiting), [now])
                pairs.update(cursor.fetchall())
        return sorted(pairs)
    waiting = Q(status=PriceAlert.Status.CREATED) | Q(status=PriceAlert.Status.TRIGGERED, repeat=True)
    not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    return sorted(set(PriceAlert.objects.filter(waiting, not_expired).values_list("coin", "currency").distinct()))


def price_poll(*, now: datetime | None = None) -> PollResult:
    """Ask CoinGecko for every pair in as few calls as its limits allow, record the prices, and
    trigger (or re-arm) the alerts they crossed. A 429 backs off; any other failure leaves alerts as
    they are."""
    now = now or timezone.now()
    result = PollResult()
    state, _ = ProviderState.objects.get_or_create(name=PROVIDER)
    if state.backoff_until and state.backoff_until > now:
        result.skipped = f"backing off until {state.backoff_until.isoformat()}"
        return result
    pairs = live_pairs(now=now)
    result.pairs = len(pairs)
    if not pairs:
        result.skipped = "no live alerts"
        return result
    coins = sorted({coin for coin, _ in pairs})
    currencies = sorted({currency for _, currency in pairs})
    wanted = set(pairs)
    step = settings.COINGECKO_IDS_PER_CALL
    # The quotes of every call are applied together (one statement per direction for the whole poll);
    # those already in when a later call fails are applied all the same.
    received: list[coingecko.Quote] = []
    for start in range(0, len(coins), step):
        chunk = coins[start : start + step]
        result.calls += 1
        quotes = _call_provider(state, coingecko.fetch_prices, chunk, currencies, now=now)
        if quotes is None:
            _apply_quotes(received, now=now, result=result)
            return result
        quotes = [q for q in quotes if (q.coin, q.currency) in wanted]
        result.quotes += len(quotes)
        received += quotes
    _apply_quotes(received, now=now, result=result)
    ProviderState.objects.filter(name=PROVIDER).update(
        backoff_until=None, consecutive_failures=0, last_error="", last_success_at=now
    )
    _prune_ticks(now=now)
    return result


def price_fetch(*, coin: str, currency: str, now: datetime | None = None) -> Decimal | None:
    """Ask CoinGecko for one (coin, currency) now and record the tick, for a caller that needs a current
    price between polls. None if it cannot be had: backing off, a failure (which counts towards the
    back-off as a poll's does), or no quote. Alerts are left to the next poll."""
    now = now or timezone.now()
    state, _ = ProviderState.objects.get_or_create(name=PROVIDER)
    if state.backoff_until and state.backoff_until > now:
        return None
    quotes = _call_provider(state, coingecko.fetch_prices, [coin], [currency], now=now)
    if quotes is None:
        return None
    quote = next((q for q in quotes if (q.coin, q.currency) == (coin, currency)), None)
    if quote is None:
        return None
    PriceTick.objects.create(
        coin=coin, currency=currency, price=quote.price, source_updated_at=quote.source_updated_at, fetched_at=now
    )
    return quote.price


_RANKING = {"what": "market-cap ranking", "kept": "the coins' ranks"}  # how _failed logs a ranking failure


def market_cap_ranks_fetch(*, now: datetime | None = None) -> dict[str, int] | None:
    """CoinGecko's market-cap ranks (id → rank) of its top coins: COINGECKO_RANKED_PAGES pages of 250,
    one /coins/markets call a page. None unless every page could be had (backing off, or a failure,
    which counts towards the back-off as a poll's does): part of a ranking would unrank the missing
    pages' coins."""
    now = now or timezone.now()
    state, _ = ProviderState.objects.get_or_create(name=PROVIDER)
    if state.backoff_until and state.backoff_until > now:
        logger.warning("market-cap ranking not fetched: backing off until %s", state.backoff_until.isoformat())
        return None
    ranks: dict[str, int] = {}
    for page in range(1, settings.COINGECKO_RANKED_PAGES + 1):
        entries = _call_provider(state, coingecko.fetch_market_cap_ranks, page, now=now, **_RANKING)
        if entries is None:
            return None
        for coin, rank in entries:
            if rank is not None:
                ranks.setdefault(coin, rank)  # a coin that moved to a later page between two calls keeps its first rank
        if len(entries) < coingecko.RANKING_PAGE_SIZE:
            break  # the last page
    return ranks


def _call_provider(state: ProviderState, fetch, *args, now: datetime, **failure_log):
    """What `fetch(*args)` (a coingecko fetch answering (outcome, data)) brought, or None after
    recording its failure (which counts towards the back-off; a 429 starts one)."""
    try:
        outcome, data = fetch(*args)
    except coingecko.BadPayload as exc:
        _failed(state, now=now, error=f"bad payload: {exc}", **failure_log)
        return None
    if not outcome.delivered:
        status, retry_after = outcome.status_code, outcome.retry_after
        _failed(state, now=now, error=outcome.error, status=status, retry_after=retry_after, **failure_log)
        return None
    return data


def _failed(
    state: ProviderState,
    *,
    now: datetime,
    error: str,
    status=None,
    retry_after=None,
    what: str = "price poll",
    kept: str = "prices and alerts",
) -> None:
    failures = state.consecutive_failures + 1
    backoff_until = None
    if status == 429:
        # Honour Retry-After; without one, back off exponentially (one poll interval, doubling, ≤ 1 h).
        seconds = retry_after or min(settings.PRICE_POLL_SECONDS * 2 ** (failures - 1), 3600)
        backoff_until = now + timedelta(seconds=seconds)
    logger.warning("%s failed (%s): %s left as they were", what, error or status, kept)
    ProviderState.objects.filter(name=PROVIDER).update(
        consecutive_failures=failures, last_error=(error or f"HTTP {status}")[:500], backoff_until=backoff_until
    )


def _apply_quotes(quotes: list[coingecko.Quote], *, now: datetime, result: PollResult) -> None:
    if not quotes:
        return
    max_age = timedelta(seconds=settings.PRICE_MAX_AGE_SECONDS)
    previous = _latest_prices({(q.coin, q.currency) for q in quotes})
    PriceTick.objects.bulk_create(
        PriceTick(
            coin=q.coin, currency=q.currency, price=q.price, source_updated_at=q.source_updated_at, fetched_at=now
        )
        for q in quotes
    )
    fresh = []
    for quote in quotes:
        if quote.source_updated_at is not None and now - quote.source_updated_at > max_age:
            result.stale += 1  # recorded, not acted on
        else:
            fresh.append(Crossing(quote.coin, quote.currency, quote.price, quote.source_updated_at or now,
                                  previous.get((quote.coin, quote.currency))))  # fmt: skip
    if not fresh:
        return
    result.rearmed += alerts_rearm_many(fresh, now=now)
    result.triggered += alerts_trigger_crossed_many(fresh, now=now)


# The latest tick of each pair: one probe of alerts_tick_latest per pair. A GROUP BY over the ticks
# reads a week of them (a million rows at 500 coins polled every 5 minutes: 200 ms a poll).
_LATEST_PRICES_SQL = """
SELECT p.coin, p.currency, latest.price
FROM unnest(%s::varchar[], %s::varchar[]) AS p(coin, currency)
CROSS JOIN LATERAL (
    SELECT price FROM alerts_pricetick
    WHERE coin = p.coin AND currency = p.currency
    ORDER BY id DESC LIMIT 1
) AS latest
"""


def _latest_prices(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    if not pairs:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            coins, currencies = zip(*pairs, strict=True)
            cursor.execute(_LATEST_PRICES_SQL, [list(coins), list(currencies)])
            return {(coin, currency): price for coin, currency, price in cursor.fetchall()}
    latest = PriceTick.objects.filter(
        id__in=PriceTick.objects.filter(coin__in={c for c, _ in pairs})
        .values("coin", "currency")
        .annotate(latest=Max("id"))
        .values("latest")
    )
    return {(t.coin, t.currency): t.price for t in latest if (t.coin, t.currency) in pairs}


# One conditional UPDATE per direction for the whole poll: only alerts still `created` flip, so
# two racing polls trigger an alert once; the partial index alerts_price_live serves the range
# condition for each (coin, currency) unnested from the arrays (PostgreSQL). Prices are bound as
# numeric: a float would make PostgreSQL cast the column and skip the index.
_TRIGGER_MANY_SQL = """
UPDATE alerts_pricealert AS a
SET status = 'triggered', triggered_at = %s, triggered_price = p.price, price_before = p.before,
    price_time = p.at, trigger_count = a.trigger_count + 1, notified_at = NULL, updated_at = %s
FROM unnest(%s::varchar[], %s::varchar[], %s::numeric[], %s::numeric[], %s::timestamptz[])
    AS p(coin, currency, price, before, at)
WHERE a.status = 'created' AND a.coin = p.coin AND a.currency = p.currency
  AND a.direction = %s AND a.target_price {op} p.price AND (a.expires_at IS NULL OR a.expires_at > %s)
RETURNING a.id, a.trigger_count
"""
_TRIGGER_ONE_SQL = """
UPDATE alerts_pricealert
SET status = 'triggered', triggered_at = %s, triggered_price = %s, price_before = %s, price_time = %s,
    trigger_count = trigger_count + 1, notified_at = NULL, updated_at = %s
WHERE status = 'created' AND coin = %s AND currency = %s AND direction = %s AND target_price {op} %s
  AND (expires_at IS NULL OR expires_at > %s)
RETURNING id, trigger_count
"""
_DIRECTIONS = (("above", "<="), ("below", ">="))


def _probe_index_per_pair(cursor) -> None:
    """For the rest of this transaction (PostgreSQL), join the polled pairs to the alerts by a
    nested loop over the partial index, one range per pair.

    The planner cannot see the prices inside the arrays: it expects hundreds of matches per pair and
    picks a hash join over a scan of every alert (150 ms a statement at a million alerts, against
    5 ms for the ranges); a poll touches a few alerts per coin, so the index is always right here.
    """
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")


@transaction.atomic
def alerts_trigger_crossed_many(crossings: list[Crossing], *, now: datetime) -> list[int]:
    """Flip to triggered every live alert these prices crossed; e-mails are enqueued on commit."""
    fired: list[tuple[int, int]] = []
    with connection.cursor() as cursor:
        _probe_index_per_pair(cursor)
        for direction, op in _DIRECTIONS:
            if connection.vendor == "postgresql":
                arrays = [
                    [getattr(c, f) for c in crossings]
                    for f in ("coin", "currency", "price", "price_before", "price_time")
                ]
                cursor.execute(_TRIGGER_MANY_SQL.format(op=op), [now, now, *arrays, direction, now])
                fired += cursor.fetchall()
            else:  # SQLite has no arrays to unnest: one statement per pair
                for c in crossings:
                    params = [
                        now,
                        c.price,
                        c.price_before,
                        c.price_time,
                        now,
                        c.coin,
                        c.currency,
                        direction,
                        c.price,
                        now,
                    ]
                    cursor.execute(_TRIGGER_ONE_SQL.format(op=op), params)
                    fired += cursor.fetchall()
    if fired:
        transaction.on_commit(lambda: publish_many(_email_messages(fired), what="price-alert e-mails"))
    return [pk for pk, _ in fired]


EMAILS_PER_MESSAGE = 50


def _email_messages(fired: list[tuple[int, int]]) -> list[tuple]:
    """What a poll publishes for the e-mails of its triggerings. A few go out one message each; a burst
    is one message that a worker fans out from the alerts table, where the triggerings not yet
    e-mailed are already stored (building a message costs more than sending it: a poll that built one
    per fifty e-mails spent 50 to 100 ms of its time on five thousand)."""
    from alerts.tasks import fan_out_price_alert_emails, send_price_alert_email

    if len(fired) <= EMAILS_PER_MESSAGE:
        return [(send_price_alert_email, (pk, count)) for pk, count in fired]
    return [(fan_out_price_alert_emails, ())]


def price_alert_emails_fan_out(*, older_than: datetime | None = None) -> int:
    """Publish the e-mails of every triggering not yet e-mailed (all, or those triggered before
    `older_than`), fifty a message; the number of triggerings published.

    The alerts table is the outbox: a triggering's e-mail is owed from the commit that triggered it,
    so one whose message a broker outage lost is published again by the next run. Sending claims a
    stamp, so an e-mail published twice is sent once.
    """
    from alerts.tasks import send_price_alert_emails

    pending = PriceAlert.objects.filter(status=PriceAlert.Status.TRIGGERED, notified_at__isnull=True)
    if older_than is not None:
        pending = pending.filter(triggered_at__lt=older_than)
    owed = list(pending.order_by("triggered_at", "pk").values_list("pk", "trigger_count"))
    chunks = [owed[i : i + EMAILS_PER_MESSAGE] for i in range(0, len(owed), EMAILS_PER_MESSAGE)]
    publish_many(
        [(send_price_alert_emails, ([[pk, count] for pk, count in chunk],)) for chunk in chunks],
        what="price-alert e-mails",
    )
    return len(owed)


def alerts_trigger_crossed(
    *, coin: str, currency: str, price: Decimal, price_time: datetime, price_before: Decimal | None, now: datetime
) -> list[int]:
    """alerts_trigger_crossed_many for one (coin, currency)."""
    return alerts_trigger_crossed_many([Crossing(coin, currency, price, price_time, price_before)], now=now)


_REARM_MANY_SQL = """
UPDATE alerts_pricealert AS a SET status = 'created', updated_at = %s
FROM unnest(%s::varchar[], %s::varchar[], %s::numeric[]) AS p(coin, currency, price)
WHERE a.status = 'triggered' AND a.repeat AND a.coin = p.coin AND a.currency = p.currency
  AND a.direction = %s AND a.rearm_price {op} p.price
"""


@transaction.atomic
def alerts_rearm_many(crossings: list[Crossing], *, now: datetime) -> int:
    """Repeating alerts re-arm once the price has moved strictly back past their band, so a price
    hovering at the target never fires on every wiggle."""
    rearmed = 0
    if connection.vendor == "postgresql":
        arrays = [[getattr(c, f) for c in crossings] for f in ("coin", "currency", "price")]
        with connection.cursor() as cursor:
            _probe_index_per_pair(cursor)
            for direction, op in (("above", ">"), ("below", "<")):
                cursor.execute(_REARM_MANY_SQL.format(op=op), [now, *arrays, direction])
                rearmed += cursor.rowcount
        return rearmed
    for crossing in crossings:  # SQLite: one statement per pair
        waiting = PriceAlert.objects.filter(
            status=PriceAlert.Status.TRIGGERED, repeat=True, coin=crossing.coin, currency=crossing.currency
        )
        rearmed += (
            waiting.filter(direction=PriceAlert.Direction.ABOVE, rearm_price__gt=crossing.price)
            | waiting.filter(direction=PriceAlert.Direction.BELOW, rearm_price__lt=crossing.price)
        ).update(status=PriceAlert.Status.CREATED, updated_at=now)
    return rearmed


def _prune_ticks(*, now: datetime, batch_size: int = 5000) -> None:
    cutoff = now - timedelta(days=settings.PRICE_TICK_RETENTION_DAYS)
    ids = list(PriceTick.objects.filter(fetched_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
    if ids:
        PriceTick.objects.filter(pk__in=ids).delete()
