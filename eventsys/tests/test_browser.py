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


def test_the_admin_login_page_renders_and_logs_in(page, live_server, admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from events.models import IngestedEvent

    now = timezone.now()
    IngestedEvent.objects.bulk_create(  # a day of ingest for the dashboard's chart (and its screenshot)
        IngestedEvent(owner=admin_user, event_type="ping", event_payload={}, received_at=now - timedelta(minutes=m))
        for m in range(0, 24 * 60, 7)
        if (m // 60) % 5
    )
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
    assert health.locator("tr.health-fail .health-dot").first.evaluate(dot_colour) == "rgb(198, 40, 40)"  # no beat
    assert health.locator("svg.ops-chart").count() == 2  # firings and ingest over the last day


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
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/admin/triggers/trigger/{trigger.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0  # read-only: no Save
    assert "next five runs" in page.content().lower()
    page.get_by_role("button", name="Fire now").click()
    page.wait_for_load_state()
    screenshot(page, "trigger-page")

    assert "Fired 1 trigger(s)." in page.locator(".messagelist").inner_text()
    assert trigger.logs.filter(source="manual", created_at__gte=timezone.now() - timedelta(minutes=1)).count() == 1
