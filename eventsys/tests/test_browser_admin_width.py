"""Every changelist of the project's own admins fits a 1366x768 screen: no horizontal scroll, with a
representative row of everything (long names, IPv6 addresses, triggered alerts, failed deliveries).

Runs in headless chromium like test_browser.py (its `browser` fixture: skipped without chromium unless
REQUIRE_BROWSER=1). Screenshots land in data/screenshots/admin-width-<app>-<model>.png.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from eventsys.tests.test_browser import SCREENSHOTS, browser  # noqa: F401 (a fixture, used by name)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1366, "height": 768}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The triggers admin is trimmed in its own change; flip these to plain cases when it lands.
# Django's admin scrolls a too-wide results table inside its own box (.results, overflow-x: auto),
# so the page itself never scrolls; the pixels hidden in any such box count as overflow too.
OVERFLOW_INSIDE = """() => Math.max(0, ...[...document.querySelectorAll('*')]
    .filter(el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
    .map(el => el.scrollWidth - el.clientWidth))"""


def _project_changelists() -> list[str]:
    """app_label.model_name of every model registered by one of this repository's apps."""
    return sorted(
        f"{model._meta.app_label}.{model._meta.model_name}"
        for model in admin.site._registry
        if Path(model._meta.app_config.path).resolve().is_relative_to(PROJECT_ROOT)
        and "site-packages" not in Path(model._meta.app_config.path).parts
    )


def _representative_rows(admin_user) -> None:
    """One row per model, with values as wide as real ones get."""
    from accounts.models import ApiToken, LoginLockout
    from accounts.services import api_token_create
    from alerts.models import (
        AlertRule,
        Coin,
        Customer,
        PriceAlert,
        PriceTick,
        ProviderState,
        Transaction,
        TransactionAlert,
    )
    from events import services as events
    from events.models import IngestedEvent
    from eventsys.ops.models import Heartbeat, IdempotentRequest
    from triggers.models import ExecutionLog, Trigger

    now = timezone.now().replace(microsecond=0)
    admin_user.email = "operations-oncall@eventsys.example.com"
    admin_user.last_login = now
    admin_user.save()
    token, _ = api_token_create(user=admin_user, name="ingest from the Pune warehouse scanners")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, revoked_at=now)
    LoginLockout.objects.create(
        username="operations-oncall",
        address="2001:db8:85a3:1234:5678:8a2e:370:7334",
        failures=12,
        last_failure_at=now,
        locked_until=now + timedelta(minutes=15),
    )

    event = events.event_create(
        organiser=admin_user,
        name="PyCon India 2026: main conference day",
        location="Bengaluru",
        start_time=now + timedelta(days=30),
        end_time=now + timedelta(days=30, hours=9),
        timezone="America/Argentina/Buenos_Aires",
        max_capacity=1200,
    )
    events.attendee_register(event=event, name="Asha Venkataraman", email="asha.venkataraman@example.com")
    IngestedEvent.objects.create(
        owner=admin_user,
        token=token,
        event_type="warehouse.shipment_dispatched",
        event_payload={},
        body_hash="0" * 64,
        occurred_at=now + timedelta(minutes=5),
        occurred_at_in_future=True,
        received_at=now,
    )

    scheduled = Trigger.objects.create(
        owner=admin_user,
        name="Nightly export of the warehouse ledger",
        kind=Trigger.Kind.SCHEDULED,
        schedule_type=Trigger.ScheduleType.CRON,
        cron="0 2 * * *",
        timezone="Europe/London",
        signing_secret="s" * 64,
        next_run_at=now + timedelta(hours=3),
        last_run_at=now - timedelta(hours=21),
        run_count=1234,
    )
    webhook = Trigger.objects.create(
        owner=admin_user,
        name="Notify the billing service",
        kind=Trigger.Kind.API,
        schedule_type=Trigger.ScheduleType.INTERVAL,
        interval=15,
        schedule_time=now,
        api_endpoint="https://billing.internal.example.com/hooks/eventsys",
        signing_secret="s" * 64,
        next_run_at=now + timedelta(minutes=15),
        last_run_at=now,
        run_count=56789,
        consecutive_failures=3,
        notify_email="billing-oncall@example.com",
        failing_after=3,
        alert_state=Trigger.AlertState.FAILING,
        alert_changed_at=now,
    )
    failed = ExecutionLog.DeliveryStatus.FAILED
    for trigger, status in ((scheduled, ExecutionLog.DeliveryStatus.NONE), (webhook, failed)):
        ExecutionLog.objects.create(
            trigger=trigger,
            owner=admin_user,
            source=ExecutionLog.Source.SCHEDULE,
            scheduled_for=now - timedelta(seconds=2),
            status=status,
            attempts=8,
            response_status=503,
            latency_ms=10_000,
            error="HTTP 503 from billing.internal.example.com",
            created_at=now,
        )
    ExecutionLog.objects.create(  # a delivered one: its lateness column has two lines
        trigger=webhook,
        owner=admin_user,
        source=ExecutionLog.Source.SCHEDULE,
        scheduled_for=now - timedelta(minutes=15, seconds=2),
        status=ExecutionLog.DeliveryStatus.DELIVERED,
        attempts=1,
        response_status=200,
        latency_ms=10_000,
        created_at=now - timedelta(minutes=15),
        completed_at=now - timedelta(minutes=14, seconds=1),
    )

    PriceAlert.objects.create(
        owner=admin_user,
        coin="celsius-degree-token",
        currency="usd",
        target_price=Decimal("123456.78900000"),
        direction=PriceAlert.Direction.ABOVE,
        status=PriceAlert.Status.TRIGGERED,
        triggered_at=now,
        triggered_price=Decimal("123457.012345678901"),
        trigger_count=42,
    )
    PriceTick.objects.create(
        coin="celsius-degree-token",
        currency="usd",
        price=Decimal("123457.012345678901"),
        source_updated_at=now,
        fetched_at=now,
    )
    ProviderState.objects.create(
        name="coingecko",
        backoff_until=now + timedelta(minutes=1),
        consecutive_failures=3,
        last_error="HTTP 429 from api.coingecko.com: rate limited, retry after 60 s",
        last_success_at=now,
    )
    Coin.objects.create(
        id="celsius-degree-token", symbol="cel", name="Celsius Degree Token", market_cap_rank=950, refreshed_at=now
    )
    AlertRule.objects.create(
        code=9100,
        kind=AlertRule.Kind.WINDOW_SUM,
        transaction_type="withdraw",
        threshold=Decimal("150000.00"),
        count=5,
        window_seconds=86_400,
        priority=100,
        description="Withdrawals over 150,000 within a day",
    )
    customer = Customer.objects.create(owner=admin_user, external_id=9_007_199_254_740_991)
    transaction = Transaction.objects.create(
        owner=admin_user,
        customer=customer,
        type="withdraw",
        amount=Decimal("999999999999.99"),
        time=1_790_000_000,
        answer={},
    )
    alert = TransactionAlert.objects.create(owner=admin_user, customer=customer, transaction=transaction, code=9100)
    alert.evidence.add(transaction)
    Heartbeat.objects.create(component=Heartbeat.Component.WORKER, seen_at=now)
    IdempotentRequest.objects.create(
        scope=f"user:{admin_user.pk}",
        key="b7c1f0e2-4d5a-4c3b-9e8f-0a1b2c3d4e5f-order-2026-12-02-retry",
        route="POST /api/v1/events/12345/attendees/",
        request_hash="0" * 64,
        state=IdempotentRequest.State.DONE,
        response_status=201,
        response_body={"id": 1},
        created_at=now,
    )


@pytest.mark.parametrize("label", _project_changelists())
def test_the_changelist_fits_a_1366_pixel_screen(browser, live_server, admin_user, label):  # noqa: F811
    _representative_rows(admin_user)
    client = Client()
    client.force_login(admin_user)
    context = browser.new_context(viewport=SCREEN)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    try:
        app_label, model_name = label.split(".")
        response = page.goto(f"{live_server.url}/admin/{app_label}/{model_name}/")
        assert response.status == 200
        assert page.locator("#result_list tbody tr").count() >= 1 or model_name == "heartbeat"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"admin-width-{app_label}-{model_name}.png")
        overflow = max(page.evaluate("document.documentElement.scrollWidth") - SCREEN["width"], 0)
        hidden = page.evaluate(OVERFLOW_INSIDE)
    finally:
        context.close()
    assert (overflow, hidden) == (0, 0), f"{label}: the page scrolls {overflow} px, its results table {hidden} px"
