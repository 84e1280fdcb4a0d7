"""Issue 15: the admin an operator sees, and logs that stay quiet while nothing happens."""

import inspect
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import celery.beat
import pytest
from celery import signals
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.app.trace import info as celery_trace_info
from celery.utils.log import LoggingProxy
from django.contrib import admin
from django.core import mail
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from kombu import Connection
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from eventsys.celery import app as celery_app
from eventsys.logformat import _BEAT_SENDING, JsonFormatter, QuietHousekeeping

ROOT = Path(__file__).resolve().parents[2]

# --- Admin --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_says_eventsys_in_its_header_and_title(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "eventsys administration" in page
    assert "<title>Site administration | eventsys admin</title>" in page
    assert "Django administration" not in page and "Django site admin" not in page


@pytest.mark.django_db
def test_the_index_says_api_tokens(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert ">API tokens</a>" in page
    assert "Api tokens" not in page


@pytest.mark.django_db
def test_models_an_operator_never_edits_are_not_in_the_admin(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for model in (SolarSchedule, ClockedSchedule, OutstandingToken, BlacklistedToken):
        assert not admin.site.is_registered(model)
        assert f"/admin/{model._meta.app_label}/{model._meta.model_name}/" not in page
    for model in (PeriodicTask, IntervalSchedule, CrontabSchedule):
        assert admin.site.is_registered(model)
        assert f"/admin/{model._meta.app_label}/{model._meta.model_name}/" in page
    # A periodic task's page still renders without its solar and clocked schedules' admins.
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="dispatch", task="triggers.dispatch", interval=every_second)
    assert admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").status_code == 200


# --- The JSON format -------------------------------------------------------------------------------


def _record(message="hello %s", args=("world",), exc_info=None, level=logging.WARNING):
    return logging.LogRecord("eventsys.test", level, __file__, 1, message, args, exc_info)


def test_the_json_formatter_writes_one_object_per_record_with_its_fields():
    record = _record("two\nlines %s", ('and a quote"',))
    record.created = 1_780_000_000.25
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-05-28T20:26:40.250+00:00",
        "level": "WARNING",
        "logger": "eventsys.test",
        "message": 'two\nlines and a quote"',
    }


def test_the_json_formatter_carries_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed", (), exc_info=sys.exc_info(), level=logging.ERROR)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed" and entry["level"] == "ERROR"
    assert entry["exc_info"].startswith("Traceback") and "ValueError: boom" in entry["exc_info"]


