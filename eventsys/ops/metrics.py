"""The service's health as Prometheus metrics (eventsys.ops.figures), read when scraped.

Gauges, not counters: a scrape tells the state now (backlog, lateness, what happened in the last
hour), read from the database, so every web process answers the same figures and nothing is counted
in memory that a multi-process deployment would have to share.
"""

from collections.abc import Iterator

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from eventsys.ops.figures import service_figures
from eventsys.ops.rollup import INF, LATENESS_BOUNDS, bound_key


class ServiceCollector(Collector):
    """One scrape's figures, as of `now()` (a callable, so tests can freeze it)."""

    def __init__(self, now):
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = service_figures(now=self.now())
        yield _labelled("eventsys_ready_check", "1 when the /api/ready/ check passes", "check",
                        {name: 1.0 if check.ok else 0.0 for name, check in figures.checks.items()})  # fmt: skip
        yield _labelled(
            "eventsys_heartbeat_age_seconds",
            "Seconds since beat or a worker was last heard",
            "component",
            {name: max((figures.now - seen).total_seconds(), 0.0) for name, seen in figures.heartbeats.items()},
        )
        yield _labelled("eventsys_triggers", "Triggers by status", "status", figures.triggers_by_status)
        yield GaugeMetricFamily(
            "eventsys_triggers_failing",
            "Webhook triggers whose latest deliveries failed (consecutive_failures > 0)",
            value=figures.triggers_failing,
        )
        yield GaugeMetricFamily(
            "eventsys_deliveries_pending", "Webhook deliveries not finished", value=figures.deliveries_pending
        )
        yield GaugeMetricFamily(
            "eventsys_deliveries_oldest_pending_seconds",
            "Age of the oldest unfinished delivery",
            value=figures.oldest_pending_seconds,
        )
        yield _labelled(
            "eventsys_executions_last_hour",
            "Firings logged in the last hour, by delivery status",
            "status",
            figures.executions_last_hour,
        )
        yield GaugeMetricFamily(
            "eventsys_ingested_events_last_hour", "Events ingested in the last hour", value=figures.ingested_last_hour
        )
        yield _labelled(
            "eventsys_price_poll_age_seconds",
            "Seconds since a price source last answered",
            "source",
            {
                source.name: max((figures.now - source.last_success_at).total_seconds(), 0.0)
                for source in figures.price_sources
                if source.last_success_at is not None
            },
        )
        yield _labelled(
            "eventsys_price_poll_failures",
            "Consecutive failed polls of a price source",
            "source",
            {source.name: source.consecutive_failures for source in figures.price_sources},
        )
        yield GaugeMetricFamily(
            "eventsys_alert_emails_unsent",
            "Triggered price alerts whose e-mail has not been sent yet",
            value=figures.alert_emails_unsent,
        )
        yield GaugeMetricFamily(
            "eventsys_alert_emails_oldest_unsent_seconds",
            "Seconds since the oldest of them triggered",
            value=figures.oldest_unsent_email_seconds,
        )
        yield _lateness_histogram(figures.lateness_last_hour, figures.lateness_seconds_last_hour)


def _lateness_histogram(buckets, total_seconds: float) -> GaugeHistogramMetricFamily:
    """The last hour's scheduled firings by lateness, cumulative per upper bound as Prometheus expects."""
    cumulative, rows = 0, []
    for bound in LATENESS_BOUNDS:
        cumulative += buckets.get(bound_key(bound), 0)
        rows.append((bound_key(bound), cumulative))
    rows.append((INF, cumulative + buckets.get(INF, 0)))
    return GaugeHistogramMetricFamily(
        "eventsys_dispatch_lateness_seconds",
        "Scheduled firings of the last hour by how late they were logged after their slot",
        buckets=rows,
        gsum_value=total_seconds,
    )


def _labelled(name: str, documentation: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family
