"""The dashboard's charts: hourly counts rolled up for the hours that are over (so a week survives the
logs' retention and a million rows cost nothing), counted live after the mark, and each bar a link to
the admin list of exactly the rows it counts."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Customer, PriceAlert, PriceTick, Transaction, TransactionAlert
from events.models import IngestedEvent
from eventsys.ops.charts import dashboard_charts
from eventsys.ops.models import HourlyCount, RollupMark
from eventsys.ops.rollup import BACKFILL, SERIES, hourly_counts, lateness_quantile, rollup
from triggers.models import ExecutionLog
from triggers.services import trigger_create, trigger_fire

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
HOUR_START = NOW.replace(minute=0)


@pytest.fixture
def hook(admin_user, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)
    return trigger_create(
        owner=admin_user,
        name="hook",
        kind="api",
        schedule_type="cron",
        cron="0 * * * *",
        api_endpoint="http://127.0.0.1:9/h",
    )


def firing(trigger, *, at: datetime, status: str = "delivered", late: float = 0.0, source: str = "schedule"):
    log = trigger_fire(trigger=trigger)
    ExecutionLog.objects.filter(pk=log.pk).update(
        status=status, source=source, created_at=at, scheduled_for=at - timedelta(seconds=late)
    )
    return log


def every_series(owner, *, at: datetime) -> None:
    """One row of each non-trigger series at `at`."""
    IngestedEvent.objects.create(owner=owner, event_type="ping", event_payload={}, received_at=at)
    customer = Customer.objects.create(owner=owner, external_id=int(at.timestamp()))
    deposit = Transaction.objects.create(
        owner=owner, customer=customer, type="deposit", amount=Decimal("10.00"), time=1, answer={}
    )
    alert = TransactionAlert.objects.create(owner=owner, customer=customer, transaction=deposit, code=1100)
    Transaction.objects.filter(pk=deposit.pk).update(created_at=at)
    TransactionAlert.objects.filter(pk=alert.pk).update(created_at=at)
    PriceTick.objects.bulk_create(  # one poll: two ticks with the poll's time
        PriceTick(coin=coin, currency="usd", price=Decimal(1), fetched_at=at) for coin in ("bitcoin", "ethereum")
    )
    PriceAlert.objects.create(
        owner=owner, coin="bitcoin", target_price=Decimal(1), direction="above", status="triggered", triggered_at=at
    )


def test_every_series_counts_its_rows_per_hour_and_key(hook, admin_user):
    firing(hook, at=NOW - timedelta(minutes=40), status="failed")  # 11:50
    firing(hook, at=NOW - timedelta(minutes=10), late=0.3)  # 12:20
    firing(hook, at=NOW - timedelta(minutes=5), late=400, source="manual")  # never late: not in the histogram
    every_series(admin_user, at=NOW - timedelta(minutes=50))

    counts = hourly_counts(SERIES, start=NOW - timedelta(hours=3), now=NOW)

    eleven = HOUR_START - timedelta(hours=1)
    assert counts["deliveries"] == Counter({(eleven, "failed"): 1, (HOUR_START, "delivered"): 2})
    assert counts["lateness"] == Counter({(eleven, "0.1"): 1, (HOUR_START, "0.5"): 1})
    assert counts["ingested"] == Counter({(eleven, ""): 1})
    assert counts["transactions"] == Counter({(eleven, "deposit"): 1})
    assert counts["transaction_alerts"] == Counter({(eleven, "1100"): 1})
    assert counts["price_polls"] == Counter({(eleven, ""): 1})  # two ticks, one poll
    assert counts["price_alerts_triggered"] == Counter({(eleven, ""): 1})


@pytest.mark.parametrize(
    ("seconds_late", "bucket"), [(0, "0.1"), (0.1, "0.1"), (0.2, "0.25"), (0.9, "1"), (45, "60"), (301, "+Inf")]
)
def test_a_scheduled_firing_falls_in_the_bucket_of_its_lateness(hook, seconds_late, bucket):
    firing(hook, at=NOW, late=seconds_late)

    assert hourly_counts(["lateness"], start=HOUR_START, now=NOW)["lateness"] == Counter({(HOUR_START, bucket): 1})


def test_lateness_quantiles_interpolate_within_their_bucket():
    assert lateness_quantile(Counter(), 0.5) is None
    assert lateness_quantile(Counter({"0.1": 100}), 0.5) == pytest.approx(0.05)
    # 98 within 0.1 s, 2 between 1 and 2.5 s: p99 is half-way through that bucket
    assert lateness_quantile(Counter({"0.1": 98, "2.5": 2}), 0.99) == pytest.approx(1.75)
    assert lateness_quantile(Counter({"0.1": 1, "+Inf": 99}), 0.99) == 300  # "at least" the highest bound


def test_the_rollup_keeps_hours_the_retention_has_deleted(hook, admin_user):
    old = HOUR_START - timedelta(days=3)
    firing(hook, at=old + timedelta(minutes=5), status="failed")
    every_series(admin_user, at=old + timedelta(minutes=5))

    written = rollup(now=NOW)
    ExecutionLog.objects.all().delete()
    IngestedEvent.objects.all().delete()

    assert written == len(SERIES) == 7  # one row per series, the lateness histogram's included
    counts = hourly_counts(SERIES, start=HOUR_START - timedelta(days=7), now=NOW)
    assert counts["deliveries"] == Counter({(old, "failed"): 1})
    assert counts["ingested"] == Counter({(old, ""): 1})
    assert RollupMark.objects.get().through == HOUR_START  # the current hour is never rolled up


def test_recent_hours_are_counted_again_and_older_ones_are_final(hook):
    log = firing(hook, at=HOUR_START - timedelta(minutes=30), status="pending")
    rollup(now=NOW)

    ExecutionLog.objects.filter(pk=log.pk).update(status="delivered")  # its retry succeeded
    rollup(now=NOW + timedelta(hours=1))
    assert HourlyCount.objects.get(series="deliveries").key == "delivered"

    rollup(now=NOW + timedelta(hours=4))  # the hour is now over SETTLE behind the mark
    ExecutionLog.objects.filter(pk=log.pk).update(status="failed")
    rollup(now=NOW + timedelta(hours=5))
    assert HourlyCount.objects.get(series="deliveries").key == "delivered"


def test_the_dashboard_reads_rolled_up_hours_and_counts_the_rest(hook):
    """What the page shows does not depend on when the roll-up last ran: rolled-up, stale or never."""
    for hours_ago in (30, 5, 2, 0):
        firing(hook, at=NOW - timedelta(hours=hours_ago))
    never = hourly_counts(["deliveries"], start=NOW - timedelta(days=2), now=NOW)

    rollup(now=NOW - timedelta(hours=3))  # a beat that stalled three hours ago
    stale = hourly_counts(["deliveries"], start=NOW - timedelta(days=2), now=NOW)
    ExecutionLog.objects.filter(created_at__lt=NOW - timedelta(hours=6)).delete()  # retention
    rollup(now=NOW)
    current = hourly_counts(["deliveries"], start=NOW - timedelta(days=2), now=NOW)

    assert sum(never["deliveries"].values()) == 4 and never == stale == current


def test_hours_older_than_the_backfill_are_not_rolled_up_at_first(hook):
    firing(hook, at=NOW - BACKFILL - timedelta(hours=2))
    firing(hook, at=NOW - timedelta(days=6))

    rollup(now=NOW)

    assert HourlyCount.objects.filter(series="deliveries").count() == 1


def test_the_day_chart_has_a_bar_per_hour_and_each_bar_links_to_its_rows(hook, staff_client):
    firing(hook, at=NOW - timedelta(minutes=35), status="failed")  # 11:55
    firing(hook, at=NOW - timedelta(minutes=36), status="delivered", late=2)  # 11:54
    firing(hook, at=NOW - timedelta(minutes=5), status="delivered")  # 12:25
    firing(hook, at=NOW - timedelta(hours=30))  # outside the day

    deliveries, lateness, ingested, *_ = dashboard_charts(now=NOW)

    assert len(deliveries.starts) == 24 and deliveries.starts[-1] == HOUR_START
    assert deliveries.series["delivered"][-2:] == [1, 1] and deliveries.series["failed"][-2:] == [1, 0]
    assert deliveries.summary == "3 in the last 24 hours (UTC)"
    svg = str(deliveries.svg())
    assert svg.count("<rect") == 3 and "11:00 UTC: 1 delivered, 1 failed" in svg
    failed_bar = deliveries.link(HOUR_START - timedelta(hours=1), HOUR_START, "failed")
    assert f'href="{failed_bar.replace("&", "&amp;")}"' in svg
    listed = staff_client.get(failed_bar).context["cl"]
    assert listed.result_count == 1 and listed.result_list[0].status == "failed"
    assert staff_client.get(deliveries.window_link).context["cl"].result_count == 3

    # 11:00 has one firing on time and one 2 s late: p99 is 98 % of the way into the (1 s, 2.5 s] bucket
    assert lateness.series["p99"][-2] == pytest.approx(1 + 1.5 * 0.98) and lateness.series["p50"][-1] > 0
    assert lateness.summary.endswith("over 3 scheduled firings in the last 24 hours (UTC)")
    assert ingested.summary == "0 in the last 24 hours (UTC)"


@time_machine.travel(NOW, tick=False)
def test_the_week_chart_has_a_bar_per_six_hours(hook, admin_user, staff_client):
    every_series(admin_user, at=NOW - timedelta(days=5))
    firing(hook, at=NOW - timedelta(days=5))
    rollup(now=NOW)
    every_series(admin_user, at=NOW - timedelta(minutes=1))  # after the mark: counted live

    charts = {chart.title: chart for chart in dashboard_charts(now=NOW, range_key="7d")}

    polls = charts["Price polls"]
    assert len(polls.starts) == 28 and polls.starts[-1] == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert polls.bar == timedelta(hours=6) and sum(polls.series["price_polls"]) == 2
    assert charts["Transaction alerts by rule code"].series["1100"][-1] == 1
    assert charts["Transactions by type"].summary == "2 in the last 7 days (UTC)"
    for chart in charts.values():  # every list behind a chart accepts its filters
        assert staff_client.get(chart.window_link).status_code == 200
    page = staff_client.get("/admin/?range=7d").content.decode()
    assert "<strong>last 7 days</strong>" in page and '<a href="?range=24h">last 24 hours</a>' in page


@time_machine.travel(NOW, tick=False)
def test_the_dashboard_costs_the_same_queries_in_either_range(hook, admin_user, staff_client):
    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(path).status_code == 200
        return len(captured)

    few = {path: queries(path) for path in ("/admin/", "/admin/?range=7d")}
    for hours_ago in range(0, 150, 7):
        firing(hook, at=NOW - timedelta(hours=hours_ago))
        every_series(admin_user, at=NOW - timedelta(hours=hours_ago))
    rollup(now=NOW - timedelta(hours=20))
    assert {path: queries(path) for path in few} == few


def test_beat_sends_the_rollup_on_the_system_queue():
    entry = django_settings.CELERY_BEAT_SCHEDULE["eventsys.rollup"]
    assert entry["task"] == "eventsys.rollup" and entry["schedule"] <= timedelta(minutes=10)
    assert django_settings.CELERY_TASK_ROUTES["eventsys.rollup"] == {"queue": "system"}


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client