def test_log_format_json_makes_every_line_of_a_process_json(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env = clean | {"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "eventsys.settings", "LOG_FORMAT": "json"}
    script = (
        "import django, logging; django.setup(); log = logging.getLogger('eventsys.x'); log.warning('first');"
        "\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('second')"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("WARNING", "eventsys.x", "first"),
        ("ERROR", "eventsys.x", "second"),
    ]
    assert "ZeroDivisionError" in entries[1]["exc_info"]


@pytest.mark.parametrize(("log_format", "json_expected"), [("json", True), ("plain", False)])
def test_celerys_own_handlers_follow_log_format(settings, log_format, json_expected):
    settings.LOG_FORMAT = log_format
    logger = logging.getLogger("eventsys.tests.celery_root")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"))
    logger.addHandler(handler)
    try:
        # What the worker and beat send once they have given the root logger celery's handler.
        signals.after_setup_logger.send(
            sender=None, logger=logger, loglevel=20, logfile=None, format="", colorize=False
        )
        assert isinstance(handler.formatter, JsonFormatter) is json_expected
    finally:
        logger.removeHandler(handler)


# --- Quiet logs ------------------------------------------------------------------------------------


@pytest.fixture
def quiet_filters(monkeypatch):
    """The QuietHousekeeping filter LOGGING attached, with nothing announced yet."""
    filters = {
        name: next(f for f in logging.getLogger(name).filters if isinstance(f, QuietHousekeeping))
        for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
    }
    for quiet in filters.values():
        monkeypatch.setattr(quiet, "_announced", set())
    return filters


def _success(name, return_value):
    context = {"id": "abc", "name": name, "return_value": return_value, "runtime": 0.01}
    celery_trace_info(LOG_SUCCESS, context)  # how celery's tracer logs a task that succeeded


def _messages(caplog, logger):
    return [record.getMessage() for record in caplog.records if record.name == logger]


def test_idle_runs_of_housekeeping_tasks_are_not_logged_but_work_is(quiet_filters, caplog):
    with caplog.at_level(logging.INFO):
        _success("triggers.dispatch", "{'fired': 0, 'skipped': 0}")
        _success("triggers.sweep", "0")
        _success("eventsys.heartbeat", "None")
        _success("triggers.queue_probe", "None")
        assert _messages(caplog, "celery.app.trace") == []
        _success("triggers.dispatch", "{'fired': 3, 'skipped': 0}")
        _success("triggers.sweep", "2")
        _success("triggers.deliver", "None")  # not a housekeeping task: every run is logged
    assert _messages(caplog, "celery.app.trace") == [
        "Task triggers.dispatch[abc] succeeded in 0.01s: {'fired': 3, 'skipped': 0}",
        "Task triggers.sweep[abc] succeeded in 0.01s: 2",
        "Task triggers.deliver[abc] succeeded in 0.01s: None",
    ]


def test_beat_and_the_worker_announce_a_housekeeping_task_once(quiet_filters, caplog):
    assert _BEAT_SENDING in inspect.getsource(celery.beat.Scheduler.apply_entry)  # celery's wording
    beat, strategy = logging.getLogger("celery.beat"), logging.getLogger("celery.worker.strategy")
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            beat.info(_BEAT_SENDING, "triggers.dispatch", "triggers.dispatch")
            beat.info(_BEAT_SENDING, "alerts.poll_prices", "alerts.poll_prices")
            received = {"id": "abc", "name": "triggers.dispatch", "args": "()", "kwargs": "{}", "eta": None}
            strategy.info(LOG_RECEIVED, received, extra={"data": received})
    assert _messages(caplog, "celery.beat") == [
        "Scheduler: Sending due task triggers.dispatch (triggers.dispatch)",
        *["Scheduler: Sending due task alerts.poll_prices (alerts.poll_prices)"] * 3,
    ]
    assert _messages(caplog, "celery.worker.strategy") == ["Task triggers.dispatch[abc] received"]


def test_a_failing_housekeeping_task_is_always_logged(quiet_filters, caplog):
    trace = logging.getLogger("celery.app.trace")
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            trace.error(
                "Task %(name)s[%(id)s] raised unexpected: %(exc)s", {"name": "triggers.dispatch", "id": "a", "exc": "X"}
            )
    assert len(_messages(caplog, "celery.app.trace")) == 2


def test_kombu_does_not_warn_that_the_filesystem_broker_has_no_host(caplog):
    with caplog.at_level(logging.DEBUG, logger="kombu"):
        Connection("filesystem://").info()
    assert not [record for record in caplog.records if "hostname" in record.getMessage()]


@pytest.mark.django_db
def test_a_4xx_is_logged_once(client, settings, monkeypatch):
    # Django's default configuration adds a console handler to "django" when DEBUG is on.
    settings.DEBUG = True
    emitted = []
    logger = logging.getLogger("django.request")
    while logger is not None:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue  # pytest's capture, not an output of the service
            monkeypatch.setattr(handler, "emit", lambda record, handler=handler: emitted.append((handler, record)))
        logger = logger.parent if logger.propagate else None
    assert client.get("/api/v1/no-such-thing/").status_code == 404
    assert client.get("/api/v1/triggers/").status_code == 401
    assert [record.getMessage() for _, record in emitted if record.name == "django.request"] == [
        "Not Found: /api/v1/no-such-thing/",
        "Unauthorized: /api/v1/triggers/",
    ]


def test_console_emails_printed_by_a_task_are_logged_as_info_not_warning(caplog):
    # The worker replaces sys.stdout with this proxy (celery's redirect_stdouts) at the configured level.
    stdout = LoggingProxy(logging.getLogger("celery.redirected"), celery_app.conf.worker_redirect_stdouts_level)
    with caplog.at_level(logging.DEBUG, logger="celery.redirected"):
        message = mail.EmailMessage("Price alert", "BTC crossed 100000", "from@example.com", ["to@example.com"])
        assert ConsoleEmailBackend(stream=stdout).send_messages([message]) == 1
    levels = {record.levelname for record in caplog.records if record.name == "celery.redirected"}
    assert levels == {"INFO"}
