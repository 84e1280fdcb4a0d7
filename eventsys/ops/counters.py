"""Process-wide event counters (monotonic, reset only by a restart), for /metrics to read.

Each gunicorn worker or Celery process counts its own; a Prometheus scrape of one process sees that
process's totals, which is what counters are for (rates come from differences between scrapes).
"""

import threading
from collections import Counter

# Names in use (one place, so /metrics can describe them):
CACHE_ERRORS = "cache_errors"  # cache calls that failed (connection refused, time-out, …)
CACHE_FAIL_OPEN = "cache_fail_open"  # cache calls answered without the cache (failed or skipped)

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def counter_increment(name: str, amount: int = 1) -> None:
    with _lock:
        _counts[name] += amount


def counters_snapshot() -> dict[str, int]:
    """Every counter's value now (a counter never incremented is absent)."""
    with _lock:
        return dict(_counts)


def counter_value(name: str) -> int:
    with _lock:
        return _counts[name]
