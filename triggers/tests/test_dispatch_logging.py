"""The dispatcher's log: a line per run that fired, nothing at INFO for the runs that found nothing due."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from triggers.services import dispatch as dispatch_module
from triggers.services import dispatch_due_until, trigger_create

NOW = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
LOGGER = "triggers.services.dispatch"

pytestmark = pytest.mark.django_db


def _never_sleep(seconds):
    raise AssertionError(f"the dispatcher slept {seconds} s with nothing due before the deadline")


def _dispatcher_records(caplog):
    return [record for record in caplog.records if record.name == LOGGER]


@pytest.fixture
def idle_counter(monkeypatch):
    """A fresh idle count, as in a process that has just started."""
    monkeypatch.setattr(dispatch_module, "_idle", {"runs": 0, "since": dispatch_module.time.monotonic()})
    return dispatch_module._idle


def test_runs_with_nothing_due_log_nothing_at_info(alice, frozen, caplog, idle_counter):
    trigger_create(
        owner=alice, name="later", kind="scheduled", schedule_type="one_off", schedule_time=NOW + timedelta(hours=1)
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(120):
            assert dispatch_due_until(deadline=NOW + timedelta(seconds=1), sleep=_never_sleep).fired == 0
    assert _dispatcher_records(caplog) == []
    assert idle_counter["runs"] == 120


def test_idle_runs_are_summed_up_at_debug_at_most_once_a_minute(frozen, caplog, idle_counter):
    monotonic = dispatch_module.time.monotonic
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        idle_counter["since"] = monotonic() - 30
        for _ in range(10):
            dispatch_due_until(deadline=NOW, sleep=_never_sleep)
        assert _dispatcher_records(caplog) == []  # less than a minute since the last summary
        idle_counter["since"] = monotonic() - 61
        for _ in range(10):
            dispatch_due_until(deadline=NOW, sleep=_never_sleep)
    records = _dispatcher_records(caplog)
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("DEBUG", "dispatcher: 11 runs with nothing due in the last 61 s")
    ]
    assert idle_counter["runs"] == 9


def test_a_run_that_fires_logs_one_line(alice, frozen, caplog, idle_counter):
    for name in ("a", "b"):
        trigger_create(
            owner=alice, name=name, kind="scheduled", schedule_type="one_off", schedule_time=NOW + timedelta(seconds=1)
        )
    frozen.shift(timedelta(seconds=1))
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        result = dispatch_due_until(deadline=NOW + timedelta(seconds=2), sleep=_never_sleep)
    assert result.fired == 2
    records = _dispatcher_records(caplog)
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "dispatched: 2 fired, 0 skipped")
    ]
