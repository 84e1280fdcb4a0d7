"""The admin's index is the operators' dashboard: every check and every job's health, green, amber or
red with the reason in words and a link to the list behind it, in a constant number of queries."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import ProviderState
from eventsys.ops.figures import Figures, PriceSource
from eventsys.ops.health import FAIL, OK, WARN, overall, service_health
from eventsys.ops.services import Check
from triggers.models import ExecutionLog, Trigger
from triggers.services import trigger_create, trigger_fire

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ALL_WELL = {name: Check(True, "fine") for name in ("database", "broker", "cache", "beat", "worker")}


def figures(**changes) -> Figures:
    values = {
        "now": NOW,
        "checks": ALL_WELL,
        "heartbeats": {},
        "triggers_by_status": {"active": 3, "paused": 0, "completed": 0, "disabled": 0},
        "triggers_failing": 0,
        "deliveries_pending": 0,
        "oldest_pending_at": None,
        "executions_last_hour": {},
        "ingested_last_hour": 12,
        "live_price_alerts": 0,
        "price_sources": [],
    }
    return Figures(**{**values, **changes})


def verdict(report, name):
    return next(item for item in report if item.name == name)


def test_all_well_is_green_everywhere():
    report = service_health(figures())
    assert overall(report) == OK
    assert verdict(report, "ingest").reason == "12 event(s) in the last hour"


@pytest.mark.parametrize(("age", "level"), [(30, OK), (120, WARN), (3600, FAIL)])
def test_the_delivery_backlog_is_judged_by_its_oldest_item(age, level):
    report = service_health(figures(deliveries_pending=4, oldest_pending_at=NOW - timedelta(seconds=age)))
    backlog = verdict(report, "delivery backlog")
    assert backlog.level == level and backlog.reason == f"4 waiting, the oldest for {age} s"
    assert backlog.link == "/admin/triggers/executionlog/?status__exact=pending"


def test_a_failing_check_is_red_and_a_failing_cache_amber():
    checks = {**ALL_WELL, "broker": Check(False, "unreachable: ConnectionRefusedError"), "cache": Check(False, "down")}
    report = service_health(figures(checks=checks))
    assert verdict(report, "broker").level == FAIL and "ConnectionRefusedError" in verdict(report, "broker").reason
    assert verdict(report, "cache").level == WARN
    assert overall(report) == FAIL


def test_failing_and_disabled_triggers_are_amber_and_link_to_their_lists():
    report = service_health(
        figures(triggers_failing=2, triggers_by_status={"active": 3, "paused": 0, "completed": 0, "disabled": 1})
    )
    assert verdict(report, "failing triggers").level == WARN
    assert verdict(report, "failing triggers").link == "/admin/triggers/trigger/?deliveries=failing"
    assert verdict(report, "disabled triggers").reason == "1 trigger(s) disabled after failing deliveries"
    assert overall(report) == WARN


def test_price_polls_are_judged_against_the_poll_interval(settings):
    settings.PRICE_POLL_SECONDS = 300
    stale = PriceSource("coingecko", NOW - timedelta(hours=1), 3, "429 Too Many Requests")
    fresh = PriceSource("coingecko", NOW - timedelta(minutes=4), 0, "")
    assert (
        verdict(service_health(figures(price_sources=[fresh], live_price_alerts=5)), "price polls (coingecko)").level
        == OK
    )
    late = verdict(service_health(figures(price_sources=[stale], live_price_alerts=5)), "price polls (coingecko)")
    assert late.level == FAIL and late.reason == "last answered 3600 s ago; 3 failure(s): 429 Too Many Requests"
    idle = verdict(service_health(figures(price_sources=[stale], live_price_alerts=0)), "price polls (coingecko)")
    assert idle.level == WARN  # nothing waits on it
    never = verdict(service_health(figures(live_price_alerts=2)), "price polls")
    assert never.level == WARN and never.reason == "never polled, 2 live alert(s) waiting"


def hourly_hook(owner, name: str = "hook") -> Trigger:
    """A webhook trigger firing every hour, to a port nothing listens on (nothing here delivers)."""
    return trigger_create(
        owner=owner, name=name, kind="api", schedule_type="cron", cron="0 * * * *", api_endpoint="http://127.0.0.1:9/h"
    )


@pytest.fixture
def staff(client, admin_user, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)
    client.force_login(admin_user)
    return client


def test_the_admin_index_shows_the_health_with_links(staff, admin_user):
    trigger = hourly_hook(admin_user)
    Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=3)

    page = staff.get("/admin/").content.decode()

    assert 'id="service-health"' in page and "Service health:" in page
    assert '<a href="/admin/triggers/trigger/?deliveries=failing">failing triggers</a>' in page
    assert "1 webhook trigger(s) whose latest deliveries failed" in page
    assert "Site administration" in page or "API tokens" in page  # the usual index follows


def test_the_dashboard_costs_the_same_queries_however_much_there_is(staff, admin_user):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get("/admin/").status_code == 200
        return len(captured)

    few = queries()
    for index in range(8):
        trigger_fire(trigger=hourly_hook(admin_user, f"hook {index}"))
    ProviderState.objects.create(name="coingecko", last_success_at=NOW)
    assert ExecutionLog.objects.filter(status="pending").count() == 8
    assert queries() == few


@pytest.mark.parametrize(
    ("buckets", "level", "reason"),
    [
        ({}, OK, "no scheduled firing in the last hour"),
        ({"0.25": 99, "1": 1}, OK, "p99 0.25 s over 100 scheduled firing(s) in the last hour"),
        ({"0.25": 90, "10": 10}, WARN, "p99 9.50 s over 100 scheduled firing(s) in the last hour"),
        ({"0.25": 50, "+Inf": 50}, FAIL, "p99 300.00 s over 100 scheduled firing(s) in the last hour"),
    ],
)
def test_dispatch_lateness_is_judged_by_the_last_hours_p99(buckets, level, reason):
    from collections import Counter

    lateness = verdict(service_health(figures(lateness_last_hour=Counter(buckets))), "dispatch lateness")
    assert (lateness.level, lateness.reason) == (level, reason)


@pytest.mark.parametrize(("age", "level"), [(60, OK), (900, WARN), (7200, FAIL)])
def test_unsent_alert_emails_are_judged_by_the_oldest(age, level):
    report = service_health(figures(alert_emails_unsent=2, oldest_unsent_email_at=NOW - timedelta(seconds=age)))
    emails = verdict(report, "alert e-mails")
    assert emails.level == level and emails.reason == f"2 not sent yet, the oldest for {age} s"
    assert emails.link == "/admin/alerts/pricealert/?status__exact=triggered&notified_at__isnull=True"
    assert verdict(service_health(figures()), "alert e-mails").level == OK


def test_the_unsent_email_list_link_lists_exactly_them(staff, admin_user):
    from decimal import Decimal

    from alerts.models import PriceAlert

    def alert(**fields):
        return PriceAlert.objects.create(
            owner=admin_user, coin="bitcoin", target_price=Decimal(1), direction="above", **fields
        )

    unsent = alert(status="triggered", triggered_at=NOW)
    alert(status="triggered", triggered_at=NOW, notified_at=NOW)
    alert(status="created")

    listed = staff.get(verdict(service_health(figures()), "alert e-mails").link).context["cl"]
    assert [row.pk for row in listed.result_list] == [unsent.pk]
