"""GET /metrics: off by default, behind METRICS_TOKEN when set, and the figures are the database's,
read in a constant number of queries."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import ProviderState
from events.models import IngestedEvent
from eventsys.ops.models import Heartbeat
from triggers.models import ExecutionLog, Trigger
from triggers.services import trigger_create, trigger_fire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def enabled(settings, monkeypatch):
    settings.METRICS_ENABLED = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)


def samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def webhook(owner, name: str) -> Trigger:
    return trigger_create(
        owner=owner,
        name=name,
        kind="api",
        schedule_type="interval",
        schedule_time=NOW + timedelta(minutes=1),
        interval=5,
        api_endpoint="http://127.0.0.1:9/hook",
    )


def test_metrics_are_off_unless_enabled(client):
    assert client.get("/metrics").status_code == 404


def test_a_token_guards_them_when_set(client, enabled, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_the_figures_are_the_databases(client, enabled, alice, frozen):
    failing = webhook(alice, "broken")
    Trigger.objects.filter(pk=failing.pk).update(consecutive_failures=4)
    webhook(alice, "paused").status  # noqa: B018
    Trigger.objects.filter(name="paused").update(status="paused", next_run_at=None)
    trigger_fire(trigger=failing)  # pending: its delivery is not done
    ExecutionLog.objects.update(created_at=NOW - timedelta(minutes=10))
    Heartbeat.objects.create(component="beat", seen_at=NOW - timedelta(seconds=7))
    ProviderState.objects.create(name="coingecko", last_success_at=NOW - timedelta(minutes=5), consecutive_failures=2)
    IngestedEvent.objects.bulk_create(
        IngestedEvent(owner=alice, event_type="ping", event_payload={}, received_at=NOW - timedelta(minutes=m))
        for m in (1, 30, 90)
    )

    figures = samples(client.get("/metrics"))

    assert figures[("eventsys_triggers", (("status", "active"),))] == 1
    assert figures[("eventsys_triggers", (("status", "paused"),))] == 1
    assert figures[("eventsys_triggers_failing", ())] == 1
    assert figures[("eventsys_deliveries_pending", ())] == 1
    assert figures[("eventsys_deliveries_oldest_pending_seconds", ())] == 600
    assert figures[("eventsys_executions_last_hour", (("status", "pending"),))] == 1
    assert figures[("eventsys_heartbeat_age_seconds", (("component", "beat"),))] == 7
    assert figures[("eventsys_price_poll_age_seconds", (("source", "coingecko"),))] == 300
    assert figures[("eventsys_price_poll_failures", (("source", "coingecko"),))] == 2
    assert figures[("eventsys_ingested_events_last_hour", ())] == 2
    assert figures[("eventsys_ready_check", (("check", "database"),))] == 1
    assert figures[("eventsys_ready_check", (("check", "worker"),))] == 0  # never heard


def test_a_scrape_costs_the_same_queries_whatever_the_data(client, enabled, alice):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            samples(client.get("/metrics"))
        return len(captured)

    webhook(alice, "one")
    few = queries()
    for index in range(10):
        trigger_fire(trigger=webhook(alice, f"hook {index}"))
    ProviderState.objects.create(name="coingecko", last_success_at=NOW)
    Heartbeat.objects.create(component="worker", seen_at=NOW)
    assert queries() == few


def test_a_database_outage_fails_the_scrape_with_a_503_not_a_500(client, enabled, monkeypatch):
    from django.db import OperationalError

    def unreachable(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("eventsys.ops.metrics.service_figures", unreachable)
    response = client.get("/metrics")

    assert response.status_code == 503
    assert response.content == b"The database is unavailable.\n"


def test_the_lateness_histogram_and_unsent_alert_emails_are_exported(client, enabled, admin_user):
    from decimal import Decimal

    from alerts.models import PriceAlert

    trigger = webhook(admin_user, "hook")
    for seconds_late in (0.05, 0.3, 0.4, 7):
        log = trigger_fire(trigger=trigger)
        ExecutionLog.objects.filter(pk=log.pk).update(
            source="schedule", scheduled_for=NOW - timedelta(seconds=seconds_late), created_at=NOW
        )
    PriceAlert.objects.create(
        owner=admin_user,
        coin="bitcoin",
        target_price=Decimal(1),
        direction="above",
        status="triggered",
        triggered_at=NOW - timedelta(minutes=10),
    )

    found = samples(client.get("/metrics"))

    bucket = "eventsys_dispatch_lateness_seconds_bucket"
    assert found[(bucket, (("le", "0.1"),))] == 1
    assert found[(bucket, (("le", "0.5"),))] == 3  # cumulative, as Prometheus reads buckets
    assert found[(bucket, (("le", "10"),))] == found[(bucket, (("le", "+Inf"),))] == 4
    assert found[("eventsys_dispatch_lateness_seconds_gsum", ())] == pytest.approx(7.75)
    assert found[("eventsys_alert_emails_unsent", ())] == 1
    assert found[("eventsys_alert_emails_oldest_unsent_seconds", ())] == 600
