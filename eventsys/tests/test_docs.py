"""README.md and docs/ stay true: every link resolves, the quickstart is two commands, and the
README's tour runs as written against a live server and does what it says."""

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from alerts.tests.conftest import FakeCoinGecko

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (outside code blocks)."""
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name} links to {target}: no such heading"


def test_every_docs_page_is_on_the_readme_map():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"]({page.relative_to(ROOT)})" in readme, f"{page.relative_to(ROOT)} is not in README's map"


def test_the_quickstart_is_two_commands():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    [block] = _sh_blocks(quickstart)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]


@pytest.fixture
def tour_world(settings, monkeypatch):
    """What `make run` has that a test server lacks: a worker (tasks run at once, in the request's
    thread), CoinGecko (a local fake), the setting the README says webhooks to this machine need, and
    the original transaction rules its migration made (an earlier transactional test may have
    flushed them)."""
    from django.apps import apps

    importlib.import_module("alerts.migrations.0002_original_rules").create_original_rules(apps, None)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    coingecko = FakeCoinGecko()
    settings.COINGECKO_API_URL = coingecko.url
    monkeypatch.setattr(
        "celery.app.task.Task.apply_async",
        lambda task, args=None, kwargs=None, **options: task.apply(args=args, kwargs=kwargs),
    )
    yield
    coingecko.close()


@pytest.mark.django_db(transaction=True)
def test_the_readme_tour_runs_as_written(live_server, tour_world):
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("## Tour", 1)[1].split("\n## ", 1)[0]
    script = "\n".join(_sh_blocks(tour))
    assert script.count("curl") >= 15, "the tour lost its commands"

    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**os.environ, "API": live_server.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout
    assert done.returncode == 0, f"the tour failed:\n{output}\n{done.stderr}"
    assert '"username":"ada"' in output  # registered, then /auth/me/ with the access token
    assert '"next_runs":' in output  # the cron trigger
    assert re.search(r'delivery \S+: signature not checked: \{"full":\s?false\}', output), "no webhook arrived"
    assert re.search(r'"source":"manual"[^{}]*"status":"delivered"', output), "the firing's log says no delivery"
    assert '"status":"registered"' in output  # Grace's seat
    assert '"accepted":2' in output
    assert '"alert_codes":[1100]' in output
    assert output.rstrip().endswith("204")  # logged out with the rotated refresh token
