"""What a person looks at, in a real headless browser (Debian's chromium, driven by Playwright): the
landing page, the browsable API root, the OpenAPI docs and the admin's login.

Needs /usr/bin/chromium (Debian's `chromium` package; `.ci/run` installs it). Without it these tests
skip, unless REQUIRE_BROWSER=1 (CI), where a missing browser is a failure. Screenshots of every page
land in data/screenshots/ for a person to look at.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic is refused on a closed network; these flags keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.DATA_DIR) / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set and there is no browser at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("no chromium (apt-get install chromium), and REQUIRE_BROWSER is not set")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; Django then refuses database
    # calls from it (the test's own setup) unless told that this thread is not serving async code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_the_landing_page_leads_to_the_docs_the_api_and_the_admin(page, live_server):
    page.goto(live_server.url + "/")
    screenshot(page, "landing")

    assert page.title() == "eventsys"
    assert page.locator("h1").inner_text() == "eventsys"
    links = {link.inner_text(): link.get_attribute("href") for link in page.locator("nav a").all()}
    assert links == {
        "API docs": "/api/docs/",
        "Browsable API": "/api/v1/",
        "Admin": "/admin/",
        "Health": "/api/health/",
        "Ready": "/api/ready/",
        "OpenAPI schema": "/api/schema/",
    }
    page.get_by_role("link", name="Browsable API").click()
    page.wait_for_load_state()
    assert page.url == live_server.url + "/api/v1/"


def test_the_browsable_api_root_lists_the_endpoints_as_links(page, live_server):
    page.goto(live_server.url + "/api/v1/")
    screenshot(page, "api-root")

    assert "Api Root" in page.locator(".page-header h1").inner_text()
    page.locator("a", has_text=f"{live_server.url}/api/v1/events/").first.click()
    page.wait_for_load_state()
    assert page.url == live_server.url + "/api/v1/events/"
    assert "Event" in page.locator(".page-header h1").inner_text()


def test_the_api_docs_render_every_job(page, live_server):
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".opblock-tag", timeout=20_000)  # Swagger UI has fetched and drawn the schema
    screenshot(page, "api-docs")

    tags = [tag.inner_text().split("\n")[0].strip() for tag in page.locator(".opblock-tag").all()]
    assert len(tags) >= 5, tags
    assert page.locator(".opblock").count() > 50


URL = "http://127.0.0.1:9/orders"  # nothing listens: the test never delivers


def a_busy_day(owner) -> None:
    """A day of every job, with one webhook trigger failing now, for the dashboard (and its screenshot,
    which README shows). Deliveries are not enqueued (the caller patches that out)."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from alerts.models import Customer, PriceTick, Transaction, TransactionAlert
    from events.models import IngestedEvent
    from eventsys.ops.models import Heartbeat
    from eventsys.ops.rollup import rollup
    from triggers.models import ExecutionLog, Trigger
    from triggers.services import trigger_create, trigger_fire

    now = timezone.now()
    minutes = [m for m in range(0, 24 * 60, 9) if (m // 60) % 5]
    IngestedEvent.objects.bulk_create(
        IngestedEvent(owner=owner, event_type="ping", event_payload={}, received_at=now - timedelta(minutes=m))
        for m in minutes
    )
    trigger = trigger_create(
        owner=owner, name="orders hook", kind="api", schedule_type="cron", cron="0 * * * *", api_endpoint=URL
    )
    for index, m in enumerate(minutes[::3]):
        log = trigger_fire(trigger=trigger)
        at = now - timedelta(minutes=m)
        ExecutionLog.objects.filter(pk=log.pk).update(
            source="schedule",
            status="failed" if index % 6 == 0 else "delivered",
            created_at=at,
            scheduled_for=at - timedelta(seconds=(m % 7) / 10),
        )
    Trigger.objects.filter(pk=trigger.pk).update(consecutive_failures=2)  # amber: a trigger failing now
    Heartbeat.objects.bulk_create(Heartbeat(component=component, seen_at=now) for component in ("beat", "worker"))
    customer = Customer.objects.create(owner=owner, external_id=1)
    for index, m in enumerate(minutes[::4]):
        kind = "withdraw" if index % 3 else "deposit"
        tx = Transaction.objects.create(
            owner=owner, customer=customer, type=kind, amount=Decimal("25.00"), time=index, answer={}
        )
        Transaction.objects.filter(pk=tx.pk).update(created_at=now - timedelta(minutes=m))
        if index % 5 == 0:
            alert = TransactionAlert.objects.create(owner=owner, customer=customer, transaction=tx, code=30)
            TransactionAlert.objects.filter(pk=alert.pk).update(created_at=now - timedelta(minutes=m))
    PriceTick.objects.bulk_create(
        PriceTick(coin="bitcoin", currency="usd", price=Decimal(90000), fetched_at=now - timedelta(minutes=m))
        for m in range(0, 24 * 60, 30)
    )
    rollup(now=now)


def test_the_admin_login_page_renders_and_logs_in(page, live_server, admin_user, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)
    a_busy_day(admin_user)
    page.goto(live_server.url + "/admin/")
    screenshot(page, "admin-login")

    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    screenshot(page, "admin-index")
    assert page.url == live_server.url + "/admin/"
    assert "Site administration" in page.content()
    health = page.locator("#service-health")
    assert health.is_visible()
    assert health.locator("tr").count() >= 9  # five checks and the jobs' verdicts
    assert "database" in health.inner_text()
    dot_colour = "el => getComputedStyle(el).backgroundColor"
    assert health.locator("tr.health-ok .health-dot").first.evaluate(dot_colour) == "rgb(46, 125, 50)"  # green
    assert health.locator("tr.health-warn .health-dot").first.evaluate(dot_colour) == "rgb(230, 149, 0)"  # amber
    assert "needs a look" in health.locator("h2").inner_text()  # a trigger is failing: amber, not red
    assert health.locator("svg.ops-chart").count() == 7  # every job's chart over the last day
    assert "Transactions by type" in health.inner_text()
    health.screenshot(path=SCREENSHOTS / "dashboard.png")  # README's picture (docs/img/dashboard.png)

    page.locator("svg.ops-chart").first.locator("a").last.click()  # the latest hour's firings
    page.wait_for_load_state()
    assert "/admin/triggers/executionlog/?created_at__gte=" in page.url
    assert page.locator("#result_list tbody tr").count() >= 1

    page.goto(live_server.url + "/admin/?range=7d")
    screenshot(page, "admin-index-week")
    assert health.locator("svg.ops-chart").first.locator("rect").count() >= 4  # 6-hour bars


def log_in(page, live_server) -> None:
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_an_operator_re_delivers_a_failed_webhook_and_sees_the_new_attempt(
    page, live_server, admin_user, receiver, monkeypatch
):
    from triggers.services import delivery_attempt, trigger_create, trigger_fire

    # No broker here: what a worker would do with an enqueued delivery happens at once.
    monkeypatch.setattr(
        "triggers.services.enqueue.enqueue_deliveries",
        lambda ids, *args, **kwargs: [delivery_attempt(delivery_id=delivery_id) for delivery_id in ids],
    )
    receiver.responses.append((410, {}, b"gone for now"))
    trigger = trigger_create(
        owner=admin_user,
        name="orders hook",
        kind="api",
        schedule_type="cron",
        cron="0 * * * *",
        api_endpoint=receiver.url,
        api_payload={"order": 42},
    )
    log = trigger_fire(trigger=trigger)
    log.refresh_from_db()
    assert log.status == "failed" and log.attempts == 1
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/triggers/executionlog/{log.pk}/change/")
    assert "gone for now" in page.content()
    page.get_by_role("button", name="Re-deliver").click()
    page.wait_for_load_state()
    screenshot(page, "execution-log-redelivered")

    assert "re-delivery enqueued" in page.locator(".messagelist").inner_text()
    attempts = page.locator(".inline-group tbody tr.form-row")
    assert attempts.count() == 2
    assert "delivered" in attempts.nth(1).inner_text() and "200" in attempts.nth(1).inner_text()
    sent = [request["headers"]["X-Eventsys-Delivery"] for request in receiver.requests]
    assert sent == [str(log.delivery_id)] * 2  # the same delivery id: the receiver can deduplicate


def test_an_operator_exports_an_events_attendees_as_csv(page, live_server, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from events.services import attendee_register, event_create

    start = timezone.now() + timedelta(days=3)
    event = event_create(
        organiser=admin_user,
        name="Django meetup",
        location="Pune",
        start_time=start,
        end_time=start + timedelta(hours=3),
        timezone="Asia/Kolkata",
        max_capacity=10,
    )
    for index in range(3):
        attendee_register(event=event, name=f"Guest {index}", email=f"guest{index}@example.com")
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/events/event/{event.pk}/change/")
    screenshot(page, "event-page")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export attendees (CSV)").click()
    csv_file = download.value

    assert csv_file.suggested_filename.endswith(".csv")
    rows = Path(csv_file.path()).read_text().splitlines()
    assert len(rows) == 4 and "email" in rows[0]
    assert sorted(row.split(",")[rows[0].split(",").index("email")] for row in rows[1:]) == [
        f"guest{index}@example.com" for index in range(3)
    ]


def test_an_operator_fires_a_trigger_from_its_page(page, live_server, admin_user, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from triggers.services import trigger_create

    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)
    trigger = trigger_create(
        owner=admin_user,
        name="nightly export",
        kind="scheduled",
        schedule_type="cron",
        cron="0 2 * * *",
        timezone="Europe/London",
    )
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/triggers/trigger/{trigger.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0  # read-only: no Save
    assert "next five runs" in page.content().lower()
    page.get_by_role("button", name="Fire now").click()
    page.wait_for_load_state()
    screenshot(page, "trigger-page")

    assert "Fired 1 trigger(s)." in page.locator(".messagelist").inner_text()
    assert trigger.logs.filter(source="manual", created_at__gte=timezone.now() - timedelta(minutes=1)).count() == 1


def test_an_operator_backtests_a_changed_rule_from_its_page(page, live_server, admin_user):
    """The rule page's Backtest link opens a form; a changed threshold shows both sides' counts and examples."""
    import importlib
    from decimal import Decimal

    from django.apps import apps

    from alerts.models import AlertRule
    from alerts.services.transactions import transaction_record

    # A transactional test may have flushed the rules the migration made.
    importlib.import_module("alerts.migrations.0002_original_rules").create_original_rules(apps, None)
    for time, amount in enumerate(["150.00", "250.00", "90.00"], start=1):  # 1100: a withdrawal over 100
        transaction_record(owner=admin_user, user_id=7, type="withdraw", amount=Decimal(amount), time=time)
    rule = AlertRule.objects.get(code=1100)
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/alerts/alertrule/{rule.pk}/change/")
    page.get_by_role("link", name="Backtest").click()
    page.wait_for_load_state()
    page.fill("input[name=threshold]", "200")
    page.get_by_role("button", name="Run the backtest").click()
    page.wait_for_load_state()
    screenshot(page, "alert-rule-backtest")

    text = page.locator("#content-main").inner_text()
    assert "3 transactions of 1 customer replayed" in " ".join(text.split())
    assert "The change adds 0, removes 1 and keeps 1 alert." in " ".join(text.split())
    assert page.locator("a[href*='/admin/alerts/transaction/']").count() >= 2  # examples link to their rows
