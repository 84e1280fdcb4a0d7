"""Hourly counts behind the dashboard's charts.

Counting a million log rows on every page view is slow, and the logs themselves are deleted by the
retention task after two days, so a 7-day chart could not be drawn from them. The roll-up task
(`ops.rollup`, sent by beat) writes one HourlyCount row per series, UTC hour and key for the hours that
are over; the dashboard reads those, and counts only the hours after RollupMark from the source tables.

Hours within SETTLE of the mark are counted again on each run, because a delivery that is still
retrying changes its outcome; older hours are final. Which rows a series counts is declared once in
SERIES, and the roll-up and the live count run the same query.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Aggregate, Case, Count, DurationField, ExpressionWrapper, F, QuerySet, Value, When
from django.db.models.functions import TruncHour

from alerts.models import PriceAlert, PriceTick, Transaction, TransactionAlert
from events.models import IngestedEvent
from eventsys.ops.models import HourlyCount, RollupMark
from triggers.models import ExecutionLog

HOUR = timedelta(hours=1)
SETTLE = timedelta(hours=2)
BACKFILL = timedelta(days=7)
KEEP = timedelta(days=35)
MARK = "hourly"

# Upper bounds, in seconds, of the dispatch-lateness histogram (Prometheus style: "le"); then "+Inf".
LATENESS_BOUNDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
INF = "+Inf"

HourlyCounts = Counter[tuple[datetime, str]]  # (hour, key) -> count


@dataclass(frozen=True)
class Series:
    name: str
    rows: Callable[[], QuerySet]
    time_column: str
    key: Callable[[], object] | None = None  # an expression or column name splitting the count; None: one key ""
    measure: Callable[[], Aggregate] = field(default=lambda: Count("pk"))


def _lateness_bucket():
    """The histogram bucket of a scheduled firing (the rows carry `lateness`: _scheduled_firings)."""
    return Case(
        *(When(lateness__lte=timedelta(seconds=bound), then=Value(bound_key(bound))) for bound in LATENESS_BOUNDS),
        default=Value(INF),
    )


def bound_key(bound: float) -> str:
    return f"{bound:g}"


def _scheduled_firings() -> QuerySet:
    lateness = ExpressionWrapper(F("created_at") - F("scheduled_for"), output_field=DurationField())
    return ExecutionLog.objects.filter(source=ExecutionLog.Source.SCHEDULE).annotate(lateness=lateness)


SERIES = {
    series.name: series
    for series in [
        Series("deliveries", lambda: ExecutionLog.objects.all(), "created_at", key=lambda: F("status")),
        Series("lateness", _scheduled_firings, "created_at", key=_lateness_bucket),
        Series("ingested", lambda: IngestedEvent.objects.all(), "received_at"),
        Series("transactions", lambda: Transaction.objects.all(), "created_at", key=lambda: F("type")),
        Series("transaction_alerts", lambda: TransactionAlert.objects.all(), "created_at", key=lambda: F("code")),
        # A poll writes one tick per coin and currency, all with the poll's time.
        Series(
            "price_polls",
            lambda: PriceTick.objects.all(),
            "fetched_at",
            measure=lambda: Count("fetched_at", distinct=True),
        ),
        Series("price_alerts_triggered", lambda: PriceAlert.objects.all(), "triggered_at"),
    ]
}


def floor_hour(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count_hourly(series: Series, *, start: datetime, end: datetime | None) -> HourlyCounts:
    """One GROUP BY over the series' indexed time column, from `start` to `end` (None: no upper bound)."""
    column = series.time_column
    rows = series.rows().filter(**{f"{column}__gte": start})
    if end is not None:
        rows = rows.filter(**{f"{column}__lt": end})
    rows = rows.annotate(hour=TruncHour(column, tzinfo=UTC))
    keys = ["hour"]
    if series.key is not None:
        rows = rows.annotate(bucket=series.key())
        keys.append("bucket")
    counts: HourlyCounts = Counter()
    for row in rows.values(*keys).annotate(n=series.measure()).order_by():
        counts[(row["hour"], str(row.get("bucket", "")))] += row["n"]
    return counts


def rollup(*, now: datetime) -> int:
    """Write the hours that are over and not yet final; returns how many HourlyCount rows were written."""
    current = floor_hour(now)
    with transaction.atomic():
        mark, _ = RollupMark.objects.select_for_update().get_or_create(
            name=MARK, defaults={"through": current - BACKFILL}
        )
        start = max(min(mark.through, current) - SETTLE, current - BACKFILL)
        rows = [
            HourlyCount(series=series.name, hour=hour, key=key, count=count)
            for series in SERIES.values()
            for (hour, key), count in count_hourly(series, start=start, end=current).items()
        ]
        HourlyCount.objects.filter(hour__gte=start, hour__lt=current).delete()
        HourlyCount.objects.bulk_create(rows, batch_size=1000)
        HourlyCount.objects.filter(hour__lt=current - KEEP).delete()
        mark.through = current
        mark.save(update_fields=["through"])
    return len(rows)


def hourly_counts(names: Iterable[str], *, start: datetime, now: datetime) -> dict[str, HourlyCounts]:
    """Each named series' counts per (hour, key) from `start` on: rolled-up hours from HourlyCount, the
    rest counted now. 2 + len(names) queries, however many rows the source tables hold."""
    names = list(names)
    mark = RollupMark.objects.filter(name=MARK).values_list("through", flat=True).first()
    rolled_until = max(min(mark, floor_hour(now)), start) if mark else start
    counts: dict[str, HourlyCounts] = {name: Counter() for name in names}
    rolled = HourlyCount.objects.filter(series__in=names, hour__gte=start, hour__lt=rolled_until)
    for series, hour, key, count in rolled.values_list("series", "hour", "key", "count"):
        counts[series][(hour, key)] += count
    for name in names:
        counts[name].update(count_hourly(SERIES[name], start=rolled_until, end=None))
    return counts


def lateness_quantile(buckets: Counter[str], quantile: float) -> float | None:
    """The quantile of a lateness histogram (counts per upper bound), interpolated linearly within its
    bucket as Prometheus' histogram_quantile does; None when it is empty. A quantile that falls in the
    +Inf bucket is reported as the highest finite bound (the chart says "at least")."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = quantile * total
    below, lower = 0, 0.0
    for bound in LATENESS_BOUNDS:
        in_bucket = buckets.get(bound_key(bound), 0)
        if in_bucket and below + in_bucket >= rank:
            return lower + (bound - lower) * (rank - below) / in_bucket
        below += in_bucket
        lower = bound
    return float(LATENESS_BOUNDS[-1])
