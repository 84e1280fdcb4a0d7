import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from eventsys import environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False), ("", True)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert environment.env_bool("X_FLAG", True) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: environment.env_bool("X_VALUE", False), "maybe"),
        (lambda: environment.env_int("X_VALUE", 1), "ten"),
        (lambda: environment.env_int("X_VALUE", 1, minimum=1), "0"),
        (lambda: environment.env_choice("X_VALUE", "a", {"a", "b"}), "c"),
        (lambda: environment.env_rate("X_VALUE", "1/min"), "10/minn"),
        (lambda: environment.env_rate("X_VALUE", "1/min"), "ten/min"),
        (lambda: environment.env_time_zone("X_VALUE", "UTC"), "Mars/Olympus"),
    ],
)
def test_malformed_values_fail_loudly_naming_the_variable(monkeypatch, reader, raw):
    monkeypatch.setenv("X_VALUE", raw)
    with pytest.raises(ImproperlyConfigured, match="X_VALUE"):
        reader()


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("X_HOSTS", " a.example , b.example,, ")
    assert environment.env_list("X_HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.delenv("X_HOSTS")
    assert environment.env_list("X_HOSTS", ["d"]) == ["d"]


def _load_settings(tmp_path, code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    clean.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "eventsys.settings", **env})
    script = f"import django; django.setup(); from django.conf import settings; {code}"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_refuses_to_start_with_the_development_key_when_debug_is_off(tmp_path):
    result = _load_settings(tmp_path, "print(settings.DEBUG)", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_defaults_run_on_sqlite_and_the_filesystem_broker(tmp_path):
    code = (
        "d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['OPTIONS']['transaction_mode'], settings.CELERY_BROKER_URL, settings.EMAIL_BACKEND)"
    )
    result = _load_settings(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "IMMEDIATE",
        "filesystem://",
        "django.core.mail.backends.console.EmailBackend",
    ]
    assert (tmp_path / "broker" / "queue").is_dir()


def test_postgres_url_uses_persistent_connections_with_health_checks(tmp_path):
    code = (
        "d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    result = _load_settings(tmp_path, code, DATABASE_URL="postgres://u:p@db.internal:5432/eventsys")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "eventsys", "60", "True"]


@pytest.mark.parametrize(("setting", "expected"), [(None, "True 5"), ("false", "None None")])
def test_postgres_prepares_repeated_statements_unless_told_not_to(tmp_path, setting, expected):
    code = (
        "o = settings.DATABASES['default']['OPTIONS']; print(o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    env = {"DATABASE_URL": "postgres://u:p@db.internal:5432/eventsys"}
    if setting is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = setting
    result = _load_settings(tmp_path, code, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "mysql://x/y"), ("CELERY_BROKER_URL", "sqs://"), ("EMAIL_PORT", "smtp"), ("DEBUG", "perhaps")],
)
def test_malformed_settings_stop_the_process(tmp_path, name, value):
    result = _load_settings(tmp_path, "print(1)", **{name: value})
    assert result.returncode != 0
    assert name in result.stderr
