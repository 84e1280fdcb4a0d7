"""The dashboard's charts over the last 24 hours (a bar per hour) or 7 days (a bar per 6 hours), drawn as
SVG on the server (no script, no CDN). The counts come from eventsys/ops/rollup.py in a constant
number of queries; every bar links to the admin list of the rows it counts."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html, format_html_join

from alerts.models import TransactionType
from eventsys.ops.rollup import HOUR, SERIES, floor_hour, hourly_counts, lateness_quantile
from triggers.models import ExecutionLog

WIDTH, HEIGHT, GAP = 480, 120, 2
PALETTE = ["#417690", "#8e24aa", "#00897b", "#f4511e", "#3949ab", "#6d4c41", "#c0ca33"]
COLOURS = {
    "delivered": "#2e7d32",
    "failed": "#c62828",
    "pending": "#e69500",
    "none": "#78909c",
    "skipped": "#b0bec5",
    "deposit": "#2e7d32",
    "withdraw": "#c62828",
    "p99": "#e69500",
    "p50": "#417690",
}


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    bars: int
    bar: timedelta

    def first_bar(self, now: datetime) -> datetime:
        hour = floor_hour(now)
        aligned = hour - timedelta(hours=hour.hour % (self.bar // HOUR))
        return aligned - (self.bars - 1) * self.bar


RANGES = {
    "24h": Range("24h", "last 24 hours", 24, HOUR),
    "7d": Range("7d", "last 7 days", 28, 6 * HOUR),
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True)
class Chart:
    title: str
    changelist: str  # the admin list the bars link to
    time_column: str
    starts: list[datetime]  # each bar's first instant, oldest first
    bar: timedelta
    series: dict[str, list[float]]  # name -> a value per bar, drawn in this order
    filters: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> its list's extra filters
    stacked: bool = True  # False: each series drawn from the axis (p99 behind p50)
    unit: str = ""
    summary: str = ""

    @property
    def legend(self) -> list[tuple[str, str]]:
        return [(name, _colour(name, index)) for index, name in enumerate(self.series)] if len(self.series) > 1 else []

    @property
    def window_link(self) -> str:
        return self.link(self.starts[0], None)

    def link(self, start: datetime, end: datetime | None, name: str | None = None) -> str:
        params = {f"{self.time_column}__gte": _iso(start)}
        if end is not None:
            params[f"{self.time_column}__lt"] = _iso(end)
        params.update(self.filters.get(name, {}) if name else self.filters.get("*", {}))
        return f"{self.changelist}?{urlencode(params)}"

    def svg(self):
        values = self.series.values()
        columns = list(zip(*values, strict=True))
        peak = max((sum(c) if self.stacked else max(c) for c in columns), default=0) or 1
        bar = WIDTH / len(self.starts)
        rects = []
        for index, start in enumerate(self.starts):
            end = start + self.bar
            label = f"{_span(start, end)}: " + (
                ", ".join(f"{_figure(v[index], self.unit)} {n}" for n, v in self.series.items() if v[index]) or "none"
            )
            base = HEIGHT
            for order, (name, column) in enumerate(self.series.items()):
                height = column[index] / peak * HEIGHT
                if not height:
                    continue
                top = (base if self.stacked else HEIGHT) - height
                if self.stacked:
                    base = top
                box = (f"{value:.1f}" for value in (index * bar, top, bar - GAP, height))
                link = self.link(start, end, None if not self.stacked else name)
                rects.append((link, *box, _colour(name, order), label))
        body = format_html_join(
            "",
            '<a href="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect></a>',
            rects,
        )
        return format_html(
            '<svg class="ops-chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}'
            '<text class="ops-peak" x="{}" y="10" text-anchor="end" font-size="10" fill="#555">{}</text></svg>',
            WIDTH,
            HEIGHT,
            self.title,
            body,
            WIDTH - 2,
            f"top: {_figure(peak, self.unit)}" if any(map(any, columns)) else "",
        )


def dashboard_charts(*, now: datetime, range_key: str = DEFAULT_RANGE) -> list[Chart]:
    window = RANGES.get(range_key, RANGES[DEFAULT_RANGE])
    first = window.first_bar(now)
    starts = [first + index * window.bar for index in range(window.bars)]
    hourly = hourly_counts(SERIES, start=first, now=now)
    counts = {name: _per_bar(by_hour, first, window) for name, by_hour in hourly.items()}
    total = {name: sum(per_bar, Counter()) for name, per_bar in counts.items()}

    def series(name: str, keys: list[str]) -> dict[str, list[float]]:
        return {key or name: [counts[name][index][key] for index in range(window.bars)] for key in keys}

    def counted(title: str, name: str, changelist: str, keys: list[str], **options) -> Chart:
        shown = sum(total[name].values())
        return Chart(
            title,
            reverse(changelist),
            SERIES[name].time_column,
            starts,
            window.bar,
            series(name, keys),
            summary=f"{shown} in the {window.label} (UTC)",
            **options,
        )

    codes = sorted(total["transaction_alerts"], key=int)
    return [
        counted(
            "Firings by delivery outcome",
            "deliveries",
            "admin:triggers_executionlog_changelist",
            ExecutionLog.DeliveryStatus.values,
            filters={status: {"status__exact": status} for status in ExecutionLog.DeliveryStatus.values},
        ),
        _lateness_chart(counts["lateness"], total["lateness"], starts, window),
        counted("Events ingested", "ingested", "admin:events_ingestedevent_changelist", [""]),
        counted(
            "Transactions by type",
            "transactions",
            "admin:alerts_transaction_changelist",
            TransactionType.values,
            filters={kind: {"type__exact": kind} for kind in TransactionType.values},
        ),
        counted(
            "Transaction alerts by rule code",
            "transaction_alerts",
            "admin:alerts_transactionalert_changelist",
            codes,
            filters={code: {"code__exact": code} for code in codes},
        ),
        counted("Price polls", "price_polls", "admin:alerts_pricetick_changelist", [""]),
        counted("Price alerts triggered", "price_alerts_triggered", "admin:alerts_pricealert_changelist", [""]),
    ]


def _per_bar(hourly: Counter, first: datetime, window: Range) -> list[Counter[str]]:
    """Sum hourly (hour, key) counts into the window's bars, per key."""
    bars = [Counter() for _ in range(window.bars)]
    for (hour, key), count in hourly.items():
        index = int((hour - first) // window.bar)
        if 0 <= index < window.bars:
            bars[index][key] += count
    return bars


def _lateness_chart(per_bar: list[Counter[str]], total: Counter[str], starts, window: Range) -> Chart:
    p50 = [lateness_quantile(buckets, 0.5) or 0.0 for buckets in per_bar]
    p99 = [lateness_quantile(buckets, 0.99) or 0.0 for buckets in per_bar]
    overall = (lateness_quantile(total, 0.5), lateness_quantile(total, 0.99))
    summary = (
        f"p50 {_figure(overall[0], 's')}, p99 {_figure(overall[1], 's')} over {sum(total.values())} scheduled firings"
        if overall[0] is not None
        else "no scheduled firings"
    ) + f" in the {window.label} (UTC)"
    return Chart(
        "Dispatch lateness, p50 and p99",
        reverse("admin:triggers_executionlog_changelist"),
        "created_at",
        starts,
        window.bar,
        {"p99": p99, "p50": p50},
        filters={"*": {"source__exact": ExecutionLog.Source.SCHEDULE}},
        stacked=False,
        unit="s",
        summary=summary,
    )


def _colour(name: str, order: int) -> str:
    return COLOURS.get(name, PALETTE[order % len(PALETTE)])


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {unit}" if unit else f"{value:g}"


def _span(start: datetime, end: datetime) -> str:
    if end - start <= HOUR:
        return start.strftime("%H:00 UTC")
    return f"{start:%b %d %H:00} to {end:%H:00} UTC"


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
