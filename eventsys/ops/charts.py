"""The dashboard's charts: the last 24 hours, hour by hour, drawn as SVG on the server (no script, no
CDN). Each series is one GROUP BY over an indexed time column, whatever the size of the table."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from events.models import IngestedEvent
from triggers.models import ExecutionLog

HOURS = 24
WIDTH, HEIGHT, GAP = 480, 120, 2
COLOURS = {"delivered": "#2e7d32", "failed": "#c62828", "pending": "#e69500", "none": "#78909c", "skipped": "#b0bec5"}


@dataclass(frozen=True)
class Chart:
    title: str
    link: str
    hours: list[datetime]  # the first instant of each hour, oldest first
    series: dict[str, list[int]]  # name -> a count per hour

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.series.values())

    def svg(self):
        """Stacked bars, one per hour; each bar's title tells its hour and counts."""
        peak = max((sum(column) for column in zip(*self.series.values(), strict=True)), default=0) or 1
        bar = WIDTH / len(self.hours)
        rects = []
        for index, hour in enumerate(self.hours):
            top = HEIGHT
            label = (
                hour.strftime("%H:00 UTC")
                + ": "
                + ", ".join(f"{n} {s}" for s, c in self.series.items() if (n := c[index]))
            )
            for name, counts in self.series.items():
                height = counts[index] / peak * HEIGHT
                if height:
                    top -= height
                    box = (index * bar, top, bar - GAP, height)
                    rects.append((*(f"{value:.1f}" for value in box), COLOURS.get(name, "#417690"), label))
        body = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            rects,
        )
        return format_html(
            '<svg class="ops-chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}">{}</svg>',
            WIDTH,
            HEIGHT,
            self.title,
            body,
        )


def dashboard_charts(*, now: datetime) -> list[Chart]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [start + timedelta(hours=index) for index in range(HOURS)]
    deliveries = _per_hour(
        ExecutionLog.objects.filter(created_at__gte=start),
        "created_at",
        "status",
        hours,
        ExecutionLog.DeliveryStatus.values,
    )
    ingested = _per_hour(IngestedEvent.objects.filter(received_at__gte=start), "received_at", None, hours, ["events"])
    return [
        Chart(
            "Firings per hour, by delivery outcome",
            reverse("admin:triggers_executionlog_changelist"),
            hours,
            deliveries,
        ),
        Chart("Events ingested per hour", reverse("admin:events_ingestedevent_changelist"), hours, ingested),
    ]


def _per_hour(
    queryset, column: str, split: str | None, hours: list[datetime], names: list[str]
) -> dict[str, list[int]]:
    series = {name: [0] * len(hours) for name in names}
    position = {hour: index for index, hour in enumerate(hours)}
    keys = ["hour", split] if split else ["hour"]
    rows = queryset.annotate(hour=TruncHour(column, tzinfo=UTC)).values(*keys).annotate(n=Count("pk")).order_by()
    for row in rows:
        index = position.get(row["hour"])
        name = row[split] if split else names[0]
        if index is not None and name in series:
            series[name][index] += row["n"]
    return series
