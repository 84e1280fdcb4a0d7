"""The service's health as Prometheus metrics, read from the database when scraped.

Every figure is an aggregate over indexed columns, in a fixed number of queries whatever the size of
the tables, so each web process answers the same thing and nothing is counted in memory (which a
multi-process deployment would have to share). Gauges, not counters: a scrape tells the state now
(backlog, lateness, what failed in the last hour), which is what a deployment alerts on.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, Min
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.models import ProviderState
from events.models import IngestedEvent
from eventsys.ops.models import Heartbeat
from eventsys.ops.services import readiness_report
from triggers.models import ExecutionLog, Trigger

WINDOW = timedelta(hours=1)


class ServiceCollector(Collector):
    """One scrape's figures, as of `now` (a callable, so tests can freeze it)."""

    def __init__(self, now):
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now: datetime = self.now()
        yield from self._readiness(now)
        yield from self._triggers()
        yield from self._deliveries(now)
        yield from self._ingestion(now)
        yield from self._price_polls(now)

    def _readiness(self, now: datetime):
        checks = GaugeMetricFamily("eventsys_ready_check", "1 when the /api/ready/ check passes", labels=["check"])
        for name, check in readiness_report(now=now).items():
            checks.add_metric([name], 1.0 if check.ok else 0.0)
        yield checks
        ages = GaugeMetricFamily(
            "eventsys_heartbeat_age_seconds", "Seconds since beat or a worker was last heard", labels=["component"]
        )
        for component, seen_at in Heartbeat.objects.values_list("component", "seen_at"):
            ages.add_metric([component], max((now - seen_at).total_seconds(), 0.0))
        yield ages

    def _triggers(self):
        by_status = GaugeMetricFamily("eventsys_triggers", "Triggers by status", labels=["status"])
        counts = dict(Trigger.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in Trigger.Status.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield GaugeMetricFamily(
            "eventsys_triggers_failing",
            "Webhook triggers whose latest deliveries failed (consecutive_failures > 0)",
            value=Trigger.objects.filter(consecutive_failures__gt=0).count(),
        )

    def _deliveries(self, now: datetime):
        pending = ExecutionLog.objects.filter(status=ExecutionLog.DeliveryStatus.PENDING).aggregate(
            n=Count("id"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily("eventsys_deliveries_pending", "Webhook deliveries not finished", value=pending["n"])
        oldest = (now - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
        yield GaugeMetricFamily(
            "eventsys_deliveries_oldest_pending_seconds",
            "Age of the oldest unfinished delivery",
            value=max(oldest, 0.0),
        )
        recent = GaugeMetricFamily(
            "eventsys_executions_last_hour", "Firings logged in the last hour, by delivery status", labels=["status"]
        )
        counts = dict(
            ExecutionLog.objects.filter(created_at__gte=now - WINDOW)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        for status in ExecutionLog.DeliveryStatus.values:
            recent.add_metric([status], counts.get(status, 0))
        yield recent

    def _ingestion(self, now: datetime):
        yield GaugeMetricFamily(
            "eventsys_ingested_events_last_hour",
            "Events ingested in the last hour",
            value=IngestedEvent.objects.filter(received_at__gte=now - WINDOW).count(),
        )

    def _price_polls(self, now: datetime):
        age = GaugeMetricFamily(
            "eventsys_price_poll_age_seconds", "Seconds since a price source last answered", labels=["source"]
        )
        failures = GaugeMetricFamily(
            "eventsys_price_poll_failures", "Consecutive failed polls of a price source", labels=["source"]
        )
        for name, succeeded_at, failed in ProviderState.objects.values_list(
            "name", "last_success_at", "consecutive_failures"
        ):
            if succeeded_at is not None:
                age.add_metric([name], max((now - succeeded_at).total_seconds(), 0.0))
            failures.add_metric([name], failed)
        yield age
        yield failures
