"""How log records are written (LOG_FORMAT) and which of them are worth writing.

Wired in by settings.LOGGING for every process, by eventsys/celery.py for the worker's and beat's
own handlers (celery replaces the root logger's handlers with its own when it starts), and by
gunicorn.conf.py for gunicorn's own error and access logs.
"""

import ast
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

# celery's messages, matched by their format strings (the records carry the task name in `args`).
_BEAT_SENDING = "Scheduler: Sending due task %s (%s)"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time (UTC, ISO 8601), level, logger, message, and
    exc_info (the formatted traceback) and stack_info when the record carries them."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # Cached as logging.Formatter does, so that other handlers do not format it again.
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class AccessJsonFormatter(JsonFormatter):
    """JsonFormatter for gunicorn's access log (the logger gunicorn.access), which passes its request
    "atoms" as the record's args: the request's method, path, query, status, bytes sent, duration_ms
    and remote_addr become fields of their own besides the message."""

    _FIELDS = {"method": "m", "path": "U", "query": "q", "status": "s", "bytes": "B", "duration_ms": "M"}

    def format(self, record: logging.LogRecord) -> str:
        entry = json.loads(super().format(record))
        atoms = record.args if isinstance(record.args, dict) else {}
        for field, atom in self._FIELDS.items():
            value = dict.get(atoms, atom)  # dict.get: gunicorn's atoms answer "-" for a missing key
            if value not in (None, "", "-"):
                entry[field] = int(value) if field == "status" and str(value).isdigit() else value
        if dict.get(atoms, "h"):
            entry["remote_addr"] = atoms["h"]
        return json.dumps(entry, default=str)


class QuietHousekeeping(logging.Filter):
    """Drops celery's INFO lines about frequent housekeeping tasks (`tasks`) while they have nothing to do.

    Beat's "Sending due task" and the worker's "Task … received" lines pass once per task and process
    (they show the task is scheduled and consumed), then no more; "Task … succeeded" lines pass only when
    the task's return value reports work done (a non-zero count, such as `{'fired': 3, 'skipped': 0}`).
    Warnings, errors, retries and every other task are untouched. Attach it to the loggers celery.beat,
    celery.worker.strategy and celery.app.trace.
    """

    def __init__(self, tasks: Iterable[str] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)
        self._announced: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

        task = _task_name(record)
        if task not in self.tasks:
            return True
        if record.msg == LOG_SUCCESS:
            return _reports_work(record.args["return_value"])
        if record.msg in (LOG_RECEIVED, _BEAT_SENDING):
            key = (record.name, task)
            if key in self._announced:
                return False
            self._announced.add(key)
        return True


def _task_name(record: logging.LogRecord) -> str | None:
    if isinstance(record.args, dict):  # the worker's: LOG_RECEIVED and LOG_SUCCESS, formatted from a dict
        return record.args.get("name")
    if record.msg == _BEAT_SENDING and isinstance(record.args, tuple) and len(record.args) == 2:
        return record.args[1]
    return None


def _reports_work(return_value) -> bool:
    """Whether a task's logged return value (celery logs its repr) says it did something.

    None, 0 and a dict of zeros are idle; anything unreadable counts as work, so it is shown."""
    try:
        value = ast.literal_eval(str(return_value))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return True
    if isinstance(value, dict):
        return any(value.values())
    return bool(value)


class DropMessages(logging.Filter):
    """Drops records whose unformatted message starts with one of `prefixes`."""

    def __init__(self, prefixes: Iterable[str] = ()) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)
