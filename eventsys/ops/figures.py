"""The service's figures as of now, read from the database in a fixed number of aggregate queries over
indexed columns: what /metrics exports and the admin dashboard judges."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Sum

from alerts.models import PriceAlert, ProviderState
from events.models import IngestedEvent
from eventsys.ops.models import Heartbeat
from eventsys.ops.rollup import SERIES, count_hourly
from eventsys.ops.services import Check, readiness_report
from triggers.models import ExecutionLog, Trigger

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class PriceSource:
    name: str
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str


@dataclass(frozen=True)
class Figures:
    now: datetime
    checks: dict[str, Check]
    heartbeats: dict[str, datetime]  # component -> last seen
    triggers_by_status: dict[str, int]
    triggers_failing: int
    deliveries_pending: int
    oldest_pending_at: datetime | None
    executions_last_hour: dict[str, int]  # delivery status -> count
    ingested_last_hour: int
    live_price_alerts: int
    price_sources: list[PriceSource]
    alert_emails_unsent: int = 0  # triggered price alerts whose e-mail has not gone out (yet)
    oldest_unsent_email_at: datetime | None = None  # when the oldest of them triggered
    lateness_last_hour: Counter[str] = field(default_factory=Counter)  # histogram bucket ("le") -> firings
    lateness_seconds_last_hour: float = 0.0  # their lateness added up (Prometheus' _gsum)

    @property
    def oldest_pending_seconds(self) -> float:
        return _age(self.now, self.oldest_pending_at)

    @property
    def oldest_unsent_email_seconds(self) -> float:
        return _age(self.now, self.oldest_unsent_email_at)


def service_figures(*, now: datetime) -> Figures:
    pending = ExecutionLog.objects.filter(status=ExecutionLog.DeliveryStatus.PENDING).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    unsent = PriceAlert.objects.filter(status=PriceAlert.Status.TRIGGERED, notified_at__isnull=True).aggregate(
        n=Count("id"), oldest=Min("triggered_at")
    )
    return Figures(
        now=now,
        checks=readiness_report(now=now),
        heartbeats=dict(Heartbeat.objects.values_list("component", "seen_at")),
        triggers_by_status=_counts(Trigger.objects.all(), "status", Trigger.Status.values),
        triggers_failing=Trigger.objects.filter(consecutive_failures__gt=0).count(),
        deliveries_pending=pending["n"],
        oldest_pending_at=pending["oldest"],
        executions_last_hour=_counts(
            ExecutionLog.objects.filter(created_at__gte=now - WINDOW), "status", ExecutionLog.DeliveryStatus.values
        ),
        ingested_last_hour=IngestedEvent.objects.filter(received_at__gte=now - WINDOW).count(),
        live_price_alerts=PriceAlert.objects.filter(status=PriceAlert.Status.CREATED).count(),
        price_sources=[
            PriceSource(*row)
            for row in ProviderState.objects.values_list(
                "name", "last_success_at", "consecutive_failures", "last_error"
            ).order_by("name")
        ],
        alert_emails_unsent=unsent["n"],
        oldest_unsent_email_at=unsent["oldest"],
        lateness_last_hour=_lateness_since(now - WINDOW),
        lateness_seconds_last_hour=_lateness_total_since(now - WINDOW),
    )


def _lateness_since(start: datetime) -> Counter[str]:
    buckets: Counter[str] = Counter()
    for (_, bucket), count in count_hourly(SERIES["lateness"], start=start, end=None).items():
        buckets[bucket] += count
    return buckets


def _lateness_total_since(start: datetime) -> float:
    total = SERIES["lateness"].rows().filter(created_at__gte=start).aggregate(total=Sum("lateness"))["total"]
    return total.total_seconds() if total else 0.0


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since else 0.0


def _counts(queryset, column: str, values: list[str]) -> dict[str, int]:
    found = dict(queryset.values_list(column).annotate(n=Count("id")).order_by())
    return {value: found.get(value, 0) for value in values}
