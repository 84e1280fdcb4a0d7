"""docker-compose.yml and docs/configuration.md stay in step with the settings."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_five_services_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert all("healthcheck" in service for service in services.values())
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert env["DEBUG"] == "false"
    assert "celery" in services["worker"]["command"] and "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]


def test_the_configuration_page_lists_every_variable_settings_and_gunicorn_read():
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', (ROOT / "eventsys" / "settings.py").read_text()))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", page, flags=re.MULTILINE))
    assert read - table == set(), "variables missing from docs/configuration.md's table"
    assert table - read == set(), "docs/configuration.md documents variables settings.py does not read"


def test_every_way_of_serving_uses_the_one_gunicorn_configuration():
    config = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), config)
    assert (config["wsgi_app"], config["worker_class"]) == ("eventsys.wsgi:application", "gthread")
    assert config["threads"] > 1 and config["keepalive"] > 0
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for command in (compose["services"]["web"]["command"], (ROOT / "Dockerfile").read_text().splitlines()[-1]):
        assert "gunicorn" in command and "--workers" not in command and "--worker-class" not in command
